"""lgc's payload body: arrays at float32, float16 or int8 (per-row affine: a float32 offset and scale a
row), and the bounds-checked reader of the decompressed body. The layout is the stream's, pinned by
the golden sizes: the decoder's weights travel inside the payload, not as a model file."""

from __future__ import annotations

import numpy as np

from bench.coding.container import read_varint
from bench.errors import CorruptStreamError


def pack_array(array: np.ndarray, precision: str) -> bytes:
    """float32 / float16 as is; int8 as per-row affine uint8 with a float32 (offset, scale) per row."""
    array = np.asarray(array, dtype=np.float32)
    if precision == "float32":
        return array.astype("<f4").tobytes()
    if precision == "float16":
        return array.astype("<f2").tobytes()
    rows = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(1, -1)
    low, high = rows.min(1, keepdims=True), rows.max(1, keepdims=True)
    scale = np.where(high > low, (high - low) / 255, 1.0).astype(np.float32)
    codes = np.round((rows - low) / scale).astype(np.uint8)
    return np.hstack([low, scale]).astype("<f4").tobytes() + codes.tobytes()


class BodyReader:
    """Bounds-checked reads from the decompressed body: damaged streams fail with one clear line."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CorruptStreamError("lgc stream is truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def varint(self) -> int:
        value, self.pos = read_varint(self.data, self.pos)
        return value

    def array(self, shape: tuple, precision: str) -> np.ndarray:
        size = int(np.prod(shape))
        if precision in ("float32", "float16"):
            dtype = "<f4" if precision == "float32" else "<f2"
            return np.frombuffer(self.take(size * np.dtype(dtype).itemsize), dtype).astype(np.float32).reshape(shape)
        n_rows = shape[0] if len(shape) > 1 else 1
        offsets = np.frombuffer(self.take(8 * n_rows), "<f4").reshape(n_rows, 2)
        codes = np.frombuffer(self.take(size), np.uint8).reshape(n_rows, -1).astype(np.float32)
        return (offsets[:, :1] + codes * offsets[:, 1:]).reshape(shape)


def factor_shape(covariance: str, k: int, d: int) -> tuple:
    return {"full": (k, d * (d + 1) // 2), "tied": (1, d * (d + 1) // 2), "diag": (k, d), "spherical": (k, 1)}[covariance]
