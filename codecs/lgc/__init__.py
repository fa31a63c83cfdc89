"""Latent Gaussian Compression (LGC): a dataset codec that ships a generative model instead of images.

Sender: an autoencoder with a 64-dim latent is trained on the train split (variants: `vanilla` AE,
`vae`, conditional VAE `cvae`, `contrastive` VAE = VAE + supervised contrastive loss on the latent
means). The training set is encoded; per class, a Gaussian mixture is fitted to the class's latent
vectors (scikit-learn `GaussianMixture`), its number of components chosen by BIC (or fixed).

Payload: the bench's sealed stream (`bench.coding.container.seal`) around gzip -9 of a body: a small
header, the class counts, each class's mixture (weights, means, covariance Cholesky factors) and the
decoder's weights, all at `precision` float32 (as the write-up ships them), float16 or int8 (per-row
affine quantisation). The seal's content digest is of that body, before gzip: the receiver samples the
images with its own floats, so the body, not the images, is what both sides must agree on, and a
change inside the gzip (re-compressed, its CRC right) is caught. The encoder stays with the sender.

Receiver: per class, as many latents as the class had images, sampled from its mixture with the seed
stored in the payload, decoded by the small decoder: a synthetic labelled training set. The decoder's
pixel logits are multiplied by `sharpen` (stored in the payload) before the sigmoid: a VAE decoder's
mean image is blurry, and a classifier trained on blurry digits does badly on the sharp real ones
(measured: docs/codecs.md; the results: docs/results.md).

The package: `networks.py` (the autoencoder), `mixtures.py` (the per-class mixtures), `payload.py` (the
body's arrays and its reader), and here the codec, its training and its stream.
"""

from __future__ import annotations

import gzip
import struct
import time
import zlib

import numpy as np

from bench import DatasetCodec, register_codec
from bench.api.profiles import ProfileSet
from bench.coding.container import (
    check_content,
    content_digest,
    int_in,
    seal,
    unseal,
    write_varint,
)
from bench.errors import CorruptStreamError
from bench.learn.classifier import N_CLASSES
from bench.learn.model_cache import load_or_train
from bench.learn.model_file import load_tensors, pack_model, tensors_of, unpack_model

from .mixtures import bic_candidates, fit_class_mixture, mixture_arrays, sample_mixture
from .networks import LgcProfile, build_decoder, build_encoder, supervised_contrastive_loss
from .payload import BodyReader, factor_shape, pack_array

__all__ = ["STREAM_MAGIC", "BodyReader", "LatentGaussianCompression", "LgcProfile", "bic_candidates",
           "fit_class_mixture", "pack_array", "sample_mixture"]

VARIANTS = ("vanilla", "vae", "cvae", "contrastive")
COVARIANCES = ("full", "diag", "tied", "spherical")
PRECISIONS = ("float32", "float16", "int8")
MAGIC = b"LGC1"  # of the body inside the gzip
#: The sealed stream around it; its header holds the body's length, which bounds the gzip's expansion.
STREAM_MAGIC = b"LGC2"
MAX_BODY_BYTES = 1 << 30
CONTRASTIVE_WEIGHT = 10.0
CONTRASTIVE_TEMPERATURE = 0.2
DECODE_BATCH = 2000
MAX_SAMPLED_IMAGES = 10**6
MAX_SAMPLED_LATENTS = 1 << 28
#: The parameters that determine the trained autoencoder (the rest only shape the payload).
AUTOENCODER_PARAMS = ("variant", "latent_dim", "width")


def _check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _lgc_configs() -> list[dict]:
    """The sweep, most informative first (a CPU run may be stopped part-way and resumed)."""
    main = {"variant": "cvae", "width": 16, "covariance": "diag", "components": "bic", "precision": "int8",
            "sharpen": 3.0}
    configs = [main, {**main, "precision": "float32"}, {**main, "sharpen": 1.0}]
    configs += [{**main, "width": w} for w in (8, 32)]
    configs += [{**main, "variant": "vanilla"}, {**main, "covariance": "full"}, {**main, "components": 1}]
    configs += [{**main, "variant": v} for v in ("vae", "contrastive")]
    return configs


