"""What the report needs from a cell besides its numbers: a small sample of the decoded images and the
size of the decoded output in the plain containers the BiCAN write-up compares (.txt, .npy, .txt.gz,
.npy.gz).

The runner calls `output_columns` on every lossy or dataset codec's decoded output (the container
sizes become columns of the row, the sample rides along under `ARTIFACT_KEY`), then `save` writes the
sample to `OUT/artifacts/<cell_key>.npz` (about 50 kB) before the row is appended; the original
images of an image codec's sample are written once per split content, as `original-<digest>.npz`.

Containers, computed from the whole decoded output of a dataset codec, and from the decoded test images
of an image codec (on split `all` the 10,000 test images, the same held-out part the report's
headline uses; on another split all of it), the original's from the same images
(`container_n_images` says how many):
- `.txt`: one image per line, its 784 pixel values in decimal separated by single spaces;
- `.npy`: `numpy.save` of the (n, 28, 28) uint8 array;
- `.gz`: gzip at level 6, the `gzip` tool's default.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import numpy as np

from bench.data.mnist import TRAIN_IMAGES

#: Decoded images kept per cell: the first 16 make the picture grid, all of them the t-SNE scatter.
SAMPLE_IMAGES = 200
GZIP_LEVEL = 6
CONTAINERS = ("txt", "npy", "txt_gz", "npy_gz")
#: Row key under which the runner carries the sample from the measurement to `save` (never written).
ARTIFACT_KEY = "_artifact"
TEST_START_IN_ALL = TRAIN_IMAGES  # split "all" is train then test: its test digits start here

# Decimal text of each byte value followed by a separator, padded to 4 bytes, and its real length.
_TEXT = np.zeros((256, 4), np.uint8)
_TEXT_LEN = np.zeros(256, np.int64)
for _value in range(256):
    _digits = str(_value).encode()
    _TEXT[_value, : len(_digits)] = list(_digits)
    _TEXT[_value, len(_digits)] = ord(" ")
    _TEXT_LEN[_value] = len(_digits) + 1


def _text_chunks(images: np.ndarray, chunk: int = 2000):
    """The `.txt` container in pieces (vectorised: a whole-MNIST text is 128 MB)."""
    flat = images.reshape(len(images), -1)
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk]
        cells = _TEXT[part]
        cells[np.arange(len(part)), -1, _TEXT_LEN[part[:, -1]] - 1] = ord("\n")  # last separator ends the line
        yield cells[np.arange(4) < _TEXT_LEN[part][..., None]].tobytes()


def _gzip_size(chunks) -> int:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: gzip framing
    return sum(len(compressor.compress(c)) for c in chunks) + len(compressor.flush())


def as_text(images: np.ndarray) -> bytes:
    return b"".join(_text_chunks(images))


def container_sizes(images: np.ndarray) -> dict[str, int]:
    """`txt_bytes`, `npy_bytes`, `txt_gz_bytes`, `npy_gz_bytes` of an (n, 28, 28) uint8 array."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(images))
    npy = buffer.getvalue()
    return {
        "txt_bytes": int(sum(len(c) for c in _text_chunks(images))),
        "npy_bytes": len(npy),
        "txt_gz_bytes": _gzip_size(_text_chunks(images)),
        "npy_gz_bytes": _gzip_size([npy]),
    }


_original_sizes: dict[tuple, dict[str, int]] = {}


def _original_container_sizes(split, part: slice = slice(None)) -> dict[str, int]:
    """The same containers of the original images (or a part), computed once per split content in a run."""
    key = (split.digest, part.start)
    if key not in _original_sizes:
        _original_sizes[key] = {f"orig_{k}": v for k, v in container_sizes(split.images[part]).items()}
    return _original_sizes[key]


def held_out_part(split) -> slice | None:
    """The test images inside split `all` (train then test), or None for a split (or a `--limit`
    slice of `all`) that holds none: what the held-out figures, the sample and the containers use."""
    return slice(TEST_START_IN_ALL, None) if split.name == "all" and len(split.images) > TEST_START_IN_ALL else None


def sample_indices(split) -> np.ndarray:
    """The first test digits the split holds (split `all` is train then test), else its first images."""
    n, part = len(split.images), held_out_part(split)
    offset = part.start if part else 0
    return np.arange(offset, min(n, offset + SAMPLE_IMAGES))


def output_columns(split, decoded: np.ndarray, decoded_labels: np.ndarray | None = None) -> dict:
    """Container sizes of the decoded output and of the original, plus the sample (under ARTIFACT_KEY).

    Image codecs: `decoded` corresponds image by image to `split`, so the sample pairs originals with
    reconstructions. Dataset codecs pass their decoded set and labels: the sample is its first images.
    """
    if decoded_labels is None:
        part = held_out_part(split) or slice(None)
        columns = {**container_sizes(decoded[part]), **_original_container_sizes(split, part),
                   "container_n_images": len(decoded[part])}
    else:
        columns = {**container_sizes(decoded), **_original_container_sizes(split), "container_n_images": len(decoded)}
    if decoded_labels is None:
        index = sample_indices(split)
        sample = {"decoded": decoded[index], "original": split.images[index], "labels": split.labels[index],
                  "indices": index, "split_digest": np.array(split.digest)}
    else:
        count = min(len(decoded), SAMPLE_IMAGES)
        sample = {"decoded": decoded[:count], "labels": np.asarray(decoded_labels)[:count]}
    columns[ARTIFACT_KEY] = sample
    return columns


def save(out_dir: str | os.PathLike, row: dict) -> Path | None:
    """Take the sample out of the row; write it as `artifacts/<cell_key>.npz` if the cell succeeded."""
    sample = row.pop(ARTIFACT_KEY, None)
    if sample is None or row.get("status") != "ok" or not row.get("cell_key"):
        return None
    folder = Path(out_dir) / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{row['cell_key']}.npz"
    if "original" in sample:  # shared by every image codec's cell on the same data
        original = {name: sample.pop(name) for name in ("original", "labels", "indices")}
        _write_npz(folder / f"original-{sample['split_digest']}.npz", original)
    _write_npz(path, sample)
    return path


def _write_npz(path: Path, arrays: dict) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.npz")  # a reader never sees half a file
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load(folder: str | os.PathLike | None, cell_key) -> dict[str, np.ndarray] | None:
    """The sample of one cell, or None when the run kept none (e.g. a table copied without artifacts)."""
    if folder is None or not isinstance(cell_key, str):
        return None
    sample = _read_npz(Path(folder) / f"{cell_key}.npz")
    if sample is not None and "split_digest" in sample:
        original = _read_npz(Path(folder) / f"original-{sample['split_digest']}.npz")
        if original is None:
            return None
        sample.update(original)
    return sample


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError):
        return None
