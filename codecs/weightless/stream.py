"""The weightless stream: a small header, per-chunk checks, the coded chunks. No weights.

    magic "WLNN" | format version (1 byte) | varint header length | header (JSON, UTF-8)
    | content digest (bench.coding.container.content_digest, 16 bytes)
    | per chunk: CRC-32 of its pixels, CRC-32 of the model's weights after the update (8 bytes)
    | CRC-32 of everything before it (4 bytes)
    | chunk count, chunk lengths, range-coded chunks      (bench.coding.container.pack_chunks)

The header holds what a decoder needs to rebuild the encoder's model from nothing: model config,
seed, chunk sizes (as the rule that makes them), whether deterministic algorithms were on, and the
float settings (`bench.coding.reproducible.float_settings`: thread count, device, torch version, CPU
instruction set or GPU model). A decoder that cannot reproduce those refuses, in one line, before
decoding anything.

The per-chunk weight checksums tell the two failures apart: a chunk whose pixels do not match is a
damaged stream (or arithmetic that already diverged); matching pixels with different weights
afterwards can only be arithmetic that is not bit-identical to the encoder's.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

from bench.coding.container import CONTENT_DIGEST_BYTES, pack_chunks, read_varint, unpack_chunks, write_varint
from bench.errors import CorruptStreamError

MAGIC = b"WLNN"
FORMAT_VERSION = 1
CHECK = struct.Struct(">II")  # CRC-32 of a chunk's pixels, CRC-32 of the weights after its update


def write(header: dict, digest: bytes, checks: list[tuple[int, int]], chunks: list[bytes]) -> bytes:
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    head = MAGIC + bytes([FORMAT_VERSION]) + write_varint(len(text)) + text + digest
    head += b"".join(CHECK.pack(*c) for c in checks)
    return pack_chunks(head + struct.pack(">I", zlib.crc32(head)), chunks)


def read(data: bytes) -> tuple[dict, bytes, list[tuple[int, int]], list[bytes]]:
    """Split a stream into (header, content digest, per-chunk checks, chunks); CorruptStreamError if damaged."""
    if len(data) < len(MAGIC) + 1 or data[: len(MAGIC)] != MAGIC:
        raise CorruptStreamError("not a weightless stream (bad magic bytes)")
    if data[len(MAGIC)] != FORMAT_VERSION:
        raise CorruptStreamError(f"unknown weightless format version {data[len(MAGIC)]}")
    length, pos = read_varint(data, len(MAGIC) + 1)
    if pos + length + CONTENT_DIGEST_BYTES > len(data):
        raise CorruptStreamError("stream ends inside its header (truncated)")
    try:
        header = json.loads(data[pos : pos + length])
        n_chunks = header["n_chunks"]
        if not isinstance(n_chunks, int) or n_chunks < 0:
            raise ValueError
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, RecursionError):
        raise CorruptStreamError("header is not valid (corrupt stream)") from None
    pos += length
    digest, pos = data[pos : pos + CONTENT_DIGEST_BYTES], pos + CONTENT_DIGEST_BYTES
    end = pos + n_chunks * CHECK.size
    if end + 4 > len(data):
        raise CorruptStreamError("stream ends inside its chunk table (truncated or corrupt)")
    if struct.unpack_from(">I", data, end)[0] != zlib.crc32(data[:end]):
        raise CorruptStreamError("header checksum mismatch (corrupt stream)")
    checks = [CHECK.unpack_from(data, pos + i * CHECK.size) for i in range(n_chunks)]
    _, chunks = unpack_chunks(data, end + 4)
    if len(chunks) != n_chunks:
        raise CorruptStreamError(f"stream holds {len(chunks)} chunks, header says {n_chunks}")
    return header, digest, checks, chunks


def cuda_determinism_environment() -> None:
    """cuBLAS picks its workspace (and so its summation order) when it starts: ask for a fixed one
    before any CUDA work. A no-op on CPU-only machines."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