@register_codec("lgc", configs=_lgc_configs())
class LatentGaussianCompression(DatasetCodec):
    """Latent Gaussian Compression: per-class GMMs in an autoencoder's latent space + a small decoder."""

    uses_torch = True
    profiles = ProfileSet(
        # A slice large enough that the benchmark slice's pinned accuracy means something (measured:
        # 2 epochs of 2,000 images gave chance level, 9.8%; 4 of 10,000, 9 s here, give 69%).
        smoke=LgcProfile(epochs=4, max_images=10000),
        default=LgcProfile(epochs=3, max_images=None),
        full=LgcProfile(epochs=40, max_images=None),
    )

    def __init__(self, variant: str = "cvae", latent_dim: int = 64, width: int = 16, covariance: str = "diag",
                 components="bic", max_components: int = 32, precision: str = "int8", sharpen: float = 3.0):
        self.variant = _check_choice("variant", variant, VARIANTS)
        self.covariance = _check_choice("covariance", covariance, COVARIANCES)
        self.precision = _check_choice("precision", precision, PRECISIONS)
        for name, value in (("latent_dim", latent_dim), ("width", width), ("max_components", max_components)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if components != "bic" and (not isinstance(components, int) or isinstance(components, bool) or components < 1):
            raise ValueError(f"components must be 'bic' or a positive integer, got {components!r}")
        if not isinstance(sharpen, (int, float)) or isinstance(sharpen, bool) or not 0 < sharpen <= 100:
            raise ValueError(f"sharpen must be a number in (0, 100], got {sharpen!r}")
        self.latent_dim, self.width, self.components, self.max_components = latent_dim, width, components, max_components
        self.sharpen = float(sharpen)
        self.encoder = self.decoder = None
        self.columns: dict = {}

    @property
    def conditional(self) -> bool:
        return self.variant == "cvae"

    @property
    def variational(self) -> bool:
        return self.variant != "vanilla"

    # ---- training (sender side)

    def fit(self, train) -> None:
        ctx = self.ctx
        profile = self.profiles[ctx.profile]
        train = train.head(profile.max_images)
        # Keyed by the autoencoder's own parameters only: every mixture / precision setting shares it.
        owner = self.identity.with_params({k: getattr(self, k) for k in AUTOENCODER_PARAMS})
        blob = load_or_train(owner, train.digest, ctx, lambda: self._train(train, profile), tag="autoencoder")
        model = unpack_model(blob, "lgc autoencoder")
        # Training times travel with the cached model, so a cache hit still reports what training cost.
        self.columns.update(ae_train_s=model.meta["train_s"], ae_train_cpu_s=model.meta["train_cpu_s"])
        encoder = build_encoder(self.latent_dim, self.variational, self.conditional)
        decoder = build_decoder(self.latent_dim, self.width, self.conditional)
        self.encoder = load_tensors(encoder, model, "encoder.", ctx.device).eval()
        self.decoder = load_tensors(decoder, model, "decoder.", ctx.device).eval()

    def _train(self, train, profile: LgcProfile) -> bytes:
        import torch
        import torch.nn.functional as F

        ctx = self.ctx
        started, started_cpu = time.perf_counter(), time.process_time()
        torch.manual_seed(ctx.seed)
        generator = torch.Generator().manual_seed(ctx.seed)
        encoder = build_encoder(self.latent_dim, self.variational, self.conditional).to(ctx.device)
        decoder = build_decoder(self.latent_dim, self.width, self.conditional).to(ctx.device)
        x_all = torch.tensor(train.images, dtype=torch.float32, device=ctx.device).unsqueeze(1) / 255.0
        y_all = torch.tensor(train.labels, dtype=torch.int64, device=ctx.device)
        n = len(x_all)
        batch = min(profile.batch, n)
        steps = profile.epochs * (n // batch)
        parameters = list(encoder.parameters()) + list(decoder.parameters())
        optimizer = torch.optim.Adam(parameters, lr=profile.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=profile.lr, total_steps=steps)
        encoder.train()
        decoder.train()
        for _ in range(profile.epochs):
            order = torch.randperm(n, generator=generator).to(ctx.device)
            for start in range(0, n - batch + 1, batch):
                idx = order[start:start + batch]
                x, y = x_all[idx], y_all[idx]
                onehot = F.one_hot(y, N_CLASSES).float() if self.conditional else None
                out = encoder(x, onehot)
                if self.variational:
                    mu, log_var = out.chunk(2, dim=1)
                    z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
                else:
                    mu = z = out
                # Per-image sums, batch mean: the VAE's evidence lower bound in nats.
                loss = F.binary_cross_entropy_with_logits(decoder(z, onehot), x, reduction="sum") / len(x)
                if self.variational:
                    loss = loss + (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(1)).mean()
                if self.variant == "contrastive":
                    loss = loss + CONTRASTIVE_WEIGHT * supervised_contrastive_loss(mu, y, CONTRASTIVE_TEMPERATURE)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        return pack_model({"train_s": time.perf_counter() - started, "train_cpu_s": time.process_time() - started_cpu},
                          {**tensors_of(encoder, "encoder."), **tensors_of(decoder, "decoder.")})

    def _latents(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Latent codes (the means, for the variational variants) of every image."""
        import torch
        import torch.nn.functional as F

        out = []
        with torch.no_grad():
            for start in range(0, len(images), DECODE_BATCH):
                x = torch.tensor(images[start:start + DECODE_BATCH], dtype=torch.float32,
                                 device=self.ctx.device).unsqueeze(1) / 255.0
                y = torch.tensor(labels[start:start + DECODE_BATCH], dtype=torch.int64, device=self.ctx.device)
                code = self.encoder(x, F.one_hot(y, N_CLASSES).float() if self.conditional else None)
                out.append(code[:, :self.latent_dim].cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    # ---- the payload

    def compress_dataset(self, images: np.ndarray, labels: np.ndarray) -> bytes:
        if self.decoder is None:
            raise RuntimeError("lgc: fit() must run before compress_dataset()")
        labels = np.asarray(labels, dtype=np.int64)
        latents = self._latents(images, labels)
        counts = np.bincount(labels, minlength=N_CLASSES)
        body = [MAGIC, bytes([PRECISIONS.index(self.precision), COVARIANCES.index(self.covariance),
                              int(self.conditional)])]
        body += [write_varint(v) for v in (self.latent_dim, self.width, self.ctx.seed)]
        body.append(struct.pack("<f", self.sharpen))
        body += [write_varint(int(c)) for c in counts]
        mixture_bytes, chosen, bic_tables = 0, [], {}
        for c in range(N_CLASSES):
            if counts[c] == 0:
                chosen.append(0)
                continue
            mixture, bics = fit_class_mixture(latents[labels == c], self.components, self.max_components,
                                              self.covariance, self.ctx.seed)
            chosen.append(mixture.n_components)
            bic_tables[c] = bics
            part = write_varint(mixture.n_components) + b"".join(
                pack_array(a, self.precision) for a in mixture_arrays(mixture, self.covariance))
            mixture_bytes += len(part)
            body.append(part)
        decoder_part = b"".join(pack_array(t.detach().cpu().numpy(), self.precision)
                                for t in self.decoder.state_dict().values())
        body.append(decoder_part)
        raw_body = b"".join(body)
        self.columns.update({
            "components_per_class": ",".join(map(str, chosen)),
            "mixture_bytes": mixture_bytes,
            "decoder_params": sum(t.numel() for t in self.decoder.state_dict().values()),
            "decoder_bytes": len(decoder_part),
            "body_bytes": len(raw_body),
        })
        self.bic_by_class = bic_tables  # for inspection; the row keeps only the chosen K per class
        return seal(STREAM_MAGIC, {"body": len(raw_body)}, gzip.compress(raw_body, 9, mtime=0),
                    content_digest(np.frombuffer(raw_body, np.uint8)))

    def decompress_dataset(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        import torch
        import torch.nn.functional as F

        header, packed, digest = unseal(data, STREAM_MAGIC, "lgc")
        size = header.get("body")
        if set(header) != {"body"} or not int_in(size, 1, MAX_BODY_BYTES):
            raise CorruptStreamError("lgc: header does not give the body's length (corrupt stream)")
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing; at most the stated length + 1
        try:
            body = inflate.decompress(packed, size + 1)
        except zlib.error as exc:
            raise CorruptStreamError(f"lgc: corrupt gzip body ({exc})") from None
        if len(body) != size or not inflate.eof or inflate.unused_data:
            raise CorruptStreamError("lgc: the gzip body does not hold the stated length (corrupt stream)")
        try:
            check_content(np.frombuffer(body, np.uint8), digest)
        except CorruptStreamError as exc:
            raise CorruptStreamError(f"lgc: {exc}") from None
        reader = BodyReader(body)
        if reader.take(4) != MAGIC:
            raise CorruptStreamError("lgc: not an lgc stream (bad magic)")
        precision_id, covariance_id, conditional = reader.take(3)
        if precision_id >= len(PRECISIONS) or covariance_id >= len(COVARIANCES) or conditional > 1:
            raise CorruptStreamError("lgc: corrupt header")
        precision, covariance = PRECISIONS[precision_id], COVARIANCES[covariance_id]
        latent_dim, width, seed = reader.varint(), reader.varint(), reader.varint()
        (sharpen,) = struct.unpack("<f", reader.take(4))
        if not (1 <= latent_dim <= 4096 and 1 <= width <= 1024 and 0 < sharpen <= 100):
            raise CorruptStreamError("lgc: corrupt header (implausible sizes)")
        counts = [reader.varint() for _ in range(N_CLASSES)]
        # The images are sampled, not stored, so the stream's length bounds nothing: the caps are what
        # an MNIST-sized training set could need (60,000 x 4,096 latents), and they keep a damaged or
        # made-up count from asking for terabytes.
        if sum(counts) > MAX_SAMPLED_IMAGES or sum(counts) * latent_dim > MAX_SAMPLED_LATENTS:
            raise CorruptStreamError("lgc: corrupt header (implausible class counts)")
        mixtures = {}
        for c in range(N_CLASSES):
            if counts[c] == 0:
                continue
            k = reader.varint()
            if not 1 <= k <= 10_000:
                raise CorruptStreamError("lgc: corrupt mixture size")
            mixtures[c] = (reader.array((1, k), precision)[0], reader.array((k, latent_dim), precision),
                           reader.array(factor_shape(covariance, k, latent_dim), precision))
        with torch.device("meta"):  # shapes only: the weights must fit the rest of the body first
            params = sum(t.numel() for t in build_decoder(latent_dim, width, bool(conditional)).state_dict().values())
        if params * {"float32": 4, "float16": 2, "int8": 1}[precision] > len(body) - reader.pos:
            raise CorruptStreamError("lgc: stream is too short for its decoder's weights (corrupt stream)")
        decoder = build_decoder(latent_dim, width, bool(conditional))
        state = {name: torch.from_numpy(reader.array(tuple(t.shape), precision).copy())
                 for name, t in decoder.state_dict().items()}
        if reader.pos != len(body):
            raise CorruptStreamError("lgc: stream has trailing bytes")
        decoder.load_state_dict(state)
        decoder.to(self.ctx.device).eval()

        rng = np.random.default_rng(seed)
        images, labels = [], []
        with torch.no_grad():
            for c, (weights, means, factors) in mixtures.items():
                z_all = sample_mixture(weights, means, factors, covariance, counts[c], rng)
                for start in range(0, len(z_all), DECODE_BATCH):
                    z = torch.tensor(z_all[start:start + DECODE_BATCH], dtype=torch.float32, device=self.ctx.device)
                    onehot = F.one_hot(torch.full((len(z),), c, device=self.ctx.device), N_CLASSES).float()
                    probs = torch.sigmoid(decoder(z, onehot if conditional else None) * sharpen)
                    images.append((probs * 255).round().to(torch.uint8).squeeze(1).cpu().numpy())
                labels.append(np.full(counts[c], c, dtype=np.uint8))
        return np.concatenate(images), np.concatenate(labels)

    def extra_columns(self) -> dict:
        return dict(self.columns)
