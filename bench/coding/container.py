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


# THE sealed stream of every coded codec:
#   magic | varint header length | header (JSON) | content digest | varint body length
#   | CRC-32 of everything before it | body
# Every field a decoder reads (counts, shapes, parameters, model fingerprint) goes in the header, and
# the checksum covers it with the digest and the body length, so all of them are checked before any
# is used, without decoding anything. The content digest (of what a perfect decode yields) catches a
# damaged body, which an entropy decoder usually turns into wrong pixels rather than an error. A
# decoder must still bound each count by what the body can hold (`header_count`) before it
# allocates: the checksum stops damage, not a stream made to claim 2**60 images.
CONTENT_DIGEST_BYTES = 16
_CRC = struct.Struct(">I")


def content_digest(array) -> bytes:
    """SHA-256 (first 16 bytes) of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    return h.digest()[:CONTENT_DIGEST_BYTES]


def seal(magic: bytes, header: dict, body: bytes, content: bytes) -> bytes:
    """A stream holding `header` (JSON-serialisable), `body`, and `content` (a `content_digest`)."""
    if len(content) != CONTENT_DIGEST_BYTES:
        raise ValueError(f"content digest must be {CONTENT_DIGEST_BYTES} bytes")
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    head = b"".join([magic, write_varint(len(text)), text, content, write_varint(len(body))])
    return b"".join([head, _CRC.pack(zlib.crc32(head)), body])


def unseal(data: bytes, magic: bytes, name: str | None = None) -> tuple[dict, bytes, bytes]:
    """(header, body, content digest) of a sealed stream; CorruptStreamError if it is damaged, its
    message starting with `name` (the codec) when given."""
    try:
        return _unseal(bytes(data), magic)
    except CorruptStreamError as exc:
        if name is None:
            raise
        raise CorruptStreamError(f"{name}: {exc}") from None


def _unseal(data: bytes, magic: bytes) -> tuple[dict, bytes, bytes]:
    if data[: len(magic)] != magic:
        raise CorruptStreamError(f"not a {magic.decode(errors='replace')} stream (bad magic bytes)")
    length, pos = read_varint(data, len(magic))
    text_end = pos + length
    if text_end + CONTENT_DIGEST_BYTES > len(data):
        raise CorruptStreamError("stream ends inside its header (truncated)")
    body_len, head_end = read_varint(data, text_end + CONTENT_DIGEST_BYTES)
    if head_end + _CRC.size > len(data):
        raise CorruptStreamError("stream ends inside its header (truncated)")
    if _CRC.unpack_from(data, head_end)[0] != zlib.crc32(data[:head_end]):
        raise CorruptStreamError("header checksum mismatch (corrupt stream)")
    body_start = head_end + _CRC.size
    if body_start + body_len != len(data):
        state = "truncated" if body_start + body_len > len(data) else "has trailing bytes"
        raise CorruptStreamError(f"body length does not match the stream size (stream {state})")
    try:
        header = json.loads(data[pos:text_end])
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CorruptStreamError("header is not valid JSON (corrupt stream)") from None
    if not isinstance(header, dict):
        raise CorruptStreamError("header is not a JSON object (corrupt stream)")
    return header, data[body_start:], data[text_end : text_end + CONTENT_DIGEST_BYTES]


def int_in(value, low: int, high: int) -> bool:
    """Whether a header value is an integer in low..high: JSON's `true` is no integer here, though
    Python's bool is an int."""
    return type(value) is int and low <= value <= high


def header_count(header: dict, key: str, limit: int, name: str = "stream") -> int:
    """`header[key]` as a count in 0..limit (what the body can hold); CorruptStreamError otherwise."""
    value = header.get(key)
    if not int_in(value, 0, 2**63 - 1):
        raise CorruptStreamError(f"{name}: header field {key!r} is not a count (corrupt stream)")
    if value > limit:
        raise CorruptStreamError(f"{name}: header claims {key}={value}, more than the stream can hold "
                                 f"({limit}; corrupt stream)")
    return value


def max_coded_items(body_bytes: int, min_bits_per_item: float, slack_bits: int = 64) -> int:
    """The most items a range-coded body can hold when none costs under `min_bits_per_item` bits.

    A range coder's output is at least the symbols' information content less its state (64 bits for
    constriction's), so this bound is sound for any stream such a coder wrote.
    """
    if not min_bits_per_item > 0:
        raise ValueError("items that may cost 0 bits bound nothing")
    return int((8 * body_bytes + slack_bits) / min_bits_per_item)


def check_content(decoded, expected: bytes) -> None:
    """CorruptStreamError unless `decoded` has the digest the encoder stored."""
    if content_digest(decoded) != expected:
        raise CorruptStreamError("decoded content does not match the stream's checksum (corrupt stream)")
