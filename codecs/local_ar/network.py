"""local-ar's network: the causal window, the network and its head, the coding form of the trained
network (`WindowCodingNet`, what both sides of a stream compute) and the model file. The codec
(`bench_codecs.local_ar`) codes with it; `training` fits it."""

from __future__ import annotations

import numpy as np

from bench.coding.entropy import PRECISION_BITS, quantize_float32
from bench.data.mnist import PIXELS, SIDE
from bench.errors import BenchError
from bench.learn.model_file import load_tensors, pack_model, tensors_of, unpack_model

LEVELS = 256
HEADS = ("softmax", "logistic")
MATMULS = ("float32", "bfloat16")
POSITION_DIMS = 32
MIXTURE_COMPONENTS = 10
#: Torch CPU threads for training and coding. On this shared 2-core machine, coding 200 images with
#: the smoke model took 36 s with torch's default 2 threads and 2.4 s with 1 (OpenMP workers
#: spin-waiting for a core another process holds); one thread costs at most 2x on an idle machine.
CPU_THREADS = 1


class CausalWindow:
    """The masked window: offsets (dr, dc) of the pixels a prediction may see, in a padded frame."""

    def __init__(self, rows_above: int, half_width: int, left: int):
        self.rows_above, self.half_width = rows_above, half_width
        offsets = [(dr, dc) for dr in range(-rows_above, 0) for dc in range(-half_width, half_width + 1)]
        offsets += [(0, -d) for d in range(left, 0, -1)]
        self.size = len(offsets)
        self._flat_index = None  # (784, size) positions of each window in a flattened frame
        self._dr = np.array([o[0] for o in offsets])
        self._dc = np.array([o[1] for o in offsets])

    def pad(self, images):
        """(n, 28, 28) uint8 tensor -> zero-padded frame (n, 28+rows_above, 28+2*half_width)."""
        import torch

        frame = torch.zeros((len(images), SIDE + self.rows_above, SIDE + 2 * self.half_width),
                            dtype=torch.uint8, device=images.device)
        frame[:, self.rows_above :, self.half_width : self.half_width + SIDE] = images
        return frame

    def frame_index(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frame row and column of each raster position."""
        return positions // SIDE + self.rows_above, positions % SIDE + self.half_width

    def gather(self, frame, image_index, positions):
        """Windows of (image, position) pairs -> (m, size) float32 in [0, 1]."""
        import torch

        rows, cols = self.frame_index(positions)
        rows = torch.as_tensor(rows[:, None] + self._dr[None, :], device=frame.device)
        cols = torch.as_tensor(cols[:, None] + self._dc[None, :], device=frame.device)
        return frame[image_index[:, None], rows, cols].float() / 255.0


def build_network(window_size: int, hidden: int, layers: int, head: str):
    import torch
    from torch import nn

    class CausalNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.position = nn.Embedding(PIXELS, POSITION_DIMS)
            self.masked = nn.Linear(window_size + POSITION_DIMS, hidden)  # the masked convolution
            self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))  # 1x1 convolutions
            self.out = nn.Linear(hidden, LEVELS if head == "softmax" else 3 * MIXTURE_COMPONENTS)

        def forward(self, window, position):
            h = nn.functional.gelu(self.masked(torch.cat([window, self.position(position)], dim=1)))
            for block in self.blocks:
                h = h + nn.functional.gelu(block(h))
            return self.out(h)

    return CausalNet()


def log_probs(outputs, head: str):
    """Network outputs (m, *) -> log-probabilities of the 256 pixel values (m, 256), float32."""
    import torch
    from torch.nn import functional as F

    if head == "softmax":
        return F.log_softmax(outputs, dim=1)
    # Discretised mixture of logistics (PixelCNN++): bin v covers [v - 0.5, v + 0.5], the end bins
    # reach to -inf / +inf, so the mass of 0 and 255 (most of MNIST) is one sigmoid each.
    k = MIXTURE_COMPONENTS
    weights, means, log_scales = outputs[:, :k], outputs[:, k : 2 * k], outputs[:, 2 * k :].clamp(min=-7.0)
    means = torch.sigmoid(means) * (LEVELS - 1)
    inv_scale = torch.exp(-log_scales)[..., None] / (LEVELS - 1) * 8.0
    edges = torch.arange(LEVELS + 1, device=outputs.device, dtype=outputs.dtype) - 0.5  # bin v: edges v, v+1
    scaled = (edges - means[..., None]) * inv_scale
    log_cdf, log_survival = F.logsigmoid(scaled), F.logsigmoid(-scaled)
    upper, lower = scaled[..., 1:], scaled[..., :-1]
    # log(sigmoid(u) - sigmoid(l)) = log sigmoid(u) + log sigmoid(-l) + log(1 - exp(l - u)), stable;
    # the end bins take all the mass below 0.5 / above 254.5: log sigmoid(u) / log sigmoid(-l).
    inner = log_cdf[..., 1:] + log_survival[..., :-1] + torch.log1p(-torch.exp((lower - upper).clamp(max=-1e-6)))
    inner = torch.cat([log_cdf[..., 1:2], inner[..., 1:-1], log_survival[..., -2:-1]], dim=-1)
    return torch.logsumexp(inner + F.log_softmax(weights, dim=1)[..., None], dim=1)


def probabilities(outputs, head: str):
    """Network outputs -> probabilities of the 256 pixel values (float32; rows sum to 1 up to rounding)."""
    import torch

    return torch.softmax(outputs, dim=1) if head == "softmax" else torch.exp(log_probs(outputs, head))


class WindowCodingNet:
    """The trained network rearranged for coding, with what depends only on the position precomputed.

    The same function as `CausalNet.forward` (up to float rounding, identical on both sides): the
    position embedding's share of the masked layer is one bias row per position, and 1/255 is folded
    into the window weights, so a window enters as its raw bytes. Frames are position-major,
    (frame cells + 1, images) uint8, so one position's windows are `size` contiguous row reads and a
    decoded pixel is one contiguous row write; the extra last row is always zero and pads each window
    to whole 8-byte words.
    """

    def __init__(self, net, window: CausalWindow, head: str, matmul: str = "float32"):
        import torch

        self.head = head
        self.cells = (SIDE + window.rows_above) * (SIDE + 2 * window.half_width)
        rows, cols = window.frame_index(np.arange(PIXELS))
        width = SIDE + 2 * window.half_width
        self.pixel_rows = rows * width + cols
        wide = -(-window.size // 8) * 8
        flat = np.full((PIXELS, wide), self.cells, dtype=np.intp)  # padding: the always-zero row
        flat[:, : window.size] = (rows[:, None] + window._dr[None, :]) * width + cols[:, None] + window._dc[None, :]
        self.window_rows = flat
        with torch.inference_mode():
            masked = net.masked.weight.detach()
            device = masked.device
            self.first = torch.zeros((wide, masked.shape[0]), device=device)
            self.first[: window.size] = masked[:, : window.size].T / 255.0
            # One call of a fixed shape on either side: (784, POSITION_DIMS) x (POSITION_DIMS, hidden).
            self.bias = torch.addmm(net.masked.bias.detach(), net.position.weight.detach(),
                                    masked[:, window.size :].T.contiguous())
            self.blocks = [(block.weight.detach().T.contiguous(), block.bias.detach()) for block in net.blocks]
            self.out = (net.out.weight.detach().T.contiguous(), net.out.bias.detach())
            if matmul not in MATMULS:
                raise ValueError(f"local-ar matmul must be one of {', '.join(MATMULS)}, got {matmul!r}")
            self.matmul = matmul
            if matmul == "bfloat16":
                low = torch.bfloat16
                self.first = self.first.to(low)
                self.blocks = [(weight.to(low), bias) for weight, bias in self.blocks]
                self.out = (self.out[0].to(low), self.out[1])
            # A blank window's first layer is the position's bias alone: all 784 tables in one call.
            blank = self._head(torch.nn.functional.gelu(self.bias))
            self.blank_tables = quantize_float32(probabilities(blank, head).cpu().numpy().copy())
        self.blank_bits = PRECISION_BITS - np.log2(self.blank_tables.astype(np.float64))

    def frame(self, count: int) -> np.ndarray:
        return np.zeros((self.cells + 1, count), dtype=np.uint8)

    def split(self, frame: np.ndarray, t: int):
        """(busy, blank, busy windows) at position t: which images have a nonzero window (in image
        order), which do not, and the busy ones' windows (size, m) uint8. Only already-coded pixels
        decide this, so the decoder splits the same way as the encoder."""
        windows = frame[self.window_rows[t]]
        nonzero = np.bitwise_or.reduce(windows, axis=0)
        busy = np.flatnonzero(nonzero)
        blank = np.flatnonzero(nonzero == 0) if len(busy) < len(nonzero) else busy[:0]
        return busy, blank, windows[:, busy]

    def _head(self, h):
        from torch.nn import functional as F

        for weight, bias in self.blocks:
            h = h + F.gelu(_linear(h, weight, bias))
        return _linear(h, *self.out)

    def tables(self, windows: np.ndarray, t: int, device: str) -> np.ndarray:
        """Integer-valued float32 tables (m, 256) of the busy windows (size, m) at position t."""
        import torch
        from torch.nn import functional as F

        m = windows.shape[1]
        if self.matmul == "float32":
            x = torch.from_numpy(windows).to(device).t().float()
        else:  # rows padded to a multiple of 64: a few shapes, whose oneDNN kernels are built once
            x = torch.zeros((-(-m // 64) * 64, windows.shape[0]), dtype=self.first.dtype, device=device)
            x[:m] = torch.from_numpy(windows).to(device).t()
        h = F.gelu(_linear(x, self.first, self.bias[t]))
        probs = probabilities(self._head(h)[:m], self.head).cpu().numpy()
        return quantize_float32(probs)


def matmul_for(device: str) -> str:
    """The coding network's matmul precision here: bfloat16 on a CPU with AVX512-BF16 (1.4x the
    float32 coding speed, the same bits/pixel to 0.001%), float32 elsewhere. Recorded in the stream:
    a decoder computes what the encoder did, and refuses if its CPU lacks native bfloat16."""
    import torch

    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return "bfloat16" if device == "cpu" and native else "float32"


def _linear(h, weight, bias):
    """h @ weight + bias. A bfloat16 weight takes h rounded to bfloat16 (twice the float32 matmul
    speed on a CPU with AVX512-BF16) and gives float32 back, so activations stay float32."""
    import torch

    if weight.dtype == torch.float32:
        return torch.addmm(bias, h, weight)
    return torch.mm(h.to(weight.dtype), weight).float().add_(bias)


def weights_to_bytes(config: dict, net) -> bytes:
    """The stored model (`bench.learn.model_file`): the architecture and float16 tensors."""
    return pack_model({"format": "local-ar", **config}, tensors_of(net), storage="float16")


def weights_from_bytes(blob: bytes):
    """(config, network with float32 weights rounded through float16) from `weights_to_bytes`."""
    model = unpack_model(blob, "local-ar model")
    config = dict(model.meta)
    refused = BenchError("local-ar model file does not describe a local-ar network; delete it to retrain")
    if config.pop("format", None) != "local-ar":
        raise refused
    try:
        net = build_network(config["window_size"], config["hidden"], config["layers"], config["head"])
    except (KeyError, TypeError, ValueError):
        raise refused from None
    return config, load_tensors(net, model).eval()
