"""The IDX format of the MNIST files: the `raw` codec's output and the data loader's input."""

import math
import struct

import numpy as np

from bench.errors import CorruptStreamError

# Magic numbers: 0x08 = unsigned byte, last byte = number of dimensions.
_UBYTE = 0x08


def to_idx(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as IDX: 4-byte magic, one big-endian uint32 per dimension, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def from_idx(data: bytes, what: str = "IDX stream") -> np.ndarray:
    """Parse IDX bytes into a uint8 array; raise CorruptStreamError saying what is wrong."""
    if len(data) < 4:
        raise CorruptStreamError(f"{what}: {len(data)} bytes is too short for an IDX header")
    zero1, zero2, dtype, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 or zero2 or dtype != _UBYTE or not 1 <= ndim <= 4:
        raise CorruptStreamError(f"{what}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise CorruptStreamError(f"{what}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    expected = header_len + math.prod(shape)  # exact integers (numpy's reduction costs 9 us a call)
    if len(data) != expected:
        raise CorruptStreamError(
            f"{what}: {len(data)} bytes, but its header {tuple(shape)} needs {expected} "
            f"({'truncated' if len(data) < expected else 'trailing data'})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)
