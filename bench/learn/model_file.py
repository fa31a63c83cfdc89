"""The one file format of every trained model the bench ships or caches.

A model file is `bench.coding.container`'s chunks behind the magic `TW02`: a JSON header, then one
chunk a part. The header holds the codec's own `meta` (architecture, training record, ...) and, for
each part, its name, how it is stored and its shape. A part is a tensor, stored

- as is (its own dtype: float32, float64, int64, ... exactly),
- as float16 (float tensors; the reader gives float32 back), or
- as int8 rows (float tensors: one float32 scale a row, then the rows' levels in -127..127),

or raw bytes a codec lays out itself (`raw`, e.g. the hyperprior's integer tables). A file reads back
with NumPy alone (a decoder that runs without torch reads it too), and everything a reader takes from
it is checked first: a file that is not one, or is cut short, is refused in one line.
Integer tensors (a batch norm's step counter) are always stored as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from bench.coding.container import pack_chunks, unpack_chunks
from bench.errors import BenchError

MAGIC = b"TW02"
#: How float tensors can be stored: as they are, as float16, as int8 rows.
STORAGES = ("as-is", "float16", "int8")
_RAW = "raw"


@dataclass
class ModelFile:
    """A read model file: the codec's meta, float32 (or integer) tensors by name, raw parts by name,
    and each part's stored size (for what a receiver holds)."""

    meta: dict
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)

    def stored_bytes(self, *prefixes: str) -> int:
        """Bytes the parts named `prefix...` take in the file (every part without a prefix)."""
        return sum(size for name, size in self.stored.items() if not prefixes or name.startswith(prefixes))

    def shapes(self) -> dict[str, list[int]]:
        return {name: list(tensor.shape) for name, tensor in self.tensors.items()}


def _encode(tensor: np.ndarray, storage: str) -> tuple[str, bytes]:
    """(how it is stored, its bytes)."""
    tensor = np.ascontiguousarray(tensor)
    if storage == "as-is" or tensor.dtype.kind != "f":
        return tensor.dtype.newbyteorder("<").str, tensor.astype(tensor.dtype.newbyteorder("<")).tobytes()
    if storage == "float16":
        return "float16", tensor.astype("<f2").tobytes()
    rows = tensor.reshape(tensor.shape[0], -1).astype(np.float32) if tensor.ndim else tensor.reshape(1, 1)
    scale = (np.abs(rows).max(axis=1) / 127).astype(np.float32)
    scale[scale == 0] = 1
    levels = np.clip(np.round(rows / scale[:, None]), -127, 127).astype(np.int8)
    return "int8", scale.astype("<f4").tobytes() + levels.tobytes()


def _decode(stored: str, shape: list[int], raw: bytes) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if stored == "float16":
        expected = 2 * count
    elif stored == "int8":
        rows = shape[0] if shape else 1
        expected = rows * 4 + count
    else:
        dtype = np.dtype(stored)
        if dtype.kind not in "fiub":
            raise ValueError(f"unknown storage {stored}")
        expected = dtype.itemsize * count
    if len(raw) != expected:
        raise ValueError(f"{len(raw)} bytes where its shape needs {expected}")
    if stored == "float16":
        return np.frombuffer(raw, "<f2").astype(np.float32).reshape(shape)
    if stored == "int8":
        scale = np.frombuffer(raw[: rows * 4], "<f4")
        levels = np.frombuffer(raw[rows * 4 :], np.int8).reshape(rows, -1)
        return (levels.astype(np.float32) * scale[:, None]).reshape(shape)
    return np.frombuffer(raw, stored).astype(np.dtype(stored).newbyteorder("=")).reshape(shape)


def pack_model(meta: dict, tensors: dict[str, np.ndarray] | None = None, storage: str = "as-is",
               raw: dict[str, bytes] | None = None) -> bytes:
    """A model file of `tensors` (float ones stored by `storage`) and `raw` parts, with `meta`."""
    if storage not in STORAGES:
        raise ValueError(f"model storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    layout, chunks = [], []
    for name, tensor in (tensors or {}).items():
        stored, data = _encode(np.asarray(tensor), storage)
        layout.append([name, stored, list(np.shape(tensor))])
        chunks.append(data)
    for name, data in (raw or {}).items():
        layout.append([name, _RAW, [len(data)]])
        chunks.append(bytes(data))
    header = json.dumps({"meta": meta, "parts": layout}, sort_keys=True).encode()
    return pack_chunks(MAGIC, [header, *chunks])


def unpack_model(blob: bytes, what: str = "cached model") -> ModelFile:
    """The model file `blob`; anything else is refused in one line naming `what` it should be."""
    try:
        magic, chunks = unpack_chunks(blob, len(MAGIC))
        if magic != MAGIC or not chunks:
            raise ValueError("not a model file")
        header = json.loads(chunks[0])
        layout = header["parts"]
        if not isinstance(header["meta"], dict) or len(layout) != len(chunks) - 1:
            raise ValueError("its header does not list its parts")
        model = ModelFile(header["meta"])
        for (name, stored, shape), data in zip(layout, chunks[1:], strict=True):
            shape = [int(v) for v in shape]
            if min(shape, default=0) < 0:
                raise ValueError(f"part {name} has a negative size")
            if stored == _RAW:
                if shape != [len(data)]:
                    raise ValueError(f"part {name} has {len(data)} bytes, its header says {shape[0]}")
                model.raw[name] = data
            else:
                try:
                    model.tensors[name] = _decode(stored, shape, data)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"tensor {name}: {exc}") from None
            model.stored[name] = len(data)
    except (BenchError, ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise BenchError(f"{what} is not a model file in the bench's format ({exc}); delete it to retrain") from None
    return model


def tensors_of(module, prefix: str = "") -> dict[str, np.ndarray]:
    """A torch module's weights and buffers as NumPy arrays, named `prefix` + their state_dict key."""
    return {prefix + name: value.detach().cpu().numpy() for name, value in module.state_dict().items()}


def load_tensors(module, model: ModelFile, prefix: str = "", device: str = "cpu"):
    """`module` with the tensors named `prefix...` of `model` (every one its state_dict needs, and no
    other), on `device`."""
    import torch

    state = {name[len(prefix):]: torch.from_numpy(tensor)  # `unpack_model`'s arrays are its own, writable
             for name, tensor in model.tensors.items() if name.startswith(prefix)}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise BenchError(f"model file's tensors do not fit the network ({first}); delete it to retrain") from None
    return module.to(device)
