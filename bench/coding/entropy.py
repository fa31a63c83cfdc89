"""Entropy coding: symbols with one probability table per symbol, to bytes and back.

An arithmetic decoder must see bit-identical tables to the encoder's. Probabilities become integer
frequency tables in `quantize` (int64, float64 arithmetic that IEEE 754 fixes) or `quantize_float32`
(the same rule in float32, for hot loops), before either backend sees them; or, in the hot loops'
`encode_tables`, constriction quantises float32 rows itself, deterministically: then the table is a
property of the floats both sides hold and of constriction's version.

Backends:
- `constriction` (default): a range coder written in Rust; fast, and it can be driven one batch of
  symbols at a time, which is what autoregressive decoding needs.
- `arithmetic-compressor`: the pure-Python coder the design card names; slow, for cross-checks.

Both are used the same way: `Encoder(backend).encode(symbols, freqs)` any number of times, then
`.finish()`; `Decoder(data, backend).decode(freqs)` in the same order, then `.finish()`.

A coded stream's bits depend on the coder's version (its quantisation of each table), so every sealed
stream written through this module names it (`coder_field`), and its decoder refuses another version
in one line before decoding (`check_coder`), rather than failing at a checksum after decoding wrong
pixels.
"""

from __future__ import annotations

import functools
import importlib.metadata

import numpy as np

from bench.coding.reproducible import IncompatibleDecoderError
from bench.errors import CorruptStreamError

BACKENDS = ("constriction", "arithmetic-compressor")
#: The sealed header's field that names the coder and its version.
CODER_FIELD = "coder"
#: Every table sums to 2**PRECISION_BITS; every symbol gets at least 1, so any symbol is codable.
PRECISION_BITS = 16


