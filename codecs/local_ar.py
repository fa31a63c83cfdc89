"""local-ar: a local causal-window context model of the 8-bit pixels, range-coded with its predictions.

A local context model, not a PixelCNN (no stack of masked convolutions: what a prediction sees is
one window, sized for what a 2-core CPU can decode for 10,000 images): one masked
(causal) convolution whose window covers `rows_above` full rows of width 2*half_width+1 above the
pixel and `left` pixels to its left in the same row, then residual 1x1 layers (a per-pixel MLP) and
a head over the 256 pixel values: a 256-way softmax or a discretised mixture of logistics
(PixelCNN++). A learned embedding of the pixel's position (28x28) joins the window, so the model
knows where in the frame it is. The causal window is gathered explicitly, so decoding one pixel
costs one small MLP evaluation, not a pass of a deep network over the whole image.

Coding runs all images of a batch in lockstep, one raster position at a time, because the decoder
cannot do otherwise: a pixel's window holds pixels decoded at earlier positions. At each position
the images split into busy ones (a nonzero window) and blank ones; the split depends only on
already-coded pixels, so both sides make it alike. Busy pixels are coded first, in image order and
in chunks of ROW_CHUNK rows (one network call, one `quantize_float32`, one range-coder call per
chunk: the chunk's activations and tables stay in cache). Blank pixels follow, all with the one
table of their position (a blank window's prediction depends on the position alone), so they cost
one range-coder model instead of a table row each. The network runs as `WindowCodingNet`: the position
embedding's share of the masked layer is a precomputed bias per position, so per pixel only the
window, three hidden layers and the head are evaluated; that arithmetic is most of the time, and
what the rest of the loop was cut down around. Frames are position-major so gathering windows and
writing decoded pixels are contiguous row copies. The encoder runs exactly the same calls with the
same shapes (it only reads the true pixels instead of decoding them), so both sides compute
bit-identical tables (`bench.coding.entropy.quantize_float32`, deterministic float32).

The images are coded in groups of LOCKSTEP_BATCH, each group in lockstep and into its own
range-coded segment, so groups run on the cores side by side (`bench.coding.parallel.map_segments`,
forked processes); a group's calls are the same whatever the worker count, so the stream is too. On
a CPU with native bfloat16 (AVX512-BF16) the network's matmuls take bfloat16 inputs with float32
activations (`matmul_for`; the stream header's `matmul`), 1.4x the float32 speed at the same
bits/pixel to 0.02%.
What else decides those bits (device, torch version, CPU instruction set, thread count, GPU model)
is recorded in the stream header; a decoder with different settings refuses, in one line. The
header's `loop` names this coding loop (version and chunk size); a stream of the earlier loop
(`loop` absent) is refused as another configuration.

Stream: a sealed container (`bench.coding.container.seal`): header (shape, configuration, model id, float
settings), the range-coded body, and a digest of the decoded images, checked after decoding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bench import register_codec
from bench.api.profiles import Profile, ProfileSet
from bench.coding.container import check_content, content_digest, pack_chunks, unpack_chunks
from bench.coding.entropy import (
    PRECISION_BITS,
    Decoder,
    Encoder,
    ideal_bits,
    quantize_float32,
)
from bench.coding.parallel import map_segments
from bench.coding.raster_ar import RasterArCodec
from bench.coding.reproducible import (
    IncompatibleDecoderError,
    check_float_settings,
    float_settings,
    torch_threads,
)
from bench.data.mnist import PIXELS, SIDE
from bench.errors import BenchError, CorruptStreamError
from bench.learn.model_cache import load_or_train
from bench.learn.model_file import load_tensors, pack_model, tensors_of, unpack_model

#: Model blobs and streams (the stream's coding loop is versioned by the header's `loop`, below). PXC
#: is from the codec's name before it was renamed local-ar (`bench.api.registry.RENAMED`): same format.
MAGIC = b"PXC1"
#: Version of the coding loop a stream was made with (2: busy pixels first, then blank ones with one
#: table per position; 3: and each lockstep group of images its own range-coded segment, so groups
#: code on threads side by side); a decoder refuses a stream of another loop, in one line.
LOOP = 3
#: Busy pixels of one position go through the network and the coder in chunks of this many rows, so
#: a chunk's activations and tables stay in the CPU's L2 cache (6,000 rows of 256 float32 do not).
#: Part of the format: it fixes the shapes of the network's calls.
ROW_CHUNK = 1024
LEVELS = 256
HEADS = ("softmax", "logistic")
MATMULS = ("float32", "bfloat16")
#: Images coded in lockstep at once, each group into its own segment; a fixed number, so encoder and
#: decoder use the same shapes whatever the thread count. 1,000 keeps a position's busy windows in
#: one ROW_CHUNK call, and codes as fast per image as 10,000 did (measured: 2 x 1,000 in 2.99 s,
#: 1 x 2,000 in 3.0 s), while 70,000 images make 70 groups to share out over the cores.
LOCKSTEP_BATCH = 1_000
POSITION_DIMS = 32
MIXTURE_COMPONENTS = 10
#: Torch CPU threads for training and coding. On this shared 2-core machine, coding 200 images with
#: the smoke model took 36 s with torch's default 2 threads and 2.4 s with 1 (OpenMP workers
#: spin-waiting for a core another process holds); one thread costs at most 2x on an idle machine.
CPU_THREADS = 1


@dataclass(frozen=True, kw_only=True)
class LocalArProfile(Profile):
    """Architecture and training budget of one profile."""

    rows_above: int
    half_width: int
    left: int
    hidden: int
    layers: int  # residual hidden layers after the masked layer
    steps: int
    batch: int  # pixels per training step
    learning_rate: float
    busy_share: float | None = None  # share of each batch with a nonzero window (None: as drawn)



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
    try:
        if config.pop("format") != "local-ar":
            raise KeyError("format")
        net = build_network(config["window_size"], config["hidden"], config["layers"], config["head"])
    except (KeyError, TypeError, ValueError):
        raise BenchError("local-ar model file does not describe a local-ar network; delete it to retrain") from None
    return config, load_tensors(net, model).eval()


def _training_batch(frame, window: CausalWindow, settings: LocalArProfile, sampler):
    """Random (image, position) pixels and their windows; `busy_share` of them with a nonzero window.

    A pixel whose window is all zero is easy (its distribution depends on the position alone) and
    40% of MNIST's pixels are such; drawing more of the others spends the training budget where
    the bits are. Maximum likelihood still fits each kind (the network tells them apart).
    """
    import torch

    draw = settings.batch if settings.busy_share is None else 2 * settings.batch
    image_index = torch.randint(0, len(frame), (draw,), generator=sampler).to(frame.device)
    positions = torch.randint(0, PIXELS, (draw,), generator=sampler).numpy()
    windows = window.gather(frame, image_index, positions)
    if settings.busy_share is None:
        return image_index, positions, windows
    busy = windows.any(dim=1)
    order = torch.cat([torch.nonzero(busy).squeeze(1), torch.nonzero(~busy).squeeze(1)])
    n_busy = min(int(busy.sum()), round(settings.batch * settings.busy_share))
    n_blank = min(draw - int(busy.sum()), settings.batch - n_busy)
    keep = torch.cat([order[:n_busy], order[int(busy.sum()) : int(busy.sum()) + n_blank]])
    keep = torch.cat([keep, order[n_busy : n_busy + settings.batch - len(keep)]])  # if blanks ran short
    return image_index[keep], positions[keep.cpu().numpy()], windows[keep]


def train_network(images: np.ndarray, settings: LocalArProfile, head: str, seed: int, device: str) -> bytes:
    """Fit the network to random (image, position) pixels of the training images; its bytes."""
    import torch
    from torch.nn import functional as F

    with torch_threads(device, CPU_THREADS):
        torch.manual_seed(seed)
        sampler = torch.Generator(device="cpu").manual_seed(seed)
        window = CausalWindow(settings.rows_above, settings.half_width, settings.left)
        frame = window.pad(torch.from_numpy(np.array(images, dtype=np.uint8)).to(device))
        net = build_network(window.size, settings.hidden, settings.layers, head).to(device)
        optimiser = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, settings.learning_rate, total_steps=settings.steps)
        for step in range(settings.steps):
            image_index, positions, windows = _training_batch(frame, window, settings, sampler)
            rows, cols = window.frame_index(positions)
            target = frame[image_index, torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)]
            outputs = net(windows, torch.as_tensor(positions, device=device))
            loss = F.nll_loss(log_probs(outputs, head), target.long())
            if step % 100 == 0 and not torch.isfinite(loss):  # checked now and then: it waits for a GPU
                raise RuntimeError("local-ar training diverged (loss is not finite)")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    config = {"window": [settings.rows_above, settings.half_width, settings.left], "window_size": window.size,
              "hidden": settings.hidden, "layers": settings.layers, "head": head}
    return weights_to_bytes(config, net)


@register_codec("local-ar", configs=[{"head": "softmax"}])
class LocalAr(RasterArCodec):
    """Local causal-window context model of 8-bit pixels (window + position -> MLP), range-coded; lossless."""

    kind = "lossless"
    uses_torch = True
    codec_name, magic = "local-ar", MAGIC
    profiles = ProfileSet(
        # Seconds: for the tests.
        smoke=LocalArProfile(rows_above=2, half_width=2, left=2, hidden=32, layers=1, steps=100, batch=128,
                              learning_rate=3e-3),
        # A few minutes on one CPU core. Chosen by measurement (ideal bits/pixel on 1,000 test images,
        # 6,000 steps of 1,024 pixels: 1.126): 12,000 steps of 512 (1.108), 90% busy pixels (1.118),
        # both (1.099), 24,000 steps of 256 with 90% busy (1.088); a 7-row window did not help (1.101).
        default=LocalArProfile(rows_above=5, half_width=5, left=5, hidden=128, layers=2, steps=24_000,
                                batch=256, learning_rate=2e-3, busy_share=0.9),
        # A long GPU run: wider window, bigger network, about 17x the default's samples.
        full=LocalArProfile(rows_above=7, half_width=7, left=7, hidden=384, layers=3, steps=200_000,
                             batch=512, learning_rate=1e-3, busy_share=0.9),
    )

    def __init__(self, head: str = "softmax", backend: str = "constriction"):
        if head not in HEADS:
            raise ValueError(f"local-ar head must be one of {', '.join(HEADS)}, got {head!r}")
        self._use_backend(backend)
        self.head = head
        self.net = None
        self._coding: WindowCodingNet | None = None
        self.window: CausalWindow | None = None
        self.device = "cpu"

    # -- training --------------------------------------------------------------------------------
    def fit(self, train) -> None:
        ctx = self.ctx
        settings = self.profiles[ctx.profile]
        blob = load_or_train(
            self.identity, train.digest, ctx,
            lambda: train_network(train.images, settings, self.head, ctx.seed, ctx.device),
            params={"head": self.head, "settings": asdict(settings)},  # the entropy backend shares the model
        )
        self.load_model(blob, ctx.device)

    def load_model(self, blob: bytes, device: str = "cpu") -> None:
        config, net = weights_from_bytes(blob)
        if config["head"] != self.head:
            raise BenchError(f"local-ar model has head {config['head']!r}, codec has {self.head!r}")
        self.window = CausalWindow(*config["window"])
        self._window_config = config["window"]
        self.net = net.to(device)
        self.device = device
        self._coding = None
        self._use_model_blob(blob)

    # -- coding ----------------------------------------------------------------------------------
    def _coding_net(self, matmul: str) -> WindowCodingNet:
        if self._coding is None or self._coding.matmul != matmul:
            self._coding = WindowCodingNet(self.net, self.window, self.head, matmul)
        return self._coding

    def compress(self, images: np.ndarray) -> bytes:
        self._require_model()
        with torch_threads(self.device, CPU_THREADS):
            return self._compress(images)

    def decompress(self, data: bytes) -> np.ndarray:
        self._require_model()
        with torch_threads(self.device, CPU_THREADS):
            return self._decompress(data)

    def _compress(self, images: np.ndarray) -> bytes:
        images = self._checked_images(images)
        n = len(images)
        matmul = matmul_for(self.device)
        coding = self._coding_net(matmul)
        groups = [images[start : start + LOCKSTEP_BATCH] for start in range(0, n, LOCKSTEP_BATCH)]
        coded = map_segments(lambda group: self._encode_group(coding, group), groups, fork=self.device == "cpu")
        body = pack_chunks(b"", [segment for segment, _ in coded])
        return self._seal(n, self._config, body, content_digest(images), sum(bits for _, bits in coded),
                          window=self._window_config, matmul=matmul, float=float_settings(self.device))

    @property
    def _config(self) -> dict:
        """What a stream's decoder must share with its encoder besides the model."""
        return {"head": self.head, "batch": LOCKSTEP_BATCH, "loop": [LOOP, ROW_CHUNK]}

    def _encode_group(self, coding: WindowCodingNet, group: np.ndarray) -> tuple[bytes, float]:
        """One lockstep group -> (its range-coded segment, its ideal code length in bits)."""
        import torch

        encoder = Encoder(self.backend)
        ideal = 0.0
        with torch.inference_mode():  # thread-local: each worker thread enters its own
            batch = group.reshape(-1, PIXELS)
            frame = coding.frame(len(batch))
            frame[coding.pixel_rows] = batch.T  # the encoder knows every pixel up front
            for t in range(PIXELS):
                busy, blank, windows = coding.split(frame, t)
                pixels = frame[coding.pixel_rows[t]]
                for lo in range(0, len(busy), ROW_CHUNK):
                    symbols = pixels[busy[lo : lo + ROW_CHUNK]]
                    tables = coding.tables(windows[:, lo : lo + ROW_CHUNK], t, self.device)
                    encoder.encode_tables(symbols, tables)
                    ideal += ideal_bits(symbols, tables)
                if len(blank):
                    symbols = pixels[blank]
                    encoder.encode_fixed(symbols, coding.blank_tables[t])
                    ideal += float(coding.blank_bits[t, symbols].sum())
        return encoder.finish(), ideal

    def _decompress(self, data: bytes) -> np.ndarray:
        # Every pixel's table gives its likeliest value at most 1 - 255/2**16 (`quantize` keeps 1 for each other).
        header, body, digest, n = self._open(data, self._config, -PIXELS * np.log2(1 - 255 / 2**PRECISION_BITS))
        device = check_float_settings(header.get("float"), "local-ar stream")
        if device != self.device.split(":")[0]:
            self.net, self.device, self._coding = self.net.to(device), device, None
        matmul = header.get("matmul")
        if matmul not in MATMULS:
            raise CorruptStreamError(f"local-ar stream names no known matmul precision ({matmul!r}; corrupt stream)")
        if matmul != matmul_for(device):
            raise IncompatibleDecoderError(f"local-ar stream was coded with {matmul} matmuls; this machine codes "
                                           f"with {matmul_for(device)} (no native bfloat16 here, or another device)")
        _, segments = unpack_chunks(body, 0)
        counts = [min(LOCKSTEP_BATCH, n - start) for start in range(0, n, LOCKSTEP_BATCH)]
        if len(segments) != len(counts):
            raise CorruptStreamError(f"local-ar stream holds {len(segments)} group segment(s); "
                                     f"{n} images need {len(counts)} (corrupt stream)")
        coding = self._coding_net(matmul)
        groups = map_segments(lambda job: self._decode_group(coding, *job), list(zip(segments, counts, strict=True)),
                              fork=self.device == "cpu")
        out = np.concatenate(groups) if groups else np.empty((0, SIDE, SIDE), dtype=np.uint8)
        check_content(out, digest)
        return out

    def _decode_group(self, coding: WindowCodingNet, segment: bytes, count: int) -> np.ndarray:
        import torch

        decoder = Decoder(segment, self.backend)
        with torch.inference_mode():
            frame = coding.frame(count)
            for t in range(PIXELS):
                busy, blank, windows = coding.split(frame, t)
                row = coding.pixel_rows[t]
                for lo in range(0, len(busy), ROW_CHUNK):
                    tables = coding.tables(windows[:, lo : lo + ROW_CHUNK], t, self.device)
                    frame[row, busy[lo : lo + ROW_CHUNK]] = decoder.decode_tables(tables)
                if len(blank):
                    frame[row, blank] = decoder.decode_fixed(coding.blank_tables[t], count=len(blank))
        return frame[coding.pixel_rows].T.reshape(count, SIDE, SIDE)
