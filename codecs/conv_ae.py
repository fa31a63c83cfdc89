"""conv-ae: the write-up's convolutional autoencoder, turned into a codec that writes real bytes.

The write-up names its settings by a "compression percentage" of latent dims / 784: 392, 78, 39
and 8 dims are its 50%, 90%, 95% and 99%. That ratio counts latent *numbers*, not bytes: a float32
latent of 392 dims is 1,568 bytes, twice the 784-byte image. Here the latent is quantised and
entropy-coded, so the bytes are real; `nominal_ratio` and `float32_latent_bytes` keep the write-up's
accounting beside them.

- Networks: two 4x4 stride-2 convolutions (28 -> 14 -> 7) and two linear layers down to the latent;
  the decoder mirrors them with transposed convolutions. MSE on [0, 1] pixels.
- Rate: trained as in Balle et al. (2017): the rounding is replaced by additive uniform noise and a
  factorised prior (a mixture of logistics per latent dimension) gives a differentiable bit count;
  loss = bits/784 + lam / step**2 * MSE. The step is drawn per image, log-uniform in [0.5, 2], so one
  model serves every `step` of the sweep (lam / step**2 is where a uniform quantiser of that step is
  rate-distortion optimal, so each step gets its own trade-off).
- Coding: q = round(latent / step), range-coded with one histogram per dimension counted on the
  quantised train latents (`bench.coding.latent_stream`); the histograms, not the training prior, are the
  probability model the decoder holds, stored beside the decoder weights (`model_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import register_codec
from bench.api.profiles import ProfileSet
from bench.learn.latent_codec import UniformLatentCodec
from bench.learn.model_file import load_tensors, pack_model, tensors_of
from bench.learn.training import (
    TRAINING_CODE_VERSION,
    TrainingBudget,
    apply_in_batches,
    images_to_tensor,
    seeded_training,
    to_uint8_images,
    train_with_random_steps,
)

WRITEUP_DIMS = (392, 78, 39, 8)  # the write-up's 50%, 90%, 95%, 99% "compression"
_MAGIC = b"CAE1"
STEP_RANGE = (0.5, 2.0)  # training draws steps from here; `step` outside it still works, less well
CODING_BATCH = 1000


@dataclass(frozen=True, kw_only=True)
class ConvAeProfile(TrainingBudget):
    conv1: int
    conv2: int
    hidden: int


def _configs() -> list[dict]:
    writeup = [{"latent_dims": d} for d in WRITEUP_DIMS]
    sweep = [{"latent_dims": 78, "step": s} for s in (0.5, 0.7, 1.4, 2.0)]
    return writeup + sweep


def build_networks(latent_dims: int, profile: ConvAeProfile):
    from torch import nn

    c1, c2, h = profile.conv1, profile.conv2, profile.hidden
    encoder = nn.Sequential(
        nn.Conv2d(1, c1, 4, 2, 1), nn.GELU(),   # 14x14
        nn.Conv2d(c1, c2, 4, 2, 1), nn.GELU(),  # 7x7
        nn.Flatten(), nn.Linear(c2 * 49, h), nn.GELU(), nn.Linear(h, latent_dims),
    )
    decoder = nn.Sequential(
        nn.Linear(latent_dims, h), nn.GELU(), nn.Linear(h, c2 * 49), nn.GELU(), nn.Unflatten(1, (c2, 7, 7)),
        nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.GELU(),
        nn.ConvTranspose2d(c1, 1, 4, 2, 1),  # linear output, clipped when decoding: trains faster than a sigmoid
    )
    return encoder, decoder


class LogisticMixturePrior:
    """Per-dimension mixture of logistics; bits of a noisy latent under the prior convolved with U(-w/2, w/2)."""

    def __init__(self, dims: int, components: int = 3, device: str = "cpu"):
        import torch

        self.loc = torch.linspace(-2, 2, components, device=device).repeat(dims, 1).requires_grad_()
        self.log_scale = torch.zeros(dims, components, device=device, requires_grad=True)
        self.logits = torch.zeros(dims, components, device=device, requires_grad=True)

    def parameters(self):
        return [self.loc, self.log_scale, self.logits]

    def bits(self, noisy, width):
        import torch

        y = noisy.unsqueeze(-1)
        half = (width / 2).view(-1, 1, 1)
        scale = self.log_scale.exp()
        upper = torch.sigmoid((y + half - self.loc) / scale)
        lower = torch.sigmoid((y - half - self.loc) / scale)
        p = (torch.softmax(self.logits, -1) * (upper - lower)).sum(-1)
        return -torch.log2(p.clamp_min(1e-9)).sum(-1)


@register_codec("conv-ae", configs=_configs(),
                roles={"writeup-autoencoder": [{"latent_dims": 39}, {"latent_dims": 8}]})  # 95%, 99%
class ConvAutoencoder(UniformLatentCodec):
    """Convolutional autoencoder (write-up's 50/90/95/99% latents), quantised and entropy-coded latent."""

    codec_name, magic, coding_batch = "conv-ae", _MAGIC, CODING_BATCH
    profiles = ProfileSet(
        smoke=ConvAeProfile(conv1=8, conv2=16, hidden=64, epochs=2, lr=4e-3, max_images=2000),
        default=ConvAeProfile(conv1=16, conv2=32, hidden=256, epochs=3),
        full=ConvAeProfile(conv1=32, conv2=64, hidden=512, epochs=40, batch=128, lr=2e-3),
    )

    def __init__(self, latent_dims: int = 78, step: float = 1.0, lam: float = 50.0):
        if not isinstance(latent_dims, int) or not 1 <= latent_dims <= 784:
            raise ValueError(f"conv-ae latent_dims must be an integer in 1..784, got {latent_dims!r}")
        if not isinstance(step, (int, float)) or not step > 0:
            raise ValueError(f"conv-ae step must be a positive number, got {step!r}")
        if not isinstance(lam, (int, float)) or not lam > 0:
            raise ValueError(f"conv-ae lam must be a positive number, got {lam!r}")
        self.latent_dims = latent_dims
        self._use_step(step)
        self.lam = float(lam)
        self.encoder = self.decoder = None
        self._decoder_bytes = 0

    # --- training ------------------------------------------------------------------------------
    def _training_params(self) -> dict:
        return {"latent_dims": self.latent_dims, "lam": self.lam, "training_code": TRAINING_CODE_VERSION}

    def _train(self, images: np.ndarray, ctx, profile: ConvAeProfile) -> bytes:
        import torch

        with seeded_training(ctx) as run:
            encoder, decoder = (net.to(ctx.device) for net in build_networks(self.latent_dims, profile))
            prior = LogisticMixturePrior(self.latent_dims, device=ctx.device)
            x_all = images_to_tensor(images, ctx.device)

            def batch_loss(indices, width):  # width: the quantiser step, here the width of the noise
                x = x_all[indices]
                latent = encoder(x)
                noise = torch.rand(latent.shape, generator=run.generator).to(ctx.device) - 0.5
                noisy = latent + noise * width[:, None]
                mse = ((decoder(noisy) - x) ** 2).flatten(1).mean(1)
                return (prior.bits(noisy, width) / 784 + self.lam / width**2 * mse).mean()

            steps = train_with_random_steps([*encoder.parameters(), *decoder.parameters(), *prior.parameters()],
                                            len(x_all), profile, STEP_RANGE, run, batch_loss)
            meta = run.record(steps, len(x_all))
        return pack_model(meta, {**tensors_of(encoder, "encoder."), **tensors_of(decoder, "decoder.")})

    def latents(self, images: np.ndarray) -> np.ndarray:
        """Continuous latents (n, dims) as float64 numpy."""
        return apply_in_batches(lambda chunk: self.encoder(images_to_tensor(chunk, self.device)).cpu().numpy(),
                                images, CODING_BATCH, np.zeros((0, self.latent_dims))).astype(np.float64)

    def fit(self, train) -> None:
        training = self._training_params()
        train, model = self._trained_model(train, "weights", training)
        self.encoder, self.decoder = build_networks(self.latent_dims, self.profiles[self.ctx.profile])
        load_tensors(self.encoder, model, "encoder.", self.device).eval()
        load_tensors(self.decoder, model, "decoder.", self.device).eval()
        self._decoder_bytes = model.stored_bytes("decoder.")
        self.latent_code.fit(self, train.digest, self.ctx, lambda: self.latents(train.images),
                             params={**training, "step": self.step})

    # --- coding --------------------------------------------------------------------------------
    @property
    def histogram(self):
        return self.latent_code.histogram

    @property
    def model_bytes(self) -> int:
        return self._decoder_bytes + self.latent_code.table_bytes

    def quantise(self, images: np.ndarray) -> np.ndarray:
        """The integer latents the stream carries (clipped to the tables' range, counted)."""
        return self.latent_code.symbols(self.latents(images))

    def decode_batch(self, symbols: np.ndarray) -> np.ndarray:
        import torch

        z = torch.tensor(symbols * self.step, dtype=torch.float32, device=self.device)
        return to_uint8_images(self.decoder(z).clamp_(0, 1))

    def extra_columns(self) -> dict:
        return {
            "latent_dims": self.latent_dims,
            # The write-up's accounting: latent numbers / pixels, whatever a number costs.
            "nominal_ratio": self.latent_dims / 784,
            "nominal_compression_pct": 100 * (1 - self.latent_dims / 784),
            # What that latent costs stored as float32, the way the write-up keeps it.
            "float32_latent_bytes": 4 * self.latent_dims,
            # Most latents clipped to the tables' range in one compress call since fit: those of the
            # coded split (train images never are: the tables span the train range).
            "latents_clipped": self.latent_code.clipped,
            **self.training_columns(),
        }
