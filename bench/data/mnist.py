"""MNIST loading: find the four IDX files, download what is missing, verify SHA-256, parse.

A folder named explicitly (`--data-dir`, else `$MNIST_DIR`) is the only place searched: a missing
folder or file there is an error, never quietly replaced by a copy found elsewhere. Named neither,
each file is looked for in the project's sibling `../shared/data/mnist`, then in the cache folder
(`$MNIST_CACHE` or `~/.cache/mnist-bench/mnist`), where missing files are downloaded. A file may
be stored gzipped (`name.gz`) or plain; its SHA-256 is always taken of the decompressed content,
against the values in `bench/data/mnist.sha256`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.idx import from_idx
from bench.errors import CorruptStreamError, DataError

#: The checkout (or site-packages, when installed): `../shared/data/mnist` beside it is searched.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_MNIST_DIR = PROJECT_ROOT.parent / "shared" / "data" / "mnist"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLITS = ("train", "test", "all")
#: MNIST's shape: every module that needs a size takes it from here.
SIDE = 28  # pixels a side
PIXELS = SIDE * SIDE  # 784 a digit
N_CLASSES = 10
TRAIN_IMAGES = 60_000  # split "all" is the train images, then the 10,000 test images
#: MNIST's gray levels anti-alias bilevel scans: a pixel is "ink" from this 8-bit value up (x / 255 > 0.5).
BINARY_THRESHOLD = 128
BINARISED = f"binarised at {BINARY_THRESHOLD}"


def binarise(images: np.ndarray) -> np.ndarray:
    """0/1 pixels: 1 where the 8-bit value is at least BINARY_THRESHOLD (the bilevel source that ar-mnist
    and the bilevel coders code exactly; times 255 it is what they decode to)."""
    return (np.asarray(images) >= BINARY_THRESHOLD).astype(np.uint8)


def _expected_checksums() -> dict[str, str]:
    text = (Path(__file__).parent / "mnist.sha256").read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line.strip())}


@dataclass(frozen=True)
class Split:
    """Images (n, 28, 28) uint8 and labels (n,) uint8 of one split, with a content digest."""

    name: str
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @functools.cached_property
    def digest(self) -> str:
        h = hashlib.sha256(self.images.tobytes())
        h.update(self.labels.tobytes())
        return h.hexdigest()[:16]

    def head(self, n: int | None) -> Split:
        if n is None or n >= len(self):
            return self
        return Split(self.name, self.images[:n], self.labels[:n])


def cache_dir() -> Path:
    return Path(os.environ.get("MNIST_CACHE", Path.home() / ".cache" / "mnist-bench" / "mnist"))


def explicit_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """The folder the user named, and how (`--data-dir` or `$MNIST_DIR`), or None."""
    if data_dir:
        return Path(data_dir), "--data-dir"
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"]), "$MNIST_DIR"
    return None


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    explicit = explicit_dir(data_dir)
    return [explicit[0]] if explicit else [SHARED_MNIST_DIR, cache_dir()]


def _find(name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for candidate in (d / name, d / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _download(name: str, mirrors: tuple[str, ...]) -> Path:
    """Fetch `name.gz` from the first mirror that answers, with a progress bar, into the cache."""
    from tqdm import tqdm

    target = cache_dir() / f"{name}.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = f"{mirror}{name}.gz"
        partial = target.with_suffix(".gz.part")
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}", leave=False) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
            partial.replace(target)  # only a complete download takes the real name
            return target
        except OSError as exc:
            partial.unlink(missing_ok=True)
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise DataError(f"{name}: not found locally and download failed ({'; '.join(failures)})")


def read_verified(name: str, data_dir=None, mirrors: tuple[str, ...] | None = None) -> bytes:
    """The decompressed content of MNIST file `name`, checked against its SHA-256."""
    explicit = explicit_dir(data_dir)
    if explicit and not explicit[0].is_dir():
        raise DataError(f"MNIST folder {explicit[0]} (from {explicit[1]}) does not exist")
    dirs = search_dirs(data_dir)
    path = _find(name, dirs)
    if path is None and explicit:
        raise DataError(f"{name}: not found in {explicit[0]} (from {explicit[1]}; "
                        f"expected {name} or {name}.gz there)")
    if path is None:
        mirrors = MIRRORS if mirrors is None else mirrors
        if os.environ.get("MNIST_MIRRORS"):
            mirrors = tuple(os.environ["MNIST_MIRRORS"].split(","))
        if not mirrors:
            raise DataError(f"{name}: not found in {', '.join(map(str, dirs))}")
        path = _download(name, mirrors)
    try:
        raw = path.read_bytes()
        content = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: truncated or not a valid gzip file ({exc})") from None
    expected = _expected_checksums()[name]
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise DataError(
            f"{path}: SHA-256 mismatch (expected {expected[:12]}..., got {actual[:12]}...): "
            "the file is corrupt or not MNIST; delete it and run again"
        )
    return content


@functools.lru_cache(maxsize=8)
def _load_pair(split: str, data_dir: str | None, mnist_dir_env: str | None = None) -> Split:
    """`mnist_dir_env` is only part of the cache key: a changed $MNIST_DIR must be searched anew."""
    image_name, label_name = FILES[split]
    try:
        images = from_idx(read_verified(image_name, data_dir), image_name)
        labels = from_idx(read_verified(label_name, data_dir), label_name)
    except CorruptStreamError as exc:  # checksum passed but shape is wrong: a wrong SHA256SUMS entry
        raise DataError(str(exc)) from None
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{image_name}/{label_name}: shapes {images.shape} and {labels.shape} do not match")
    return Split(split, images, labels)


#: Splits handed to this process by another that loaded them (`use_loaded`), by (split, data_dir).
_HANDED_OVER: dict[tuple[str, str | None], Split] = {}


def _pair(split: str, data_dir: str | None, env: str | None) -> Split:
    return _HANDED_OVER.get((split, data_dir)) or _load_pair(split, data_dir, env)


def loaded_pairs(data_dir=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The train and test (images, labels) as this process loads them: what a worker on another
    machine gets instead of the files (`use_loaded`), so it reads no data folder of its own."""
    return {name: (s.images, s.labels) for name in ("train", "test") for s in [load_split(name, data_dir)]}


def use_loaded(pairs: dict[str, tuple[np.ndarray, np.ndarray]], data_dir=None) -> None:
    """Serve `load_split(..., data_dir)` from `loaded_pairs`' arrays in this process (read-only, as
    loaded ones are): a cluster worker gets the data once per machine, not a folder per cell."""
    data_dir = str(data_dir) if data_dir else None
    for name, (images, labels) in pairs.items():
        _HANDED_OVER[(name, data_dir)] = Split(name, images, labels)


def load_split(split: str = "all", data_dir=None, limit: int | None = None) -> Split:
    """Load `train` (60,000), `test` (10,000) or `all` (70,000: train then test); first `limit` images."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be a positive number of images, got {limit}")
    data_dir = str(data_dir) if data_dir else None
    env = None if data_dir else os.environ.get("MNIST_DIR") or None
    if split == "all":
        train, test = _pair("train", data_dir, env), _pair("test", data_dir, env)
        if limit is not None and limit <= len(train):
            return Split("all", train.images[:limit], train.labels[:limit])
        whole = Split("all", np.concatenate([train.images, test.images]), np.concatenate([train.labels, test.labels]))
        return whole.head(limit)
    return _pair(split, data_dir, env).head(limit)
