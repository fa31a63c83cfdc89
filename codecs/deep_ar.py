"""Deep autoregressive lossless codec: a gated PixelCNN over the 8-bit pixels, range-coded.

The network is the gated PixelCNN of van den Oord et al. ("Conditional Image Generation with
PixelCNN Decoders", 2016): a vertical stack that sees every row above the pixel and a horizontal
stack that sees the pixels to its left, joined at every layer, so there is no blind spot and the
receptive field covers the whole causal past after enough layers. Each layer is a gated unit,
tanh(a) * sigmoid(b); the horizontal stack is residual. A learned bias per position joins the first
layer (MNIST's digits sit in the middle of the frame). The head is a 256-way softmax.

Training runs the network as convolutions over whole images (one teacher-forced pass). Coding runs
all images of a batch in lockstep, as the decoder must, with activations cached between steps
(Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models", 2017):

- once per row, the vertical stack computes that row of every layer from the rows above, which it
  keeps, and its link into the horizontal stack for the next row;
- once per pixel, the horizontal stack computes that one position of every layer from the kept
  positions to its left (a matrix product per layer), then the head gives the pixel's table.

So decoding costs about one pass of the network per image, not 784. The encoder runs exactly the
same calls with the same shapes, only reading the true pixels instead of decoding them, so both
sides compute bit-identical integer tables (`bench.coding.entropy.quantize_float32`). The coding
form is the trained network rearranged (each convolution as a product over its kept inputs), equal
to the training form up to float rounding; the stream's ideal code length is measured on the
coding form, the likelihood on the training form. What else decides those bits (device, torch
version, CPU instruction set, thread count, GPU model) is recorded in the stream header; a decoder
with other settings refuses in one line.

Weights: `fit` first looks for a shipped model file (`codecs/weights/`, `bench.learn.shipped`) whose
recipe matches this codec's parameters, profile, seed and training data; its SHA-256 is checked
before it is read. Otherwise, or with `bench run --retrain`, it trains (cached
as every learned codec is).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import register_codec
from bench.api.profiles import Profile, ProfileSet
from bench.coding.container import check_content, content_digest
from bench.coding.entropy import (
    PRECISION_BITS,
    Decoder,
    Encoder,
    ideal_bits,
    quantize_float32,
)
from bench.coding.raster_ar import RasterArCodec
from bench.coding.reproducible import check_float_settings, float_settings, torch_threads
from bench.data.mnist import PIXELS, SIDE
from bench.errors import BenchError
from bench.learn import shipped
from bench.learn.model_file import load_tensors, pack_model, tensors_of, unpack_model

MAGIC = b"DAR1"
#: Bump when the network, its training or its coding form change: a shipped model file records the
#: version it was trained with and is used only by the same version.
MODEL_VERSION = 1
LEVELS = 256
#: Images coded in lockstep at once; fixed, so encoder and decoder make calls of the same shapes.
LOCKSTEP_BATCH = 10_000
#: Torch CPU threads for coding (recorded in the stream; a decoder must use the same count).
CPU_THREADS = 1
#: Where shipped model files live: `<name>.bin` and its card `<name>.json`.
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True, kw_only=True)
class DeepArProfile(Profile):
    """Architecture and training budget of one profile."""

    channels: int  # per stack; gates take twice as many pre-activations
    dilations: tuple[int, ...]  # one gated layer after the first per entry, with this dilation
    first_kernel: int  # the first layer's kernel width (odd)
    kernel: int  # later layers' kernel width (odd)
    epochs: float  # passes over the training images (fractions allowed)
    batch: int  # images per training step
    learning_rate: float
    max_images: int | None = None  # train images used (None: all); smoke keeps the gates' fit short


def gate(x):
    """The gated unit: tanh of the first half of the channels times sigmoid of the second half."""
    import torch

    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def build_network(channels: int, dilations: tuple[int, ...], first_kernel: int, kernel: int):
    """The gated PixelCNN in its training form: convolutions over whole (n, 1, 28, 28) images in [0, 1]."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class GatedLayer(nn.Module):
        def __init__(self, inputs: int, k: int, first: bool, dilation: int = 1):
            super().__init__()
            self.k, self.first, self.dilation = k, first, dilation
            self.rows = k // 2 + 1  # the vertical kernel covers this row and k//2 rows above
            self.vertical = nn.Conv2d(inputs, 2 * channels, (self.rows, k), dilation=dilation)
            self.link = nn.Conv2d(2 * channels, 2 * channels, 1)  # vertical -> horizontal, one row down
            # The first layer's horizontal kernel sees the k//2 + 1 pixels left of the pixel (not the
            # pixel itself); later ones see k//2 to the left and the position itself (already causal).
            self.width = k // 2 + 1
            self.horizontal = nn.Conv2d(inputs, 2 * channels, (1, self.width), dilation=dilation)
            self.out = nn.Conv2d(channels, channels, 1)

        def forward(self, v, h, position_bias=None):
            d, p = self.dilation, self.k // 2 * self.dilation
            v_pre = self.vertical(F.pad(v, (p, p, (self.rows - 1) * d, 0)))
            down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :SIDE]  # row r sees the vertical stack of row r - 1
            if self.first:
                h_pre = self.horizontal(F.pad(h, (self.width, 0, 0, 0)))[:, :, :, :SIDE]
            else:
                h_pre = self.horizontal(F.pad(h, ((self.width - 1) * d, 0, 0, 0)))
            h_pre = h_pre + self.link(down)
            if position_bias is not None:
                h_pre = h_pre + position_bias
            h_out = self.out(gate(h_pre))
            return gate(v_pre), (h_out if self.first else h + h_out)

    class GatedPixelCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.position = nn.Parameter(torch.zeros(2 * channels, SIDE, SIDE))
            self.layers = nn.ModuleList([GatedLayer(1, first_kernel, True)]
                                        + [GatedLayer(channels, kernel, False, d) for d in dilations])
            self.hidden = nn.Conv2d(channels, channels, 1)
            self.logits = nn.Conv2d(channels, LEVELS, 1)

        def forward(self, x):
            v = h = x
            for i, layer in enumerate(self.layers):
                v, h = layer(v, h, self.position if i == 0 else None)
            return self.logits(F.relu(self.hidden(F.relu(h))))  # (n, 256, 28, 28)

    return GatedPixelCnn()


