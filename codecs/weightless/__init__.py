"""Weightless neural compression (NNCP-style): encoder and decoder learn as mirrors of each other, no weights stored.

Images are coded in chunks. Chunk 0 is coded with a fixed prior; chunk i with the model as trained
on chunks 0..i-1. After each chunk both sides make the same update on it, so their models stay
bit-identical and the stream carries only a small header (model config, seed, chunk sizes, float
settings), per-chunk checksums and the range-coded pixels. `fit` trains nothing and `model_bytes`
is 0: the model is rebuilt from its seed and re-learned from the decoded pixels.

The encoder overlaps the two halves of that loop (it learns model i+1 on a second thread while it
codes chunk i with a frozen copy of model i); the decoder runs them one after the other. Each
computation is the same on both sides, single-threaded, so the tables and weights match bit for bit.

Models (`model=`): `causal`, an MLP on each pixel's already-decoded neighbourhood (the default:
it codes better per second, see docs/codecs.md), and `lstm`, the write-up's one-layer LSTM run along the
raster scan. The run's profile sets model size and chunk sizes and is written into the header.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import ImageCodec, register_codec
from bench.api.codec import PROFILES
from bench.api.profiles import Profile, ProfileSet
from bench.coding import entropy
from bench.coding.container import check_content, content_digest, int_in
from bench.coding.reproducible import IncompatibleDecoderError, check_float_settings, float_settings
from bench.data.mnist import SIDE
from bench.errors import CorruptStreamError

from . import stream

#: The models (`.models.MODELS` builds them) and the image side. Torch is imported only when a
#: stream is coded (`.mirror`, `.models`), so listing codecs stays light.
MODELS = ("causal", "lstm")

__all__ = ["WeightlessCodec", "encode", "decode", "config_for", "IncompatibleDecoderError"]


@dataclass(frozen=True, kw_only=True)
class WeightlessProfile(Profile):
    """Model size, neighbourhood, chunk schedule and learning settings; written into the stream header."""

    neighbourhood: tuple[int, int, int]  # rows above, columns either side in those rows, pixels to the left
    hidden: int
    layers: int
    first_chunk: int
    largest_chunk: int
    min_update: int
    epochs: int
    batch: int
    lr: float


#: Limits a header's config must respect: a damaged or forged header must not start a huge job.
_LIMITS = dict(hidden=(1, 4096), layers=(1, 8), first_chunk=(1, 1 << 20), largest_chunk=(1, 1 << 20),
               min_update=(0, 1 << 20), epochs=(1, 64), batch=(1, 1 << 16))


def config_for(model: str, profile: str, seed: int = 0) -> dict:
    fields = WeightlessCodec.profiles[profile].fields()
    # A list, as the header's JSON gives it back to the decoder.
    config = dict(fields, neighbourhood=list(fields["neighbourhood"]), model=model, profile=profile, seed=seed)
    if model == "lstm":
        config["layers"] = 1  # the write-up's LSTM has one layer
    return config


def _validated(config: dict) -> dict:
    try:
        if config["model"] not in MODELS or config["profile"] not in PROFILES:
            raise ValueError
        for key, (low, high) in _LIMITS.items():
            if not int_in(config[key], low, high):
                raise ValueError
        hood = config["neighbourhood"]
        if (not isinstance(hood, list) or len(hood) != 3 or not all(int_in(v, 0, 8) for v in hood)
                or hood[:2] == [0, 0] and not hood[2]):
            raise ValueError
        lr = config["lr"]
        if type(lr) not in (int, float) or not 0 < lr < 10 or not int_in(config["seed"], 0, 2**63 - 1):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise CorruptStreamError("header holds an invalid model config (corrupt stream)") from None
    return config


def encode(images: np.ndarray, config: dict, device: str = "cpu", stats: dict | None = None, progress=None) -> bytes:
    """(n, 28, 28) uint8 -> weightless stream. `stats`, if given, receives ideal bits and update time."""
    from .mirror import (
        EncodeSide,
        MirroredLearner,
        chunk_sizes,
        code_prior_chunk,
        learn_ahead,
        pinned_float_settings,
        pixels_crc,
    )

    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
        raise ValueError(f"weightless codes (n, 28, 28) uint8 images, got {images.shape} {images.dtype}")
    sizes = chunk_sizes(len(images), config["first_chunk"], config["largest_chunk"])
    with pinned_float_settings(device, threads=1, deterministic=True):
        header = {"n_images": len(images), "n_chunks": len(sizes), "config": config,
                  "float": float_settings(device), "deterministic_algorithms": True, **entropy.coder_field()}
        lock = MirroredLearner(config, len(images), device)
        chunks, pixel_crcs, ideal = [], [], 0.0
        start = 0
        # The encoder knows every pixel, so the learner runs ahead on its own thread (model i+1 is
        # learned while chunk i is coded); each chunk is coded by a frozen copy of the model the
        # decoder will have at that point, with the decoder's calls.
        with learn_ahead(lock, images, sizes) as coders:
            for i, count in enumerate(sizes):
                side = EncodeSide()
                chunk = images[start : start + count]
                if i == 0:
                    code_prior_chunk(side, chunk, count)
                else:
                    next(coders).code(side, chunk, count)
                chunks.append(side.finish())
                ideal += side.ideal_bits
                pixel_crcs.append(pixels_crc(chunk))
                start += count
                if progress:
                    progress(start, len(images))
            weight_crcs = coders.weight_crcs()
    data = stream.write(header, content_digest(images), list(zip(pixel_crcs, weight_crcs, strict=True)), chunks)
    if stats is not None:
        stats.update(ideal_bits=ideal, update_s=lock.update_seconds, n_chunks=len(sizes), stream_bytes=len(data))
    return data


def decode(data: bytes, progress=None) -> np.ndarray:
    """Weightless stream -> images, from the stream alone. Raises CorruptStreamError or
    IncompatibleDecoderError (this machine cannot repeat the encoder's float arithmetic)."""
    from .mirror import (
        DecodeSide,
        MirroredLearner,
        chunk_sizes,
        pinned_float_settings,
        pixels_crc,
    )

    header, digest, checks, chunks = stream.read(data)
    entropy.check_coder(header, "weightless")
    try:
        n_images, config, recorded = header["n_images"], _validated(header["config"]), header["float"]
        deterministic, threads = header["deterministic_algorithms"], recorded.get("threads", 1)
        if not int_in(n_images, 0, 2**63 - 1) or not isinstance(deterministic, bool):
            raise TypeError
        if not int_in(threads, 1, 1024):
            raise TypeError
        # Bounded before `chunk_sizes`, whose list grows with the count: no chunk is larger than
        # `largest_chunk`, and the stream holds its chunks.
        if n_images > len(chunks) * config["largest_chunk"]:
            raise CorruptStreamError("header claims more images than the stream's chunks could hold (corrupt stream)")
        sizes = chunk_sizes(n_images, config["first_chunk"], config["largest_chunk"])
    except (KeyError, TypeError, AttributeError):
        raise CorruptStreamError("header is missing fields or holds invalid ones (corrupt stream)") from None
    if len(sizes) != len(chunks):
        raise CorruptStreamError("header's chunk sizes do not match the stream (corrupt stream)")
    out = np.empty((n_images, SIDE, SIDE), dtype=np.uint8)
    # The encoder's thread count and algorithms are set first, then every float setting is compared.
    with pinned_float_settings("cuda" if recorded.get("device") == "cuda" else "cpu", threads, deterministic):
        device = check_float_settings(recorded, "weightless stream")
        lock = MirroredLearner(config, n_images, device)
        start = 0
        for i, (count, chunk, (pixel_crc, weight_crc)) in enumerate(zip(sizes, chunks, checks, strict=True)):
            code = lock.code_prior_chunk if i == 0 else lock.code_chunk
            out[start : start + count] = code(DecodeSide(chunk), None, count)
            if pixels_crc(out[start : start + count]) != pixel_crc:
                raise CorruptStreamError(
                    f"chunk {i} decodes to pixels the encoder did not code: the stream is damaged "
                    "(or this machine's float arithmetic differs from the encoder's)"
                )
            if i + 1 < len(sizes):
                lock.update(start)
            if lock.weights_crc() != weight_crc:
                raise IncompatibleDecoderError(
                    f"model weights after chunk {i} differ from the encoder's although the pixels match: "
                    "this machine's float arithmetic is not bit-identical to the encoder's"
                )
            start += count
            if progress:
                progress(start, n_images)
    check_content(out, digest)
    return out


@register_codec("weightless")
class WeightlessCodec(ImageCodec):
    """Weightless NN (NNCP-style): models learned by encoder and decoder as mirrors of each other, no weights stored."""

    kind = "lossless"
    uses_torch = True
    model_bytes = 0
    profiles = ProfileSet(
        trained=False,  # it learns while it codes
        smoke=WeightlessProfile(neighbourhood=(1, 1, 1), hidden=16, layers=1, first_chunk=16, largest_chunk=64,
                                min_update=32, epochs=1, batch=8, lr=1e-2),
        default=WeightlessProfile(neighbourhood=(2, 2, 2), hidden=64, layers=2, first_chunk=16,
                                  largest_chunk=1024, min_update=1024, epochs=1, batch=8, lr=5e-3),
        # Twice the width and two passes per chunk: each lever alone helped the late chunks of the first
        # 8,000 images about equally; together, 1% fewer bytes on the first 10,224 images for 3x the CPU.
        full=WeightlessProfile(neighbourhood=(2, 2, 2), hidden=128, layers=2, first_chunk=16, largest_chunk=1024,
                               min_update=1024, epochs=2, batch=8, lr=5e-3),
    )

    def __init__(self, model: str = "causal"):
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        self.model = model
        self._stats: dict = {}

    def compress(self, images: np.ndarray) -> bytes:
        stats: dict = {}
        data = encode(images, config_for(self.model, self.ctx.profile, self.ctx.seed), self.ctx.device, stats)
        self._stats = dict(stats, n_images=len(images))
        return data

    def decompress(self, data: bytes) -> np.ndarray:
        return decode(data)

    def extra_columns(self) -> dict:
        if not self._stats:
            return {}
        pixels = self._stats["n_images"] * SIDE * SIDE
        columns = entropy.code_length_columns(self._stats["ideal_bits"], self._stats["stream_bytes"], pixels)
        return {**columns, "update_s": self._stats["update_s"], "n_chunks": self._stats["n_chunks"]}


# The context-mixing learner registers beside it (`weightless-cm`).
from . import context_mixing  # noqa: E402, F401
