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

The package: `network.py` (the window, the network, its coding form and its model file),
`training.py` (the profile and the training), and here the codec, its stream and its lockstep loop.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from bench import register_codec
from bench.api.profiles import ProfileSet
from bench.coding.container import check_content, content_digest, pack_chunks, unpack_chunks
from bench.coding.entropy import PRECISION_BITS, Decoder, Encoder, ideal_bits
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

from .network import (
    CPU_THREADS,
    HEADS,
    MATMULS,
    CausalWindow,
    WindowCodingNet,
    build_network,
    matmul_for,
    probabilities,
    weights_from_bytes,
    weights_to_bytes,
)
from .training import LocalArProfile, train_network

__all__ = ["CPU_THREADS", "HEADS", "MAGIC", "CausalWindow", "LocalAr", "LocalArProfile", "build_network",
           "probabilities", "train_network", "weights_from_bytes", "weights_to_bytes"]

#: The stream's magic (its coding loop is versioned by the header's `loop`, below). PXC
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
#: Images coded in lockstep at once, each group into its own segment; a fixed number, so encoder and
#: decoder use the same shapes whatever the thread count. 1,000 keeps a position's busy windows in
#: one ROW_CHUNK call, and codes as fast per image as 10,000 did (measured: 2 x 1,000 in 2.99 s,
#: 1 x 2,000 in 3.0 s), while 70,000 images make 70 groups to share out over the cores.
LOCKSTEP_BATCH = 1_000


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
