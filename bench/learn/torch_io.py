"""Small torch helpers shared by learned codecs: weights <-> bytes, and CPU threads while training."""

from __future__ import annotations

import io
import json

from bench.coding.container import pack_chunks, unpack_chunks
from bench.coding.reproducible import torch_threads
from bench.errors import BenchError

#: Threads for CPU training. Measured on the 2-core machine these codecs were built on, with other
#: jobs running: one thread took 83 ms per batch, two took 1,072 ms (OpenMP workers spin-waiting
#: for a core). Training is the long part; coding keeps torch's own setting.
CPU_TRAIN_THREADS = 1
_MAGIC = b"TW01"


def training_threads(device: str):
    """Limit torch's CPU threads for the duration of a training run (restored afterwards)."""
    return torch_threads(device, CPU_TRAIN_THREADS)


def state_to_bytes(module) -> bytes:
    """A module's weights and buffers as a torch.save blob (what a receiver would store)."""
    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buffer)
    return buffer.getvalue()


def load_state(module, blob: bytes, device: str):
    import torch

    state = torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    module.load_state_dict(state)
    return module.to(device)


def pack_model(meta: dict, parts: dict[str, bytes]) -> bytes:
    """One cacheable blob: a JSON header (with the part names) and the parts, e.g. encoder/decoder weights."""
    header = json.dumps({**meta, "parts": list(parts)}, sort_keys=True).encode()
    return pack_chunks(_MAGIC, [header, *parts.values()])


def unpack_model(blob: bytes) -> tuple[dict, dict[str, bytes]]:
    magic, chunks = unpack_chunks(blob, len(_MAGIC))
    if magic != _MAGIC or not chunks:
        raise BenchError("cached model blob is not in the expected format (delete the cache entry)")
    meta = json.loads(chunks[0])
    return meta, dict(zip(meta["parts"], chunks[1:], strict=True))