def architecture(settings: DeepArProfile) -> dict:
    return {"channels": settings.channels, "dilations": list(settings.dilations),
            "first_kernel": settings.first_kernel, "kernel": settings.kernel}


class StackCodingNet:
    """The trained network rearranged for lockstep coding, with activations cached between steps.

    Per batch of n images it keeps the image so far and, for every layer after the first, its input
    from the vertical stack (all rows so far, zero-padded as that layer's convolution pads) and from
    the horizontal stack (the current row, channel last, so a position's window is one slice).
    `start_row(r)` computes row r - 1 of every vertical stack and its link into row r;
    `tables(c)` computes position (r, c) of every horizontal stack, then the head.
    """

    def __init__(self, net):

        self.layers = []
        for layer in net.layers:
            d, inputs = layer.dilation, layer.horizontal.weight.shape[1]
            self.layers.append({
                "dilation": d, "rows": layer.rows, "width": layer.width,
                "top": (layer.rows - 1) * d, "side": layer.k // 2 * d,  # the vertical convolution's padding
                "left": layer.width if layer.first else (layer.width - 1) * d,  # the horizontal one's
                "vertical": (layer.vertical.weight.detach(), layer.vertical.bias.detach()),
                # (inputs, width * 2C): one input position times this gives its share of the `width`
                # positions that see it (tap j sees it from (width - 1 - j) * dilation to its right).
                "horizontal": layer.horizontal.weight.detach()[:, :, 0, :].permute(1, 2, 0)
                .reshape(inputs, -1).contiguous(),
                "h_bias": layer.horizontal.bias.detach(),
                "link": (layer.link.weight.detach()[:, :, 0, 0].T.contiguous(), layer.link.bias.detach()),
                "out": (layer.out.weight.detach()[:, :, 0, 0].T.contiguous(), layer.out.bias.detach()),
            })
        self.channels = net.hidden.weight.shape[0]
        # The position bias joins the first layer's horizontal pre-activation: (784, 2C), raster order.
        self.position = net.position.detach().permute(1, 2, 0).reshape(PIXELS, -1).contiguous()
        self.hidden = (net.hidden.weight.detach()[:, :, 0, 0].T.contiguous(), net.hidden.bias.detach())
        self.logits = (net.logits.weight.detach()[:, :, 0, 0].T.contiguous(), net.logits.bias.detach())
        self.device = net.position.device

    def begin(self, count: int) -> None:
        """Fresh state for a batch of `count` images (every pixel unknown, read as 0)."""
        import torch

        first = self.layers[0]
        zeros = lambda *shape: torch.zeros(shape, device=self.device)  # noqa: E731
        # vertical[i]: layer i's vertical input (the image for i = 0), padded for layer i's kernel.
        self.vertical = [zeros(count, 1, SIDE + first["top"], SIDE + 2 * first["side"])]
        self.vertical += [zeros(count, self.channels, SIDE + layer["top"], SIDE + 2 * layer["side"])
                          for layer in self.layers[1:]]
        # The first layer's horizontal input: the current row's pixels, `left` zeros in front.
        self.pixels = zeros(count, SIDE + first["left"])
        self.first_window = first["horizontal"].reshape(first["width"], -1)  # (width, 2C)
        # pending[i][:, c]: what layer i + 1's earlier positions of this row add to position c's
        # pre-activation (positions past the row's end are written, never read).
        self.pending = [zeros(count, SIDE + layer["left"], 2 * self.channels) for layer in self.layers[1:]]
        self.links = [None] * len(self.layers)
        self.row = -1

    def start_row(self, r: int) -> None:
        """Row r - 1 of every vertical stack and its link into row r (row 0: the links of zero)."""
        import torch
        from torch.nn import functional as F

        count = len(self.vertical[0])
        for i, layer in enumerate(self.layers):
            weight, bias = layer["link"]
            if r == 0:
                self.links[i] = bias.expand(count, SIDE, -1)
                continue
            # Output row r - 1 reads input rows r - 1 - top .. r - 1 (every d-th), padded rows r - 1 .. r - 1 + top.
            d = layer["dilation"]
            strip = self.vertical[i][:, :, r - 1 : r + layer["top"] : d]
            v_pre = F.conv2d(strip, *layer["vertical"], dilation=(1, d))[:, :, 0].transpose(1, 2)
            self.links[i] = torch.addmm(bias, v_pre.reshape(-1, v_pre.shape[2]), weight).view(count, SIDE, -1)
            if i + 1 < len(self.layers):
                below = self.layers[i + 1]
                a, b = v_pre.chunk(2, dim=2)
                self.vertical[i + 1][:, :, r - 1 + below["top"], below["side"] : below["side"] + SIDE] = \
                    (torch.tanh(a) * torch.sigmoid(b)).transpose(1, 2)
        self.pixels.zero_()
        for pending in self.pending:
            pending.zero_()
        self.row = r

    def tables(self, c: int) -> np.ndarray:
        """Integer-valued float32 tables (n, 256) of position (row, c)."""
        import torch

        first = self.layers[0]
        # First layer: the `width` pixels left of c.
        window = self.pixels[:, c : c + first["width"]]
        pre = torch.addmm(first["h_bias"] + self.position[self.row * SIDE + c], window, self.first_window)
        h = torch.addmm(first["out"][1], gate(pre + self.links[0][:, c]), first["out"][0])
        for i, layer in enumerate(self.layers[1:], start=1):
            width, d, pending = layer["width"], layer["dilation"], self.pending[i - 1]
            shares = torch.mm(h, layer["horizontal"]).view(len(h), width, -1)
            pre = shares[:, width - 1] + pending[:, c] + layer["h_bias"] + self.links[i][:, c]
            for j in range(width - 1):  # later positions that see this one
                pending[:, c + (width - 1 - j) * d] += shares[:, j]
            h = h + torch.addmm(layer["out"][1], gate(pre), layer["out"][0])
        hidden = torch.relu(torch.addmm(self.hidden[1], torch.relu(h), self.hidden[0]))
        logits = torch.addmm(self.logits[1], hidden, self.logits[0])
        return quantize_float32(torch.softmax(logits, dim=1).cpu().numpy())

    def write(self, c: int, pixels: np.ndarray) -> None:
        """Record the coded pixels of position (row, c) for the steps after it."""
        import torch

        values = torch.from_numpy(pixels.astype(np.float32) / 255.0).to(self.device)
        first = self.layers[0]
        self.pixels[:, c + first["left"]] = values
        self.vertical[0][:, 0, self.row + first["top"], c + first["side"]] = values


