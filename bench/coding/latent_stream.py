"""Integer latents (n, d) to bytes and back, with a per-dimension histogram model fitted on train.

Lossy codecs that quantise a vector per image (PCA coefficients, autoencoder latents) share this:
- `FactorizedHistogram.fit(train_symbols)`: one discrete distribution per dimension, counted on the
  quantised train latents (plus a small pseudo-count so that unseen values stay codable), turned into
  integer tables by `bench.coding.entropy.quantize` once, at fit time. The integer tables ARE the model: they
  are what is serialised and what both sides code with, so decoding is bit-exact by construction.
- `compress_latents` / `decompress_latents`: one range-coded body in the project's sealed stream
  (`bench.coding.container.seal`: image count, dimensions and model fingerprint in a CRC-checked
  header, a content digest of the latents), so a truncated, extended or altered stream, or a stream
  coded with a different model, is reported as CorruptStreamError instead of decoding to garbage;
  the image count is checked against the most the body can hold before anything is allocated.

Values outside a dimension's fitted range are clipped to it by `clip` (the encoder's choice, part of
the lossy quantisation); the model keeps `margin` spare values on each side of the train range.

`bench.learn.uniform_quantiser.UniformLatentCode` puts these together for a learned codec's real-valued
latents: one quantiser step for every dimension, tables counted on the train latents and cached.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from bench.coding import entropy
from bench.coding.container import (
    content_digest,
    header_count,
    max_coded_items,
    read_varint,
    seal,
    unseal,
    write_varint,
)
from bench.errors import CorruptStreamError

_DECODE_ROWS = 1 << 14


def _zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


class FactorizedHistogram:
    """Independent discrete distributions, one per latent dimension, over integer values [low, high]."""

    def __init__(self, low: np.ndarray, tables: list[np.ndarray]):
        self.low = np.asarray(low, dtype=np.int64)
        self.tables = [np.asarray(t, dtype=np.int64) for t in tables]
        self.high = self.low + np.array([len(t) - 1 for t in self.tables], dtype=np.int64)

    @property
    def dims(self) -> int:
        return len(self.tables)

    @classmethod
    def fit(cls, symbols: np.ndarray, margin: int = 2, pseudo_count: float = 0.5,
            bounds: tuple[int, int] | None = None) -> FactorizedHistogram:
        """Count each dimension's values; the alphabet is the train range plus `margin`, or `bounds`."""
        symbols = np.asarray(symbols, dtype=np.int64)
        if symbols.ndim != 2 or not len(symbols):
            raise ValueError(f"need integer latents of shape (n, d), got {symbols.shape}")
        if bounds is not None:
            low = np.full(symbols.shape[1], bounds[0], dtype=np.int64)
            high = np.full(symbols.shape[1], bounds[1], dtype=np.int64)
            symbols = np.clip(symbols, low, high)
        else:
            low = symbols.min(axis=0) - margin
            high = symbols.max(axis=0) + margin
        tables = []
        for j in range(symbols.shape[1]):
            counts = np.bincount(symbols[:, j] - low[j], minlength=high[j] - low[j] + 1).astype(np.float64)
            tables.append(entropy.quantize(counts + pseudo_count)[0])
        return cls(low, tables)

    def clip(self, symbols: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(symbols, dtype=np.int64), self.low, self.high)

    def count_outside(self, symbols: np.ndarray) -> int:
        """How many values `clip` would change (a lossy codec reports it: clipping adds distortion)."""
        symbols = np.asarray(symbols, dtype=np.int64)
        return int(np.count_nonzero((symbols < self.low) | (symbols > self.high)))

    def ideal_bits(self, symbols: np.ndarray) -> float:
        """The code length (bits) a perfect coder would spend on these (already clipped) latents."""
        symbols = np.asarray(symbols, dtype=np.int64)
        total = 1 << entropy.PRECISION_BITS
        return float(sum(-np.log2(t[symbols[:, j] - self.low[j]] / total).sum()
                         for j, t in enumerate(self.tables)))

    # --- serialisation: what a decoder must receive besides the payload --------------------------
    def to_bytes(self) -> bytes:
        parts = [write_varint(self.dims)]
        for low, table in zip(self.low.tolist(), self.tables, strict=True):
            parts.append(write_varint(_zigzag(low)) + write_varint(len(table)))
            parts.extend(write_varint(int(f)) for f in table)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> FactorizedHistogram:
        dims, pos = read_varint(data, 0)
        lows, tables = [], []
        for _ in range(dims):
            low, pos = read_varint(data, pos)
            size, pos = read_varint(data, pos)
            table = []
            for _ in range(size):
                f, pos = read_varint(data, pos)
                table.append(f)
            lows.append(_unzigzag(low))
            tables.append(np.array(table, dtype=np.int64))
        if pos != len(data):
            raise CorruptStreamError("histogram model has trailing bytes")
        return cls(np.array(lows, dtype=np.int64), tables)

    @functools.cached_property
    def fingerprint(self) -> bytes:
        # Cached: serialising 784 tables costs milliseconds, and every decode compares it.
        return hashlib.sha256(self.to_bytes()).digest()[:4]

    # --- coding --------------------------------------------------------------------------------
    def encode_body(self, symbols: np.ndarray) -> bytes:
        """Range-code (n, d) in-range latents dimension by dimension (one table per dimension)."""
        symbols = np.asarray(symbols, dtype=np.int64)
        if symbols.ndim != 2 or symbols.shape[1] != self.dims:
            raise ValueError(f"latents of shape {symbols.shape} do not match a {self.dims}-dim model")
        if np.any(symbols < self.low) or np.any(symbols > self.high):
            raise ValueError("latents outside the model's range: clip them first")
        encoder = entropy.Encoder()
        n = len(symbols)
        for j, table in enumerate(self.tables):
            encoder.encode(symbols[:, j] - self.low[j], np.broadcast_to(table, (n, len(table))))
        return encoder.finish()

    def decode_body(self, data: bytes, n: int) -> np.ndarray:
        """`n` must be checked against `max_images(len(data))` first: it sizes the output."""
        decoder = entropy.Decoder(data)
        out = np.empty((n, self.dims), dtype=np.int64)
        for j, table in enumerate(self.tables):
            # The decoder wants a materialised (rows, alphabet) table: a bounded number of rows at a
            # time keeps that buffer small; the symbols come out in the encoder's order either way.
            for start in range(0, n, _DECODE_ROWS):
                rows = min(_DECODE_ROWS, n - start)
                out[start:start + rows, j] = decoder.decode(np.broadcast_to(table, (rows, len(table)))) + self.low[j]
        return out

    def min_bits_per_image(self) -> float:
        """The fewest bits any one image can cost: each dimension's most likely value, every time."""
        total = 1 << entropy.PRECISION_BITS
        return float(sum(-np.log2(int(t.max()) / total) for t in self.tables))

    def max_images(self, body_bytes: int) -> int:
        """The most images a range-coded body of `body_bytes` can hold with these tables (a model whose
        every dimension has a single value costs 0 bits an image and bounds nothing: refused)."""
        return max_coded_items(body_bytes, self.min_bits_per_image())