@functools.cache
def coder_id(backend: str = "constriction") -> str:
    """The range coder a stream's bits depend on: its name and installed version, e.g. "constriction 0.5.0"."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown entropy backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return f"{backend} {importlib.metadata.version(backend)}"


def coder_field(backend: str = "constriction") -> dict:
    """What a sealed header holds about its coder: `{CODER_FIELD: coder_id(backend)}`."""
    return {CODER_FIELD: coder_id(backend)}


def check_coder(header: dict, name: str, backend: str = "constriction") -> None:
    """IncompatibleDecoderError, naming both versions, unless the stream was coded by this coder."""
    recorded, here = header.get(CODER_FIELD), coder_id(backend)
    if recorded != here:
        said = recorded if isinstance(recorded, str) and len(recorded) < 80 else "an unnamed coder"
        raise IncompatibleDecoderError(f"{name}: the stream was coded with {said}, this decoder has {here} "
                                       "(install that version to decode it)")


def quantize(probs: np.ndarray, precision_bits: int = PRECISION_BITS) -> np.ndarray:
    """Probability rows (m, k) -> int64 frequency rows summing to 2**precision_bits, all >= 1."""
    # One float64 working copy, updated in place: autoregressive codecs call this once per pixel
    # position on (images, 256) tables, where temporaries cost more than the arithmetic.
    p = np.array(probs, dtype=np.float64, ndmin=2)
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities must be finite")
    np.maximum(p, 0.0, out=p)
    sums = p.sum(axis=-1, keepdims=True)
    k = p.shape[-1]
    total = 1 << precision_bits
    if k >= total:
        raise ValueError(f"{k} symbols do not fit a {precision_bits}-bit table")
    if np.all(sums > 0):
        p /= sums
    else:  # an all-zero row becomes uniform
        p = np.where(sums > 0, p / np.where(sums > 0, sums, 1.0), 1.0 / k)
    most_likely = np.argmax(p, axis=-1)
    p *= total - k
    freqs = p.astype(np.int64)  # truncation is the floor: every value is >= 0
    freqs += 1
    # What flooring left over goes to each row's most likely symbol, the cheapest place for it
    # (through a flat index: lockstep coders call this twice per pixel position on small tables).
    m = len(freqs)
    most_likely += np.arange(0, m * k, k)
    freqs.reshape(-1)[most_likely] += total - freqs.sum(axis=-1)
    return freqs


def quantize_float32(probs: np.ndarray, precision_bits: int = PRECISION_BITS) -> np.ndarray:
    """Probability rows (m, k), float32, C-contiguous -> frequency rows summing to 2**precision_bits,
    all >= 1, as integer-valued float32 (exact: every value and partial sum is below 2**24).

    The tables of `quantize`'s rule (floor of the scaled probability, plus 1, the rest to the likeliest
    symbol), computed in float32 and in place: `probs` is overwritten and returned. Not bit-identical
    to `quantize`'s float64 tables, but as deterministic (IEEE 754 float32, each row on its own), so an
    encoder and a decoder that both call it agree; for autoregressive coders that quantise ~10^6
    rows per second, where float64 copies cost more than the network. The range coder takes the
    float32 table as it is (`Encoder.encode_tables`)."""
    p = probs
    if not (isinstance(p, np.ndarray) and p.dtype == np.float32 and p.ndim == 2 and p.flags.c_contiguous
            and p.flags.writeable):
        raise ValueError("quantize_float32 needs a writeable C-contiguous (m, k) float32 array")
    m, k = p.shape
    total = 1 << precision_bits
    if k >= total or precision_bits > 24:
        raise ValueError(f"{k} symbols do not fit a {precision_bits}-bit float32 table")
    np.maximum(p, 0.0, out=p)  # NaN stays NaN, and makes its row's sum NaN
    sums = p.sum(axis=1)
    if not np.isfinite(sums).all():
        raise ValueError("probabilities must be finite")
    empty = sums <= 0
    if empty.any():  # an all-zero row becomes uniform
        p[empty] = 1.0
        sums[empty] = k
    most_likely = p.argmax(axis=1)
    np.multiply(p, (np.float32(total - k) / sums)[:, None], out=p)
    np.floor(p, out=p)
    p += np.float32(1.0)
    most_likely += np.arange(0, m * k, k)
    p.reshape(-1)[most_likely] += np.float32(total) - p.sum(axis=1)
    return p


def ideal_bits(symbols: np.ndarray, freqs: np.ndarray) -> float:
    """The code length in bits that a perfect coder would spend with these integer tables."""
    symbols = np.asarray(symbols, dtype=np.int64)
    chosen = freqs[np.arange(len(symbols)), symbols].astype(np.float64)
    return float(-np.log2(chosen / freqs.sum(axis=-1)).sum())


def _check(symbols: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    symbols = np.asarray(symbols).reshape(-1)
    freqs = np.asarray(freqs)
    if freqs.ndim != 2 or len(freqs) != len(symbols):
        raise ValueError(f"need one frequency row per symbol: {len(symbols)} symbols, table {freqs.shape}")
    if len(symbols) and (symbols.min() < 0 or symbols.max() >= freqs.shape[1]):
        raise ValueError("symbol outside the table's alphabet")
    return symbols, freqs


class Encoder:
    def __init__(self, backend: str = "constriction"):
        if backend not in BACKENDS:
            raise ValueError(f"unknown entropy backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        if backend == "constriction":
            import constriction

            self._coder = constriction.stream.queue.RangeEncoder()
            self._family = constriction.stream.model.Categorical(perfect=False)
        else:
            from arithmetic_compressor import arithmetic_coding

            self._coder = arithmetic_coding.Encoder(numbits=32)

    def encode(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        symbols, freqs = _check(symbols, freqs)
        if not len(symbols):
            return
        if self.backend == "constriction":
            # C order matters: constriction reads the buffer as C-contiguous and ignores strides, so a
            # broadcast or transposed table (astype keeps its layout) would code with the wrong rows.
            self._coder.encode(symbols.astype(np.int32), self._family, np.ascontiguousarray(freqs, np.float64))
        else:
            for symbol, row in zip(symbols.tolist(), freqs, strict=True):
                self._coder.encode_symbol(_ranges(row), symbol)

    def encode_tables(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        """`encode` for a hot loop: `freqs` is C-contiguous float32 and is handed to the range coder
        without a copy; symbols must lie in the alphabet (unchecked). Rows are `quantize_float32`'s
        integer tables or a model's probabilities: constriction normalises and quantises each row to
        its own precision (`Categorical(perfect=False)`: every symbol keeps a nonzero share)."""
        if not len(symbols):
            return
        if freqs.dtype != np.float32 or not freqs.flags.c_contiguous or freqs.shape != (len(symbols), freqs.shape[1]):
            raise ValueError(f"encode_tables needs one C-contiguous float32 row per symbol, got {freqs.shape}")
        if self.backend == "constriction":
            self._coder.encode(np.asarray(symbols, np.int32), self._family, freqs)
        else:
            self.encode(symbols, quantize(freqs))

    def encode_fixed(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        """Symbols that all have the one frequency row `freqs` (k,): one model, not one row each."""
        if not len(symbols):
            return
        row = np.asarray(freqs)
        if self.backend == "constriction":
            import constriction

            model = constriction.stream.model.Categorical(np.ascontiguousarray(row, np.float64), perfect=False)
            self._coder.encode(np.asarray(symbols, np.int32), model)
        else:
            ranges = _ranges(row.astype(np.int64))
            for symbol in np.asarray(symbols).tolist():
                self._coder.encode_symbol(ranges, symbol)

    def finish(self) -> bytes:
        if self.backend == "constriction":
            return self._coder.get_compressed().tobytes()
        self._coder.finish()
        return np.packbits(np.asarray(self._coder.get_encoded(), dtype=np.uint8)).tobytes()


class Decoder:
    def __init__(self, data: bytes, backend: str = "constriction"):
        if backend not in BACKENDS:
            raise ValueError(f"unknown entropy backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        if backend == "constriction":
            import constriction

            if len(data) % 4:
                raise CorruptStreamError("range-coded stream is not a whole number of 32-bit words (truncated?)")
            self._coder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
            self._family = constriction.stream.model.Categorical(perfect=False)
        else:
            from arithmetic_compressor import arithmetic_coding

            bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
            self._coder = arithmetic_coding.Decoder(bits, numbits=32)

    def decode(self, freqs: np.ndarray) -> np.ndarray:
        freqs = np.asarray(freqs)
        if self.backend == "constriction":
            try:
                table = np.ascontiguousarray(freqs, np.float64)  # C order: see Encoder.encode
                return np.asarray(self._coder.decode(self._family, table), dtype=np.int64)
            except (ValueError, RuntimeError, AssertionError) as exc:
                raise CorruptStreamError(f"entropy decoder failed: {exc}") from None
        out = np.empty(len(freqs), dtype=np.int64)
        for i, row in enumerate(freqs):
            try:
                out[i] = self._coder.decode_symbol(_ranges(row))
            except (AssertionError, ValueError) as exc:
                raise CorruptStreamError(f"entropy decoder failed: {exc}") from None
        return out

    def decode_tables(self, freqs: np.ndarray) -> np.ndarray:
        """The inverse of `Encoder.encode_tables` (C-contiguous float32 tables, no copy); int32 symbols."""
        if freqs.dtype != np.float32 or not freqs.flags.c_contiguous or freqs.ndim != 2:
            raise ValueError(f"decode_tables needs C-contiguous (m, k) float32 tables, got {freqs.shape}")
        if self.backend != "constriction":
            return self.decode(quantize(freqs))
        try:
            return self._coder.decode(self._family, freqs)
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise CorruptStreamError(f"entropy decoder failed: {exc}") from None

    def decode_fixed(self, freqs: np.ndarray, count: int) -> np.ndarray:
        """The inverse of `Encoder.encode_fixed`: `count` symbols of the one row `freqs`."""
        row = np.asarray(freqs)
        if self.backend != "constriction":
            return self.decode(np.repeat(row.astype(np.int64)[None, :], count, axis=0))
        import constriction

        try:
            model = constriction.stream.model.Categorical(np.ascontiguousarray(row, np.float64), perfect=False)
            return self._coder.decode(model, count)
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise CorruptStreamError(f"entropy decoder failed: {exc}") from None


def _ranges(row: np.ndarray) -> dict:
    """A frequency row as arithmetic-compressor's {symbol: Range(low, high)} table."""
    from arithmetic_compressor.util import Range

    cumulative = np.concatenate([[0], np.cumsum(row)]).tolist()
    return {s: Range(cumulative[s], cumulative[s + 1]) for s in range(len(row))}


def encode(symbols: np.ndarray, freqs: np.ndarray, backend: str = "constriction") -> bytes:
    """One-shot form: every table known up front (non-autoregressive models)."""
    encoder = Encoder(backend)
    encoder.encode(symbols, freqs)
    return encoder.finish()


def decode(data: bytes, freqs: np.ndarray, backend: str = "constriction") -> np.ndarray:
    return Decoder(data, backend).decode(freqs)


def code_length_columns(ideal: float, real_bytes: int, pixels: int) -> dict:
    """Results-row columns for a model-driven stream: `ideal_bpp` (the coding tables' cross-entropy,
    what a perfect coder would spend) and `bpp_gap` (real bits/pixel minus ideal)."""
    if not pixels:
        return {}
    ideal_bpp = ideal / pixels
    return {"ideal_bpp": ideal_bpp, "bpp_gap": 8 * real_bytes / pixels - ideal_bpp}
