"""The weightless stream: the bench's sealed stream (`bench.coding.container.seal`), no weights.

    header (JSON, under the seal's checksum): what a decoder needs to rebuild the encoder's model from
        nothing (model config, seed, chunk sizes as the rule that makes them, whether deterministic
        algorithms were on, the float settings of `bench.coding.reproducible.float_settings`) and,
        per chunk, the CRC-32 of its pixels and of the model's weights after its update (`checks`)
    content digest: of the decoded images
    body: the range-coded chunks (`bench.coding.container.pack_chunks`)

A decoder that cannot reproduce the recorded float settings refuses, in one line, before decoding.
The per-chunk weight checksums tell the two failures apart: a chunk whose pixels do not match is a
damaged stream (or arithmetic that already diverged); matching pixels with different weights
afterwards can only be arithmetic that is not bit-identical to the encoder's. Both sit under the
header's checksum, so a damaged check cannot pass for a machine that computes differently.
"""

from __future__ import annotations

import struct

from bench.coding.container import header_count, pack_chunks, seal, unpack_chunks, unseal
from bench.errors import CorruptStreamError

#: 6: the range coder quantises the model's probabilities itself (`mirror._probabilities`; 5 and 4
#: coded with 16-bit tables of `entropy.quantize_float32`), so a stream of 5 is refused.
#: (5: the update's gradient by hand, from merged rows in two parts (`CausalMLP.row_gradients`,
#: `mirror.batch_gradients`) and the Adam step fused: the same mathematics as 4's autograd on two
#: half-batches, other float rounding, so a stream of 4 would decode to other weights and is refused.
#: 4: float32 tables, `entropy.quantize_float32`.)
MAGIC = b"WLN6"
CHECK = struct.Struct(">II")  # CRC-32 of a chunk's pixels, CRC-32 of the weights after its update


def write(header: dict, digest: bytes, checks: list[tuple[int, int]], chunks: list[bytes]) -> bytes:
    packed = b"".join(CHECK.pack(*c) for c in checks).hex()
    return seal(MAGIC, {**header, "checks": packed}, pack_chunks(b"", chunks), digest)


def read(data: bytes) -> tuple[dict, bytes, list[tuple[int, int]], list[bytes]]:
    """Split a stream into (header, content digest, per-chunk checks, chunks); CorruptStreamError if damaged."""
    header, body, digest = unseal(data, MAGIC)
    n_chunks = header_count(header, "n_chunks", len(body), "weightless")  # every chunk has a length byte
    packed = header.pop("checks", None)
    try:
        raw = bytes.fromhex(packed)
    except (TypeError, ValueError):
        raise CorruptStreamError("weightless: header's chunk checks are not valid (corrupt stream)") from None
    if len(raw) != n_chunks * CHECK.size:
        raise CorruptStreamError("weightless: header's chunk checks do not match its chunk count (corrupt stream)")
    checks = [CHECK.unpack_from(raw, i * CHECK.size) for i in range(n_chunks)]
    _, chunks = unpack_chunks(body, 0)
    if len(chunks) != n_chunks:
        raise CorruptStreamError(f"weightless: stream holds {len(chunks)} chunks, header says {n_chunks}")
    return header, digest, checks, chunks
