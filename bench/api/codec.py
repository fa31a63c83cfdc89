"""The codec interface. Every codec is a class registered with `@register_codec`.

Three kinds:
- `lossless` / `lossy` image codecs (ImageCodec): `compress(images) -> bytes`,
  `decompress(bytes) -> images`; images are (n, 28, 28) uint8. A lossless codec's round trip is
  verified image by image on every run, against `reference(images)` (the images, by default).
  A codec that codes each image on its own declares it (`per_image = True`, with `encode_image` /
  `decode_image`); `bench.coding.parallel` then spreads the images over the cores.
- `dataset` codecs (DatasetCodec): `compress_dataset(X, y) -> bytes`,
  `decompress_dataset(bytes) -> (X', y')`, judged by a classifier trained on (X', y').

The constructor's keyword arguments are the codec's parameters (the registry reads them from
the signature); it validates them and raises ValueError with a readable message. The run's
context (`self.ctx`: device, profile, seed, cache) is bound by `create_codec` before anything
else is called, so `fit`, `compress` and `decompress` all see the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bench.api.identity import CodecIdentity, code_version
from bench.api.profiles import PROFILES as PROFILES  # the names, re-exported
from bench.api.profiles import ProfileSet

if TYPE_CHECKING:
    from bench.data.mnist import Split


@dataclass
class RunContext:
    """What a learned codec needs to know about the run it is part of."""

    profile: str = "default"
    device: str = "cpu"  # resolved: "cpu" or "cuda[:i]"
    seed: int = 0
    #: The judge's seed where it differs from the codec's (a suite's judge-only seeds); None: `seed`.
    judge_seed: int | None = None
    data_dir: str | None = None
    cache_dir: Path = field(default_factory=lambda: Path(".cache"))
    verbose: bool = False  # `bench run -v`: print the traceback of a failing cell
    #: `bench run --retrain`: learned codecs train from scratch instead of taking their shipped weights.
    retrain: bool = False

    def split(self, name: str = "all", limit: int | None = None) -> Split:
        """The run's MNIST data: every part of the harness and every codec reads it through here."""
        from bench.data.mnist import load_split

        return load_split(name, self.data_dir, limit)

    @property
    def judge_training_seed(self) -> int:
        """The seed the judge trains under."""
        return self.seed if self.judge_seed is None else self.judge_seed


@dataclass(frozen=True)
class Seeding:
    """The seeds one configuration runs under, each a cell and a row of its own (`RunContext.seed`,
    or only `RunContext.judge_seed`)."""

    seeds: tuple[int, ...]
    #: Only the judge's seed varies: the codec trains (and selects) under the run's seed, so its model is
    #: trained once and only the judge's noise is measured.
    judge_only: bool = False


class Codec:
    kind: ClassVar[str] = ""
    #: Set by the registry: the registered name, the full parameter dict (defaults filled in), and
    #: the run's context.
    name: str = ""
    params: dict = {}
    ctx: RunContext

    #: "neural" or "classical": the codec's side in the report's verdict. Empty: the registry decides by
    #: the folder the codec lives in (`codecs/` neural, `baselines/` classical).
    approach: ClassVar[str] = ""

    #: Bytes of the trained weights or tables a decoder needs besides the payload.
    model_bytes: int = 0

    #: True for codecs whose work runs in torch on the run's device; a row of any other codec says
    #: "cpu" whatever device the run asked for, and only torch codecs wait for the GPU when timed.
    uses_torch: ClassVar[bool] = False

    #: Parameters that pick a model of its own: configurations differing in one of them train and share
    #: nothing, so an executor may run them side by side (the others of one codec run one after another,
    #: so a model they share is trained once). Empty: every configuration may share a model.
    model_params: ClassVar[tuple[str, ...]] = ()

    #: A learned codec's training budgets (`bench.api.profiles`); None for codecs that train nothing.
    profiles: ClassVar[ProfileSet | None] = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this codec cannot run on this machine (e.g. "no paq8px on PATH and $PAQ8PX unset"), or
        None when it can. `bench list` shows the reason; the runner writes a `skipped` row with it
        instead of running the cell, and `--resume` tries the cell again."""
        return None

    @property
    def identity(self) -> CodecIdentity:
        """What a trained model of this codec is keyed by: name, parameters, code version."""
        return CodecIdentity(self.name or type(self).__name__, dict(self.params), code_version(type(self)))

    def fit(self, train: Split) -> None:
        """Train on the train split (learned codecs); classical codecs need nothing."""

    def extra_columns(self) -> dict:
        """Codec-specific measurements added to the row (e.g. ideal code length, nominal ratio)."""
        return {}

    @property
    def checked_exact(self) -> bool:
        """Whether every run must find the decode equal to the codec's reference image by image (a
        lossless codec, or one exact on a fixed transform of the images); never a dataset codec."""
        return False


class ImageCodec(Codec):
    kind = "lossless"
    #: True when every image is coded on its own (`encode_image` / `decode_image`): the harness may
    #: then code the images on several cores (`bench.coding.parallel.encode_each`).
    per_image: bool = False

    def compress(self, images: np.ndarray) -> bytes:
        raise NotImplementedError

    def decompress(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def encode_image(self, image: np.ndarray) -> bytes:
        """One (28, 28) uint8 image to bytes (codecs with `per_image`)."""
        raise NotImplementedError

    def decode_image(self, blob: bytes) -> np.ndarray | bytes:
        """The inverse of `encode_image`: the image, or its 784 pixel bytes."""
        raise NotImplementedError

    #: A lossy codec that is exact on a fixed transform of the images names the transform here (e.g.
    #: "binarised at 128"); `reference` returns the transformed images, and every run checks the decode
    #: against them image by image, as it checks a lossless codec against the images. Such a codec is
    #: lossy against MNIST: its error, PSNR and accuracy are measured on its decode, like any lossy codec.
    exact_source: ClassVar[str] = ""

    def reference(self, images: np.ndarray) -> np.ndarray:
        """What a perfect decode of `images` equals: the images themselves, unless the codec codes a
        fixed transform of them (`exact_source`). `lossless_ok` compares the decode with this;
        MSE and PSNR are still measured against the 8-bit originals."""
        return images

    @property
    def checked_exact(self) -> bool:
        return self.kind == "lossless" or bool(self.exact_source)


class DatasetCodec(Codec):
    kind = "dataset"

    def compress_dataset(self, images: np.ndarray, labels: np.ndarray) -> bytes:
        raise NotImplementedError

    def decompress_dataset(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
