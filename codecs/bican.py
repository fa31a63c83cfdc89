"""bican: the "Bicycle Convolutional Adversarial Network" compressor of the BiCAN write-up.

Faithful to its repository (lfzbrennan/Compressing-Mnist-using-BiCAN, scripts/mnist_compression.py),
with `scalar` = 200 * `width` channels (the repository's scalar is 200: ~96M parameters):
- images resized to 32x32 (bilinear) and scaled to [-1, 1];
- compressor: Conv 4x4/2 (1->s) LeakyReLU(0.1); Conv (s->2s) LeakyReLU BatchNorm; Conv (2s->4s)
  LeakyReLU BatchNorm; Linear 64s->16s LeakyReLU BatchNorm1d; Linear 16s->200; tanh;
- decompressor: Linear 200->16s ReLU BatchNorm1d; Linear 16s->64s and `nn.LeakyReLU(True)`, which
  sets negative_slope=True, i.e. 1.0, an identity (kept as in the repository); three transposed
  convolutions 4x4/2 (4s->2s->s->1) with LeakyReLU(0.1) and a final tanh;
- two cycle losses, both back-propagated into both networks: MSE(image, D(C(image))) and
  MSE(C(image), C(D(C(image)))); Adam 2e-4 for both (weight decay 1e-4 on the decompressor), batch 100;
- the code: 200 tanh outputs stored as uint8 by (z/2 + 0.5) * 256, truncated (the repository's
  `astype(np.ubyte)`) and clipped to 255: 200 bytes per image. The repository never decodes that
  uint8 file; here a byte u is read back as the middle of its bin, z = (u + 0.5) / 128 - 1.
Reconstructions are resized back to 28x28 before MSE is measured against the originals.

The write-up's "loss of roughly 1%" is its decompressor loss: MSE on the [-1, 1] scale at 32x32 (its
repository evaluated it in train mode, with batch statistics in BatchNorm; here in eval mode, as a
codec must run). `writeup_loss` reports that quantity on the test split, decoded from the uint8 code,
beside the harness's MSE/PSNR on [0, 1] pixels at 28x28.

`entropy_coded=True` range-codes the uint8 code with one histogram per dimension counted on the train
split's codes (`bench.coding.latent_stream`): the real rate of the same latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import register_codec
from bench.api.profiles import ProfileSet
from bench.coding.container import check_content, content_digest, header_count, seal, unseal
from bench.coding.latent_stream import FactorizedHistogram, compress_latents, decompress_latents
from bench.errors import CorruptStreamError
from bench.learn.latent_codec import TrainedLossyCodec
from bench.learn.model_cache import load_or_train
from bench.learn.model_file import load_tensors, pack_model, tensors_of
from bench.learn.training import (
    TRAINING_CODE_VERSION,
    TrainingBudget,
    apply_in_batches,
    images_to_tensor,
    seeded_training,
    to_uint8_images,
)

CODE_DIMS = 200
FAITHFUL_SCALAR = 200
_MAGIC_RAW = b"BIC1"
_MAGIC_CODED = b"BIC2"
CODING_BATCH = 500


@dataclass(frozen=True, kw_only=True)
class BicanProfile(TrainingBudget):
    width: float  # used when the codec's `width` is None
    batch: int = 100
    lr: float = 2e-4


def build_networks(scalar: int):
    from torch import nn

    s = scalar
    compressor = nn.Sequential(
        nn.Conv2d(1, s, 4, 2, 1), nn.LeakyReLU(0.1),
        nn.Conv2d(s, 2 * s, 4, 2, 1), nn.LeakyReLU(0.1), nn.BatchNorm2d(2 * s),
        nn.Conv2d(2 * s, 4 * s, 4, 2, 1), nn.LeakyReLU(0.1), nn.BatchNorm2d(4 * s),
        nn.Flatten(),
        nn.Linear(4 * s * 4 * 4, 4 * s * 4), nn.LeakyReLU(0.1), nn.BatchNorm1d(4 * s * 4),
        nn.Linear(4 * s * 4, CODE_DIMS), nn.Tanh(),
    )
    decompressor = nn.Sequential(
        nn.Linear(CODE_DIMS, 4 * s * 4), nn.ReLU(), nn.BatchNorm1d(4 * s * 4),
        nn.Linear(4 * s * 4, 4 * s * 4 * 4), nn.LeakyReLU(1.0),  # the repository's LeakyReLU(True)
        nn.Unflatten(1, (4 * s, 4, 4)),
        nn.ConvTranspose2d(4 * s, 2 * s, 4, 2, 1), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(2 * s, s, 4, 2, 1), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(s, 1, 4, 2, 1), nn.Tanh(),
    )
    return compressor, decompressor


def to_model_input(images: np.ndarray, device: str):
    """uint8 (n, 28, 28) -> float (n, 1, 32, 32) in [-1, 1], as the repository's transforms do."""
    import torch.nn.functional as F

    x = images_to_tensor(images, device)
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True) * 2 - 1