def weights_to_bytes(config: dict, net) -> bytes:
    """The stored model (`bench.learn.model_file`): the architecture and float16 tensors."""
    return pack_model({"format": "deep-ar", "config": config}, tensors_of(net), storage="float16")


def weights_from_bytes(blob: bytes, what: str = "deep-ar model"):
    """(config, network with float32 weights rounded through float16) from `weights_to_bytes`."""
    model = unpack_model(blob, what)
    refused = BenchError(f"{what} is not a deep-ar model file; delete it to retrain")
    if model.meta.get("format") != "deep-ar":
        raise refused
    try:
        config = model.meta["config"]
        net = build_network(config["channels"], tuple(config["dilations"]), config["first_kernel"], config["kernel"])
    except (KeyError, TypeError, ValueError):
        raise refused from None
    return config, load_tensors(net, model).eval()


def train_network(images: np.ndarray, settings: DeepArProfile, seed: int, device: str, log=None) -> bytes:
    """Fit the network to whole training images (teacher forcing: one pass predicts every pixel)."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    pixels = torch.from_numpy(np.array(images[: settings.max_images], dtype=np.uint8)).to(device)
    net = build_network(settings.channels, settings.dilations, settings.first_kernel, settings.kernel).to(device)
    # channels_last: measured 1.45x the training throughput of the default layout on this CPU.
    net = net.to(memory_format=torch.channels_last)
    steps = max(1, round(settings.epochs * len(pixels) / settings.batch))
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, settings.learning_rate, total_steps=steps)
    permutation, at = torch.randperm(len(pixels), generator=order), 0
    for step in range(steps):
        if at + settings.batch > len(pixels):
            permutation, at = torch.randperm(len(pixels), generator=order), 0
        target = pixels[permutation[at : at + settings.batch].to(device)].long()
        at += settings.batch
        x = (target[:, None].float() / 255.0).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(net(x), target)
        if step % 100 == 0:  # checked now and then: it waits for a GPU
            if not torch.isfinite(loss):
                raise RuntimeError("deep-ar training diverged (loss is not finite)")
            if log is not None:
                log(f"step {step}/{steps}: {loss.item() / math.log(2):.4f} bits/pixel")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
    net = net.to(memory_format=torch.contiguous_format)
    return weights_to_bytes({**architecture(settings), "model_version": MODEL_VERSION}, net)


@register_codec("deep-ar", configs=[{}])
class DeepAr(RasterArCodec):
    """Gated PixelCNN (vertical + horizontal stacks, dilated, whole causal past) of 8-bit pixels, range-coded; lossless."""

    kind = "lossless"
    uses_torch = True
    codec_name, magic = "deep-ar", MAGIC
    profiles = ProfileSet(
        # Seconds: for the tests.
        smoke=DeepArProfile(channels=8, dilations=(1, 2), first_kernel=3, kernel=3, epochs=1.0, batch=8,
                            learning_rate=1e-2, max_images=2000),
        # Minutes on a 2-core CPU: dilations 1..16 reach the whole causal past (31 rows, 31 columns).
        default=DeepArProfile(channels=32, dilations=(1, 2, 4, 8, 16), first_kernel=5, kernel=3, epochs=2.0,
                              batch=32, learning_rate=2e-3),
        # A GPU run: four times the width, two cycles of dilations, 30 epochs.
        full=DeepArProfile(channels=128, dilations=(1, 2, 4, 8, 16, 1, 2, 4, 8, 16), first_kernel=7, kernel=3,
                           epochs=30.0, batch=64, learning_rate=1e-3),
    )

    def __init__(self, backend: str = "constriction"):
        self._use_backend(backend)
        self.net = None
        self.device = "cpu"
        self.model_source = ""

    # -- training --------------------------------------------------------------------------------
    def recipe(self, train_digest: str) -> dict:
        """What a trained model depends on: a shipped model file is used only for exactly this."""
        return shipped.recipe("deep-ar", MODEL_VERSION, self.ctx, train_digest,
                              asdict(self.profiles[self.ctx.profile]))

    def fit(self, train) -> None:
        ctx = self.ctx
        settings = self.profiles[ctx.profile]
        # Training keeps the thread count the run gives this worker: this network's convolutions use a
        # second thread well (1.5x on this CPU), unlike the small models coded above.
        blob, self.model_source = shipped.shipped_or_trained(
            self, train, self.recipe(train.digest), WEIGHTS_DIR,
            lambda: train_network(train.images, settings, ctx.seed, ctx.device), params={"settings": asdict(settings)})
        self.load_model(blob, ctx.device)

    def load_model(self, blob: bytes, device: str = "cpu") -> None:
        config, net = weights_from_bytes(blob)
        if config.get("model_version") != MODEL_VERSION:
            raise BenchError(f"deep-ar model is of version {config.get('model_version')}, this code is {MODEL_VERSION}")
        self.net = net.to(device)
        self.device = device
        self._use_model_blob(blob)

    # -- coding ----------------------------------------------------------------------------------
    def compress(self, images: np.ndarray) -> bytes:
        self._require_model()
        images = self._checked_images(images)
        with torch_threads(self.device, CPU_THREADS):
            encoder = Encoder(self.backend)
            ideal = 0.0
            for batch, row, c, tables in self._lockstep(images, len(images)):
                symbols = batch[:, row, c]
                encoder.encode_tables(symbols, tables)
                ideal += ideal_bits(symbols, tables)
            return self._seal(len(images), {"batch": LOCKSTEP_BATCH}, encoder.finish(), content_digest(images),
                              ideal, float=float_settings(self.device))

    def decompress(self, data: bytes) -> np.ndarray:
        self._require_model()
        # Every pixel's table gives its likeliest value at most 1 - 255/2**16 (`quantize` keeps 1 for each other).
        header, body, digest, n = self._open(data, {"batch": LOCKSTEP_BATCH},
                                             -PIXELS * np.log2(1 - 255 / 2**PRECISION_BITS))
        out = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
        with torch_threads(self.device, CPU_THREADS):
            device = check_float_settings(header.get("float"), "deep-ar stream")
            if device != self.device.split(":")[0]:
                self.net, self.device = self.net.to(device), device
            decoder = Decoder(body, self.backend)
            for batch, row, c, tables in self._lockstep(out, n):
                batch[:, row, c] = decoder.decode_tables(tables)
        check_content(out, digest)
        return out

    def _lockstep(self, images: np.ndarray, n: int):
        """(batch, row, column, tables) for every position of every batch, in coding order.

        The caller fills `batch[:, row, column]` (the encoder: it is already there) before the next
        step, which then reads it; so encoder and decoder make exactly the same calls."""
        import torch

        with torch.inference_mode():
            coding = StackCodingNet(self.net)
            for start in range(0, n, LOCKSTEP_BATCH):
                batch = images[start : start + LOCKSTEP_BATCH]
                coding.begin(len(batch))
                for row in range(SIDE):
                    coding.start_row(row)
                    for c in range(SIDE):
                        yield batch, row, c, coding.tables(c)
                        coding.write(c, batch[:, row, c])

    def extra_columns(self) -> dict:
        return {**super().extra_columns(), "model_source": self.model_source}



def ship(profile: str, seed: int = 0, device: str = "cpu", directory: Path | None = None) -> Path:
    """Train the `profile` model on the MNIST train split and write it as a shipped model file
    (`deep-ar-<profile>.bin`) with its card (`.json`: SHA-256, recipe, training time and device)."""
    import time

    from bench.api.codec import RunContext
    from bench.data.mnist import load_split

    train = load_split("train")
    codec = DeepAr()
    codec.ctx = RunContext(profile=profile, seed=seed, device=device)
    started = time.perf_counter()
    blob = train_network(train.images, codec.profiles[profile], seed, device, log=lambda line: print(line, flush=True))
    seconds = time.perf_counter() - started
    return shipped.write_shipped((directory or WEIGHTS_DIR) / f"deep-ar-{profile}.bin", blob,
                                 codec.recipe(train.digest), seconds, device)