def _symbols_digest(symbols: np.ndarray, model: FactorizedHistogram) -> bytes:
    """The content digest of in-range latents, taken in the narrowest integer type the model's range
    fits: both sides know the model, and hashing 16-bit values costs a quarter of 64-bit ones (0.1 s
    for 10,000 images of 784 int64 values here)."""
    low, high = int(model.low.min(initial=0)), int(model.high.max(initial=0))
    dtype = next(t for t in (np.int8, np.int16, np.int32, np.int64)
                 if np.iinfo(t).min <= low and high <= np.iinfo(t).max)
    return content_digest(symbols.astype(dtype))


def compress_latents(symbols: np.ndarray, model: FactorizedHistogram, magic: bytes) -> bytes:
    """Seal the range-coded latents; `symbols` must already be clipped with `model.clip`."""
    symbols = np.asarray(symbols, dtype=np.int64)
    header = {"n": len(symbols), "d": model.dims, "model": model.fingerprint.hex(), **entropy.coder_field()}
    return seal(magic, header, model.encode_body(symbols), _symbols_digest(symbols, model))


def decompress_latents(data: bytes, model: FactorizedHistogram, magic: bytes, name: str) -> np.ndarray:
    """Inverse of `compress_latents`; any damage to the stream raises CorruptStreamError."""
    header, body, digest = unseal(data, magic, name)
    if set(header) != {"n", "d", "model", entropy.CODER_FIELD}:
        raise CorruptStreamError(f"{name}: stream header has fields {sorted(header)} (not a latent stream)")
    entropy.check_coder(header, name)
    if header["model"] != model.fingerprint.hex() or header["d"] != model.dims:
        raise CorruptStreamError(f"{name}: stream was coded with a different trained model")
    n = header_count(header, "n", model.max_images(len(body)), name)
    symbols = model.decode_body(body, n)
    if _symbols_digest(symbols, model) != digest:
        raise CorruptStreamError(f"{name}: decoded content does not match the stream's checksum (corrupt stream)")
    return symbols
