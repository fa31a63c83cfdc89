"""pca-cnn: PCA transform coding with a learned decoder.

The encoder is the PCA codec's (all 784 principal axes of the train split, one uniform step, one
range-coding histogram per coefficient counted on the quantised train coefficients). The decoder adds
a small fully convolutional network that takes the clipped linear reconstruction and the step, and
predicts a correction: it learns what quantisation does to digits (faint ringing on the black
background, blurred strokes) and undoes it. One network serves every step of the sweep: it is trained
on train reconstructions at steps drawn log-uniform over `STEP_RANGE`, with the real rounding.

Why this design: with a few CPU minutes, an end-to-end autoencoder (conv-ae) lands on or below the
PCA curve, while a pixel-space correction trained on PCA's own output gains at once (measured:
docs/codecs.md; the results: docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import register_codec
from bench.api.profiles import ProfileSet
from bench.learn.latent_codec import UniformLatentCodec
from bench.learn.model_file import load_tensors, pack_model, tensors_of
from bench.learn.principal_axes import principal_axes
from bench.learn.training import (
    TRAINING_CODE_VERSION,
    TrainingBudget,
    images_to_tensor,
    seeded_training,
    to_uint8_images,
    train_with_random_steps,
)

_MAGIC = b"PCN1"
STEP_RANGE = (0.06, 1.0)
CODING_BATCH = 1000
SWEEP_STEPS = (0.8, 0.5, 0.4, 0.3, 0.25, 0.18, 0.12, 0.08, 0.06)  # about 20 to 190 B per image


@dataclass(frozen=True, kw_only=True)
class PcaCnnProfile(TrainingBudget):
    channels: int
    layers: int


def build_refiner(profile: PcaCnnProfile):
    """Input: (reconstruction, log step) planes; output: a correction added to the reconstruction."""
    from torch import nn

    c = profile.channels
    layers = [nn.Conv2d(2, c, 3, 1, 1), nn.GELU()]
    for _ in range(profile.layers - 2):
        layers += [nn.Conv2d(c, c, 3, 1, 1), nn.GELU()]
    last = nn.Conv2d(c, 1, 3, 1, 1)
    nn.init.zeros_(last.weight)  # starts as plain PCA decoding and can only learn from there
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


@register_codec("pca-cnn", configs=[{"step": s} for s in SWEEP_STEPS])
class PcaCnn(UniformLatentCodec):
    """PCA coefficients range-coded with train histograms, decoded by a CNN trained on the train split."""

    codec_name, magic, coding_batch = "pca-cnn", _MAGIC, CODING_BATCH
    profiles = ProfileSet(
        smoke=PcaCnnProfile(channels=8, layers=3, epochs=3, lr=3e-3, max_images=2000),
        default=PcaCnnProfile(channels=16, layers=4, epochs=1.5),
        full=PcaCnnProfile(channels=64, layers=6, epochs=30),
    )

    def __init__(self, step: float = 0.3):
        if not isinstance(step, (int, float)) or not step > 0:
            raise ValueError(f"pca-cnn step must be a positive number, got {step!r}")
        self._use_step(step)
        self.mean = self.axes = self.refiner = None
        self._refiner_bytes = 0

    def latents(self, images: np.ndarray) -> np.ndarray:
        """The PCA coefficients of the images."""
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        return (x - self.mean) @ self.axes

    def _linear_decode(self, coefficients):
        """Torch (n, 784) dequantised coefficients -> (n, 1, 28, 28) clipped linear reconstruction."""
        import torch

        axes = torch.as_tensor(self.axes, device=coefficients.device)
        mean = torch.as_tensor(self.mean, device=coefficients.device)
        return (coefficients @ axes.T + mean).clamp_(0, 1).view(-1, 1, 28, 28)

    def _refine(self, refiner, linear, step):
        import torch

        log_step = torch.log(step).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)
        return linear + refiner(torch.cat([linear, log_step], dim=1))

    def _train(self, images: np.ndarray, ctx, profile: PcaCnnProfile) -> bytes:
        import torch

        with seeded_training(ctx) as run:
            refiner = build_refiner(profile).to(ctx.device)
            coefficients = torch.tensor(self.latents(images), device=ctx.device)
            targets = images_to_tensor(images, ctx.device)

            def batch_loss(indices, step):
                quantised = torch.round(coefficients[indices] / step[:, None]) * step[:, None]  # the real rounding
                with torch.no_grad():
                    linear = self._linear_decode(quantised)
                return torch.mean((self._refine(refiner, linear, step) - targets[indices]) ** 2)

            steps = train_with_random_steps(refiner.parameters(), len(images), profile, STEP_RANGE, run,
                                            batch_loss)
            meta = run.record(steps, len(images))
        return pack_model(meta, tensors_of(refiner, "refiner."))

    def fit(self, train) -> None:
        # The axes come first: training reads the coefficients.
        head = train.head(self.profiles[self.ctx.profile].max_images)
        mean, axes = principal_axes(head.images, head.digest)
        self.mean, self.axes = mean.astype(np.float32), np.ascontiguousarray(axes, dtype=np.float32)
        train, model = self._trained_model(train, "refiner", {"training_code": TRAINING_CODE_VERSION})
        self.refiner = load_tensors(build_refiner(self.profiles[self.ctx.profile]), model, "refiner.", self.device).eval()
        self._refiner_bytes = model.stored_bytes("refiner.")
        self.latent_code.fit(self, train.digest, self.ctx, lambda: self.latents(train.images),
                             params={"step": self.step})

    @property
    def model_bytes(self) -> int:
        # What a receiver holds: mean and axes (float32), the network, the tables.
        if self.latent_code.histogram is None:
            return 0
        return self.mean.nbytes + self.axes.nbytes + self._refiner_bytes + self.latent_code.table_bytes

    def decode_batch(self, symbols: np.ndarray) -> np.ndarray:
        import torch

        coefficients = torch.tensor(symbols * self.step, dtype=torch.float32, device=self.device)
        step = torch.full((len(coefficients),), self.step, device=self.device)
        return to_uint8_images(self._refine(self.refiner, self._linear_decode(coefficients), step))

    def extra_columns(self) -> dict:
        # Most latents clipped in one compress call since fit (train images never are).
        return {"latents_clipped": self.latent_code.clipped, **self.training_columns()}
