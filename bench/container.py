"""Byte containers shared by codecs: varints and a list of length-prefixed chunks.

A per-image framing stores one compressed stream per image; the container adds the lengths a
reader needs to split them again (1-2 bytes per image), and those bytes count in the payload.
"""

from __future__ import annotations

import struct

from bench.errors import CorruptStreamError


def write_varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a varint at `pos`; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise CorruptStreamError("stream ends inside a length field (truncated)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CorruptStreamError("length field is too long (corrupt stream)")


def pack_chunks(header: bytes, chunks: list[bytes]) -> bytes:
    """`header` (fixed by the caller) + chunk count + each chunk's length + the chunks."""
    parts = [header, write_varint(len(chunks))]
    parts += [write_varint(len(c)) for c in chunks]
    parts += chunks
    return b"".join(parts)


def unpack_chunks(data: bytes, header_len: int) -> tuple[bytes, list[bytes]]:
    """Inverse of `pack_chunks`; raises CorruptStreamError on truncated or extended input."""
    if len(data) < header_len:
        raise CorruptStreamError("stream is shorter than its header (truncated)")
    view = memoryview(data)
    count, pos = read_varint(view, header_len)
    if count > len(data):
        raise CorruptStreamError(f"chunk count {count} exceeds the stream size (corrupt stream)")
    lengths = []
    for _ in range(count):
        length, pos = read_varint(view, pos)
        lengths.append(length)
    if pos + sum(lengths) != len(data):
        state = "truncated" if pos + sum(lengths) > len(data) else "has trailing bytes"
        raise CorruptStreamError(f"chunk lengths do not match the stream size (stream {state})")
    chunks = []
    for length in lengths:
        chunks.append(bytes(view[pos : pos + length]))
        pos += length
    return bytes(view[:header_len]), chunks


_IMAGE_SHAPE = struct.Struct(">III")  # n, height, width


def pack_images(shape: tuple[int, int, int], blobs: list[bytes]) -> bytes:
    """One compressed blob per image, with the array shape the decoder needs."""
    return pack_chunks(_IMAGE_SHAPE.pack(*shape), blobs)


def unpack_images(data: bytes) -> tuple[tuple[int, int, int], list[bytes]]:
    header, blobs = unpack_chunks(data, _IMAGE_SHAPE.size)
    n, h, w = _IMAGE_SHAPE.unpack(header)
    if len(blobs) != n:
        raise CorruptStreamError(f"header says {n} images, the container holds {len(blobs)}")
    return (n, h, w), blobs
