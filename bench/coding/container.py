"""Byte containers shared by codecs: varints, a list of length-prefixed chunks, a sealed stream.

A per-image framing stores one compressed stream per image; the container adds the lengths a
reader needs to split them again (1-2 bytes per image), and those bytes count in the payload.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

import numpy as np

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


# A sealed stream: magic | varint header length | header (JSON) | CRC-32 of everything before it
# | varint body length | body | content digest. The header checksum stops a damaged header before
# any decoding work; the content digest (of what a perfect decode yields) catches a damaged body,
# which an entropy decoder usually turns into wrong pixels rather than an error.
CONTENT_DIGEST_BYTES = 16


def content_digest(array) -> bytes:
    """SHA-256 (first 16 bytes) of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    return h.digest()[:CONTENT_DIGEST_BYTES]


def seal(magic: bytes, header: dict, body: bytes, content: bytes) -> bytes:
    """A stream holding `header` (JSON-serialisable), `body`, and `content` (a `content_digest`)."""
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    head = magic + write_varint(len(text)) + text
    return b"".join([head, struct.pack(">I", zlib.crc32(head)), write_varint(len(body)), body, content])


def unseal(data: bytes, magic: bytes) -> tuple[dict, bytes, bytes]:
    """(header, body, content digest) of a sealed stream; CorruptStreamError if it is damaged."""
    if data[: len(magic)] != magic:
        raise CorruptStreamError(f"not a {magic.decode(errors='replace')} stream (bad magic bytes)")
    length, pos = read_varint(data, len(magic))
    if pos + length + 4 > len(data):
        raise CorruptStreamError("stream ends inside its header (truncated)")
    head_end = pos + length
    if struct.unpack_from(">I", data, head_end)[0] != zlib.crc32(data[:head_end]):
        raise CorruptStreamError("header checksum mismatch (corrupt stream)")
    try:
        header = json.loads(data[pos:head_end])
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CorruptStreamError("header is not valid JSON (corrupt stream)") from None
    if not isinstance(header, dict):
        raise CorruptStreamError("header is not a JSON object (corrupt stream)")
    body_len, pos = read_varint(data, head_end + 4)
    if pos + body_len + CONTENT_DIGEST_BYTES != len(data):
        state = "truncated" if pos + body_len + CONTENT_DIGEST_BYTES > len(data) else "has trailing bytes"
        raise CorruptStreamError(f"body length does not match the stream size (stream {state})")
    return header, bytes(data[pos : pos + body_len]), bytes(data[pos + body_len :])


def check_content(decoded, expected: bytes) -> None:
    """CorruptStreamError unless `decoded` has the digest the encoder stored."""
    if content_digest(decoded) != expected:
        raise CorruptStreamError("decoded content does not match the stream's checksum (corrupt stream)")
