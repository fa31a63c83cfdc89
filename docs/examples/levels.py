"""levels: each pixel snapped to one of a few gray levels learned on the train split, then zlib."""

import zlib
from dataclasses import dataclass

import numpy as np

from bench import CorruptStreamError, ImageCodec, register_codec
from bench.api.profiles import Profile, ProfileSet
from bench.coding.container import check_content, content_digest, header_count, seal, unseal


@dataclass(frozen=True, kw_only=True)
class LevelsProfile(Profile):  # a training budget: a frozen keyword-only dataclass of plain values
    iterations: int  # Lloyd iterations over the train histogram
    max_images: int | None = None  # train images used (None: all)


@register_codec("levels", configs=[{"levels": 2}, {"levels": 4}, {"levels": 16}])
class Levels(ImageCodec):
    """Pixels snapped to `levels` gray values fitted on train (Lloyd-Max), zlib-coded."""

    kind = "lossy"  # "lossless" (round trip checked image by image) or "lossy"; DatasetCodec for sets
    profiles = ProfileSet(smoke=LevelsProfile(iterations=2, max_images=1_000),
                          default=LevelsProfile(iterations=20), full=LevelsProfile(iterations=200))

    def __init__(self, levels: int = 4):  # the parameters: keywords with defaults, validated here
        if not isinstance(levels, int) or not 2 <= levels <= 256:
            raise ValueError(f"levels must be an integer in 2..256, got {levels!r}")
        self.levels = levels

    def fit(self, train) -> None:  # the train split; the run (profile, device, seed, cache) is self.ctx
        budget = self.profiles[self.ctx.profile]
        counts = np.bincount(train.head(budget.max_images).images.ravel(), minlength=256)
        values, centres = np.arange(256.0), np.linspace(0, 255, self.levels)
        for _ in range(budget.iterations):
            nearest = np.abs(values[:, None] - centres).argmin(1)
            for j in range(self.levels):
                if counts[nearest == j].sum():
                    centres[j] = np.average(values[nearest == j], weights=counts[nearest == j])
        self.centres = np.round(centres).astype(np.uint8)
        self.index = np.abs(values[:, None] - self.centres).argmin(1).astype(np.uint8)
        self.model_bytes = self.centres.nbytes  # what a decoder holds besides the payload

    def compress(self, images: np.ndarray) -> bytes:  # (n, 28, 28) uint8 -> bytes
        symbols = self.index[images]
        body = zlib.compress(symbols.tobytes(), 9)
        return seal(b"LVL1", {"n": len(images)}, body, content_digest(self.centres[symbols]))

    def decompress(self, data: bytes) -> np.ndarray:  # damage -> one CorruptStreamError line
        header, body, digest = unseal(data, b"LVL1")
        n = header_count(header, "n", len(body) * 1032 // 784 + 1)  # zlib expands at most 1032x
        try:
            raw = zlib.decompressobj().decompress(body, n * 784)
            images = self.centres[np.frombuffer(raw, np.uint8).reshape(n, 28, 28)]
        except (zlib.error, ValueError) as exc:  # a damaged body
            raise CorruptStreamError(f"levels: {exc}") from None
        check_content(images, digest)
        return images