def to_images(output) -> np.ndarray:
    """Model output (n, 1, 32, 32) in [-1, 1] (tensor or numpy) -> uint8 (n, 28, 28)."""
    import torch
    import torch.nn.functional as F

    output = torch.as_tensor(output)
    return to_uint8_images(F.interpolate((output + 1) / 2, size=(28, 28), mode="bilinear", align_corners=False,
                                         antialias=True))


def code_to_bytes(z: np.ndarray) -> np.ndarray:
    """The repository's storage: (z/2 + 0.5) * 256 truncated to uint8 (clipped, so z = 1 is 255, not 0)."""
    return np.clip(np.floor((np.asarray(z, np.float64) / 2 + 0.5) * 256), 0, 255).astype(np.uint8)


def bytes_to_code(u: np.ndarray) -> np.ndarray:
    """Each byte read back as the middle of its bin."""
    return (np.asarray(u, np.float64) + 0.5) / 128 - 1


@register_codec("bican", configs=[{"entropy_coded": False}, {"entropy_coded": True}])
class Bican(TrainedLossyCodec):
    """BiCAN (write-up): conv compressor to 200 tanh numbers stored as 200 uint8, two cycle losses."""

    codec_name, coding_batch = "bican", CODING_BATCH
    profiles = ProfileSet(
        smoke=BicanProfile(width=0.04, epochs=1, batch=50, lr=2e-3, max_images=2000),
        default=BicanProfile(width=0.08, epochs=2),
        full=BicanProfile(width=1.0, epochs=20),  # the repository's model and schedule
    )

    def __init__(self, width: float | None = None, entropy_coded: bool = False):
        if width is not None and (not isinstance(width, (int, float)) or not 0 < width <= 1):
            raise ValueError(f"bican width must be in (0, 1] (1 = the repository's 200 channels), got {width!r}")
        self.width = width
        self.entropy_coded = bool(entropy_coded)
        self.scalar = 0
        self.compressor = self.decompressor = self.histogram = None
        self._decompressor_bytes = self._table_bytes = 0

    def _train(self, images: np.ndarray, ctx, profile: BicanProfile) -> bytes:
        import torch

        with seeded_training(ctx) as run:
            compressor, decompressor = (net.to(ctx.device) for net in build_networks(self.scalar))
            com_opt = torch.optim.Adam(compressor.parameters(), lr=profile.lr)
            decom_opt = torch.optim.Adam(decompressor.parameters(), lr=profile.lr, weight_decay=1e-4)
            x_all = to_model_input(images, ctx.device)
            n = len(x_all)
            steps = 0
            for _ in range(max(1, round(profile.epochs))):
                order = torch.randperm(n, generator=run.generator).to(ctx.device)
                for start in range(0, n - profile.batch + 1, profile.batch):
                    x = x_all[order[start:start + profile.batch]]
                    code = compressor(x)
                    recreated = decompressor(code)
                    decom_loss = torch.mean((x - recreated) ** 2)
                    com_loss = torch.mean((code - compressor(recreated)) ** 2)
                    com_opt.zero_grad(set_to_none=True)
                    decom_opt.zero_grad(set_to_none=True)
                    (decom_loss + com_loss).backward()  # = the repository's two backward() calls
                    com_opt.step()
                    decom_opt.step()
                    steps += 1
            meta = run.record(steps, n, scalar=self.scalar)
        return pack_model(meta, {**tensors_of(compressor, "compressor."), **tensors_of(decompressor, "decompressor.")})

    def fit(self, train) -> None:
        ctx = self.ctx
        width = self.profiles[ctx.profile].width if self.width is None else self.width
        self.scalar = max(1, round(FAITHFUL_SCALAR * width))  # the networks' size: training reads it
        training = {"scalar": self.scalar, "training_code": TRAINING_CODE_VERSION}
        train, model = self._trained_model(train, "weights", training)
        self.compressor, self.decompressor = build_networks(self.scalar)
        load_tensors(self.compressor, model, "compressor.", ctx.device).eval()
        load_tensors(self.decompressor, model, "decompressor.", ctx.device).eval()
        self._decompressor_bytes = model.stored_bytes("decompressor.")
        self._table_bytes = 0
        if self.entropy_coded:
            tables = load_or_train(self.identity, train.digest, ctx, tag="tables", params=training,
                                   train=lambda: FactorizedHistogram.fit(self.code(train.images), bounds=(0, 255)).to_bytes())
            self.histogram = FactorizedHistogram.from_bytes(tables)
            self._table_bytes = len(tables)

    @property
    def model_bytes(self) -> int:
        return self._decompressor_bytes + self._table_bytes

    def code(self, images: np.ndarray) -> np.ndarray:
        """The 200-byte code of each image (n, 200) uint8."""
        def encode(chunk):
            return code_to_bytes(self.compressor(to_model_input(chunk, self.device)).cpu().numpy())

        return apply_in_batches(encode, images, CODING_BATCH, np.zeros((0, CODE_DIMS), np.uint8))

    def recreate(self, code: np.ndarray) -> np.ndarray:
        """Decompressor output (n, 1, 32, 32) in [-1, 1] for uint8 codes, as float32 numpy."""
        import torch

        def decode(chunk):
            z = torch.tensor(bytes_to_code(chunk), dtype=torch.float32, device=self.device)
            return self.decompressor(z).cpu().numpy()

        return apply_in_batches(decode, code, CODING_BATCH, np.zeros((0, 1, 32, 32), np.float32))

    def compress(self, images: np.ndarray) -> bytes:
        code = self.code(images)
        if self.entropy_coded:
            return compress_latents(self.histogram.clip(code), self.histogram, _MAGIC_CODED)
        return seal(_MAGIC_RAW, {"n": len(code), "d": CODE_DIMS}, code.tobytes(), content_digest(code))

    def decompress(self, data: bytes) -> np.ndarray:
        name = self.name or "bican"
        if self.entropy_coded:
            code = decompress_latents(data, self.histogram, _MAGIC_CODED, name).astype(np.uint8)
        else:
            header, body, digest = unseal(data, _MAGIC_RAW, name)
            if set(header) != {"n", "d"} or header["d"] != CODE_DIMS:
                raise CorruptStreamError(f"{name}: stream header {header} is not a {CODE_DIMS}-byte code's")
            n = header_count(header, "n", len(body) // CODE_DIMS, name)
            if len(body) != n * CODE_DIMS:
                raise CorruptStreamError(f"{name}: {len(body)} code bytes for {n} images of {CODE_DIMS}")
            code = np.frombuffer(body, dtype=np.uint8).reshape(n, CODE_DIMS)
            check_content(code, digest)
        return to_images(self.recreate(code))

    def writeup_loss_on(self, images: np.ndarray) -> float:
        """The write-up's 'loss': MSE between the [-1, 1] 32x32 input and the decompressor's output."""
        recreated = self.recreate(self.code(images))
        return float(np.mean((to_model_input(images, "cpu").numpy() - recreated) ** 2))

    def extra_columns(self) -> dict:
        return {
            # On the real test split, as the write-up's validation loss (harness time, not timed).
            "writeup_loss": (self.writeup_loss_on(self.ctx.split("test").images)
                             if self.compressor is not None else None),
            "latent_dims": CODE_DIMS,
            "code_bytes_per_image": CODE_DIMS,
            "bican_scalar": self.scalar,
            **self.training_columns(),
        }
