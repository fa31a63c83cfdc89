"""The codec interface. Every codec is a class registered with `@register_codec`.

Three kinds:
- `lossless` / `lossy` image codecs (ImageCodec): `compress(images) -> bytes`,
  `decompress(bytes) -> images`; images are (n, 28, 28) uint8. A lossless codec's round trip is
  verified image by image on every run, against `reference(images)` (the images, by default).
- `dataset` codecs (DatasetCodec): `compress_dataset(X, y) -> bytes`,
  `decompress_dataset(bytes) -> (X', y')`, judged by a classifier trained on (X', y').

The constructor's keyword arguments are the codec's parameters (the registry reads them from
the signature); it validates them and raises ValueError with a readable message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from bench.data.mnist import Split

PROFILES = ("smoke", "default", "full")


@dataclass
class RunContext:
    """What a learned codec needs to know about the run it is part of."""

    profile: str = "default"
    device: str = "cpu"  # resolved: "cpu" or "cuda[:i]"
    seed: int = 0
    data_dir: str | None = None
    cache_dir: Path = field(default_factory=lambda: Path(".cache"))


class Codec:
    kind: ClassVar[str] = ""
    #: Set by the registry: the registered name and the full parameter dict (defaults filled in).
    name: str = ""
    params: dict = {}

    #: Bytes of the trained weights or tables a decoder needs besides the payload.
    model_bytes: int = 0

    #: True for codecs whose work runs in torch (device placement, GPU synchronisation).
    uses_torch: ClassVar[bool] = False

    def fit(self, train: Split, ctx: RunContext) -> None:
        """Train on the train split (learned codecs); classical codecs need nothing."""

    def extra_columns(self) -> dict:
        """Codec-specific measurements added to the row (e.g. ideal code length, nominal ratio)."""
        return {}


class ImageCodec(Codec):
    kind = "lossless"

    def compress(self, images: np.ndarray) -> bytes:
        raise NotImplementedError

    def decompress(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def reference(self, images: np.ndarray) -> np.ndarray:
        """What a perfect decode of `images` equals: the images themselves, unless the codec codes a
        fixed transform of them (e.g. binarised pixels). `lossless_ok` compares the decode with this;
        MSE and PSNR are still measured against the 8-bit originals."""
        return images


class DatasetCodec(Codec):
    kind = "dataset"

    def compress_dataset(self, images: np.ndarray, labels: np.ndarray) -> bytes:
        raise NotImplementedError

    def decompress_dataset(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
