"""hyperprior: the field's standard learned image codec, sized for 28x28 digits.

Ballé et al., "Variational image compression with a scale hyperprior" (ICLR 2018), and its mean-scale
variant (Minnen et al., NeurIPS 2018), as CompressAI's `ScaleHyperprior` / `MeanScaleHyperprior` build them:

- Transforms: g_a, two 5x5 stride-2 convolutions with GDN between them (28 -> 14 -> 7: a latent y of
  `latent_channels` x 7 x 7); g_s mirrors it with transposed convolutions and inverse GDN. The
  hyper-analysis h_a (on |y|, or y for mean-scale) goes 7 -> 4 to a hyper-latent z of
  `hyper_channels` x 4 x 4; the hyper-synthesis h_s predicts a scale (and, with `mean`, a mean)
  for every element of y.
- Entropy models: z has a factorised density per channel (Ballé's monotone "non-parametric" CDF
  network, `FactorizedDensity`); y is Gaussian given h_s(z). Training replaces rounding with additive
  uniform noise for the likelihoods; g_s sees the rounded y (straight-through), as CompressAI now
  trains. Loss: bits per pixel + lam * 255**2 * MSE, one model per `lam` (the papers' way). A
  variable-rate model (one training; the quantiser step drawn per image, log(step) an input plane of
  g_a and g_s, trade-off lam / step**2) was built and measured first: at the same 4 epochs it was
  2.4 dB below the model trained for its rate (30.4 against 32.86 dB at 92.5 B/image).
- Coding (constriction's range coder, `bench.coding.entropy`): z is coded with one integer table per
  channel, the learned density discretised over the train range of z; y with the table of its scale's
  entry in a fixed, log-spaced `SCALE_TABLE` (the first entry at least as wide as the predicted scale),
  symbol round(y - mean) over [-L, L]. Every table is made once at training time with `quantize` and
  stored in the model: encoder and decoder code with the same integers. The scale index is computed
  by the same function, on the same decoded z, in batches of the same size, on one thread, on both
  sides; the stream records those float settings and a decoder with others refuses (as `local-ar` does).

`model_bytes` is what a decoder holds: g_s, h_s and every table (g_a and h_a stay with the encoder).
The row gives three bit counts: the real bytes, `ideal_bpp` (what a perfect coder would spend with the
integer tables) and `likelihood_bpp` (the trained model's own estimate on the rounded latents, what
papers often report instead of bytes).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from bench import register_codec
from bench.api.profiles import ProfileSet
from bench.coding import entropy
from bench.coding.container import check_content, content_digest, header_count, max_coded_items, seal, unseal
from bench.coding.reproducible import check_float_settings, float_settings, torch_threads
from bench.errors import CorruptStreamError
from bench.learn.latent_codec import TrainedLossyCodec
from bench.learn.model_file import load_tensors, pack_model, tensors_of
from bench.learn.training import (
    TRAINING_CODE_VERSION,
    TrainingBudget,
    images_to_tensor,
    seeded_training,
    to_uint8_images,
    train_with_random_steps,
)

MAGIC = b"HYP1"
CODING_BATCH = 1000
#: The Gaussian conditional's scales (CompressAI's get_scale_table: 64 log-spaced levels from 0.11).
SCALE_TABLE = np.exp(np.linspace(math.log(0.11), math.log(64.0), 64))
SCALE_BOUND = 0.11
LIKELIHOOD_BOUND = 1e-9
#: Spare symbol values beyond the train range, on each side (z) and around the largest |y - mean| (y).
MARGIN = 2
#: The rate sweep, one model each: CompressAI's qualities 1-5 and two lower rates (about 20 to 150 B/image).
SWEEP_LAMS = (0.00045, 0.0009, 0.0018, 0.0035, 0.0067, 0.013)


@dataclass(frozen=True, kw_only=True)
class HyperpriorProfile(TrainingBudget):
    channels: int  # N: the transforms' hidden width
    latent_channels: int  # M: y is M x 7 x 7
    hyper_channels: int  # z is hyper_channels x 4 x 4 (levels 2) or x 2 x 2 (levels 3)
    levels: int = 2  # stride-2 layers of g_a: 2 gives a 7 x 7 latent, 3 a 4 x 4 one

    @property
    def sides(self) -> tuple[int, int]:
        """The side of y and of z."""
        return (7, 4) if self.levels == 2 else (4, 2)


# ------------------------------------------------------------------------------------ the networks

def _gdn(channels: int, inverse: bool):
    """Generalised divisive normalisation (Ballé et al. 2016): x / sqrt(beta + gamma * x^2), or times for
    the inverse; beta and gamma kept positive by squaring a free parameter."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class GDN(nn.Module):
        def __init__(self):
            super().__init__()
            self.beta = nn.Parameter(torch.ones(channels))
            self.gamma = nn.Parameter(0.1 * torch.eye(channels).view(channels, channels, 1, 1))

        def forward(self, x):
            norm = F.conv2d(x * x, self.gamma**2, self.beta**2 + 1e-6)
            return x * torch.sqrt(norm) if inverse else x * torch.rsqrt(norm)

    return GDN()


def build_networks(profile: HyperpriorProfile, mean: bool):
    from torch import nn

    n, m, k = profile.channels, profile.latent_channels, profile.hyper_channels
    # Sides: 28 -> 14 -> 7 (-> 4).
    # A transposed convolution's output padding picks the even (14, 28, 4) or odd (7) side.
    analysis, synthesis = [nn.Conv2d(1, n, 5, 2, 2)], [nn.ConvTranspose2d(n, 1, 5, 2, 2, 1)]
    for level in range(1, profile.levels):
        analysis += [_gdn(n, False), nn.Conv2d(n, m if level == profile.levels - 1 else n, 5, 2, 2)]
        odd = level == 2  # 7 x 7 comes from 4 x 4
        synthesis = [nn.ConvTranspose2d(m if level == profile.levels - 1 else n, n, 5, 2, 2, 0 if odd else 1),
                     _gdn(n, True), *synthesis]
    g_a, g_s = nn.Sequential(*analysis), nn.Sequential(*synthesis)
    y_side, _ = profile.sides
    h_a = nn.Sequential(nn.Conv2d(m, n, 3, 1, 1), nn.LeakyReLU(), nn.Conv2d(n, k, 5, 2, 2))  # 7 -> 4, 4 -> 2
    h_s = nn.Sequential(nn.ConvTranspose2d(k, n, 5, 2, 2, 0 if y_side == 7 else 1), nn.LeakyReLU(),
                        nn.Conv2d(n, 2 * m if mean else m, 3, 1, 1))
    return {"g_a": g_a, "g_s": g_s, "h_a": h_a, "h_s": h_s, "z_density": FactorizedDensity.build(k)}


class FactorizedDensity:
    """Ballé et al. (2018, appendix 6.1): one univariate density per channel whose CDF is a small monotone
    network, c(x) = sigmoid(f(x)), with filters (3, 3, 3); the likelihood of an integer is c(x+.5) - c(x-.5)."""

    FILTERS = (1, 3, 3, 3, 1)

    @classmethod
    def build(cls, channels: int):
        import torch
        from torch import nn

        class Density(nn.Module):
            def __init__(self):
                super().__init__()
                scale = 10.0 ** (1 / (len(cls.FILTERS) - 1))
                self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
                for i in range(len(cls.FILTERS) - 1):
                    fan_in, fan_out = cls.FILTERS[i], cls.FILTERS[i + 1]
                    init = math.log(math.expm1(1 / scale / fan_out))
                    self.matrices.append(nn.Parameter(torch.full((channels, fan_out, fan_in), init)))
                    self.biases.append(nn.Parameter(torch.rand(channels, fan_out, 1) - 0.5))
                    if i < len(cls.FILTERS) - 2:
                        self.factors.append(nn.Parameter(torch.zeros(channels, fan_out, 1)))

            def logits(self, x):
                """x: (channels, 1, points) -> the CDF's logit at each point."""
                from torch.nn import functional as F

                for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases, strict=True)):
                    x = torch.matmul(F.softplus(matrix), x) + bias
                    if i < len(self.factors):
                        x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
                return x

            def likelihood(self, z):
                """z: (n, channels, h, w) -> the probability of each value's unit interval."""
                c = z.shape[1]
                points = z.transpose(0, 1).reshape(c, 1, -1)
                lower, upper = self.logits(points - 0.5), self.logits(points + 0.5)
                sign = -torch.sign(lower + upper).detach()  # evaluate in the sigmoid's flat tail: no cancellation
                p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
                return p.view(c, z.shape[0], *z.shape[2:]).transpose(0, 1)

        return Density()


def gaussian_likelihood(values, scales, means=None):
    """P(round(v)) under N(mean, scale) for the noisy or rounded latent v (CompressAI's GaussianConditional)."""
    import torch

    centred = torch.abs(values - means) if means is not None else torch.abs(values)
    scales = scales.clamp_min(SCALE_BOUND)
    normal = torch.distributions.Normal(0.0, 1.0)
    return (normal.cdf((0.5 - centred) / scales) - normal.cdf((-0.5 - centred) / scales)).clamp_min(LIKELIHOOD_BOUND)


def gaussian_tables(half_width: int) -> np.ndarray:
    """Integer tables (len(SCALE_TABLE), 2 * half_width + 1) for the symbols -L..L at each table scale."""
    from scipy.special import ndtr

    values = np.arange(-half_width, half_width + 1, dtype=np.float64)
    scales = SCALE_TABLE[:, None]
    probs = ndtr((values + 0.5) / scales) - ndtr((values - 0.5) / scales)
    return entropy.quantize(probs)


def scale_indices(scales: np.ndarray) -> np.ndarray:
    """The first table entry at least as wide as each scale (the widest one past the table's end)."""
    return np.minimum(np.searchsorted(SCALE_TABLE, np.maximum(scales, SCALE_BOUND)), len(SCALE_TABLE) - 1)


# ----------------------------------------------------------------------------------------- the codec

@register_codec("hyperprior", configs=[{"lam": lam} for lam in SWEEP_LAMS] + [{"lam": 0.0018, "mean": False}])
class Hyperprior(TrainedLossyCodec):
    """Scale / mean-scale hyperprior (Ballé 2018, Minnen 2018): learned transforms, range-coded latents."""

    codec_name = "hyperprior"
    model_params = ("lam", "mean")  # one model per rate: the sweep's trainings may run side by side
    profiles = ProfileSet(
        smoke=HyperpriorProfile(channels=16, latent_channels=8, hyper_channels=4, epochs=2, lr=3e-3,
                                max_images=2000),
        default=HyperpriorProfile(channels=48, latent_channels=24, hyper_channels=8, epochs=4, lr=2e-3),
        full=HyperpriorProfile(channels=128, latent_channels=64, hyper_channels=32, epochs=100, batch=128,
                               lr=1e-3),
    )

    def __init__(self, lam: float = 0.0067, mean: bool = True):
        if not isinstance(lam, (int, float)) or isinstance(lam, bool) or not lam > 0:
            raise ValueError(f"hyperprior lam must be a positive number, got {lam!r}")
        if not isinstance(mean, bool):
            raise ValueError(f"hyperprior mean must be true or false, got {mean!r}")
        self.lam = float(lam)
        self.mean = mean
        self.nets: dict = {}
        self.z_low = self.z_high = self.z_tables = self.y_tables = None
        self.half_width = 0
        self.sides: tuple[int, int] | None = None
        self._model_id = ""
        self._decoder_bytes = 0
        self._last_stream: dict = {}

    # --- training ------------------------------------------------------------------------------
    def _split(self, params):
        m = params.shape[1] // 2 if self.mean else params.shape[1]
        return params[:, :m], (params[:, m:] if self.mean else None)

    def _hyper_input(self, y):
        import torch

        return y if self.mean else torch.abs(y)

    def _train(self, images: np.ndarray, ctx, profile: HyperpriorProfile) -> bytes:
        import torch

        with seeded_training(ctx) as run:
            nets = {name: net.to(ctx.device) for name, net in build_networks(profile, self.mean).items()}
            x_all = images_to_tensor(images, ctx.device)

            def noisy(t):
                return t + (torch.rand(t.shape, generator=run.generator).to(ctx.device) - 0.5)

            def batch_loss(indices, _step):
                x = x_all[indices]
                y = nets["g_a"](x)
                z_noisy = noisy(nets["h_a"](self._hyper_input(y)))
                scales, means = self._split(nets["h_s"](z_noisy))
                centre = means if means is not None else torch.zeros_like(y)
                centred = y - centre
                rounded = centred + (torch.round(centred) - centred).detach()  # straight-through
                y_bits = -torch.log2(gaussian_likelihood(noisy(centred), scales)).sum()
                z_bits = -torch.log2(nets["z_density"].likelihood(z_noisy).clamp_min(LIKELIHOOD_BOUND)).sum()
                mse = torch.mean((nets["g_s"](centre + rounded) - x) ** 2)
                return (y_bits + z_bits) / (len(x) * 784) + self.lam * 255**2 * mse

            parameters = [p for net in nets.values() for p in net.parameters()]
            # One rate per model: the shared loop's per-image quantiser step is unused (a range of one value).
            steps = train_with_random_steps(parameters, len(x_all), profile, (1.0, 1.0), run, batch_loss)
            for net in nets.values():
                net.eval()
            tables = self._make_tables(nets, x_all)
            meta = run.record(steps, len(x_all), **tables.pop("meta"))
        weights = {key: value for name, net in nets.items() for key, value in tensors_of(net, f"{name}.").items()}
        return pack_model(meta, {**weights, **tables})

    def _make_tables(self, nets, x_all) -> dict:
        """The integer tables both sides code with, from the trained model and the train latents' range."""
        import torch

        with torch.no_grad():
            z_parts, y_extent = [], 0
            for start in range(0, len(x_all), CODING_BATCH):
                y = nets["g_a"](x_all[start:start + CODING_BATCH])
                z_hat = torch.round(nets["h_a"](self._hyper_input(y)))
                _, means = self._split(nets["h_s"](z_hat))
                y_extent = max(y_extent, int(torch.round(y - means if means is not None else y).abs().max()))
                z_parts.append(z_hat.transpose(0, 1).reshape(z_hat.shape[1], -1))
            z = torch.cat(z_parts, 1)
            low, high = z.min(1).values.long() - MARGIN, z.max(1).values.long() + MARGIN
            width = int((high - low).max()) + 1
            points = (low[:, None] + torch.arange(width)[None, :]).double()
            density = nets["z_density"].double()
            upper = torch.sigmoid(density.logits(points[:, None, :] + 0.5))[:, 0]
            lower = torch.sigmoid(density.logits(points[:, None, :] - 0.5))[:, 0]
            density.float()
            probs = (upper - lower).clamp_min(0).numpy()
        # A channel with a narrower range than the widest gets zero probability beyond its own range.
        probs[np.arange(width)[None, :] > (high - low).numpy()[:, None]] = 0.0
        z_tables = entropy.quantize(probs)
        half_width = y_extent + MARGIN
        return {"z_low": low.numpy().astype(np.int32), "z_high": high.numpy().astype(np.int32),
                "z_tables": z_tables.astype(np.int32), "y_tables": gaussian_tables(half_width).astype(np.int32),
                "meta": {"z_width": width, "half_width": half_width}}

    def fit(self, train) -> None:
        ctx = self.ctx
        profile = self.profiles[ctx.profile]
        _, model = self._trained_model(train, "model", {"lam": self.lam, "mean": self.mean,
                                                        "training_code": TRAINING_CODE_VERSION})
        self.sides = profile.sides
        self.nets = {name: load_tensors(net, model, f"{name}.", ctx.device).eval()
                     for name, net in build_networks(profile, self.mean).items()}
        tables = {name: model.tensors[name].astype(np.int64) for name in ("z_low", "z_high", "z_tables", "y_tables")}
        self.z_low, self.z_high = tables["z_low"], tables["z_high"]
        self.z_tables = tables["z_tables"].reshape(len(self.z_low), -1)
        self.half_width = int(self.meta["half_width"])
        self.y_tables = tables["y_tables"].reshape(len(SCALE_TABLE), -1)
        decoder_parts = [name for name in model.tensors if name.startswith(("g_s.", "h_s.", "z_density.")) or name in tables]
        self._decoder_bytes = sum(model.stored[name] for name in decoder_parts)
        self._model_id = hashlib.sha256(b"".join(model.tensors[name].tobytes() for name in decoder_parts)).hexdigest()[:16]

    @property
    def model_bytes(self) -> int:
        return self._decoder_bytes

    # --- coding --------------------------------------------------------------------------------
    def _y_parameters(self, z_hat):
        """Scale-table indices and means (numpy) of y from the decoded hyper-latent: the one computation
        whose floats both sides must agree on, so it runs here alone, on one thread, batch by batch."""
        import torch

        with torch_threads(self.device, 1):
            scales, means = self._split(self.nets["h_s"](torch.as_tensor(z_hat, dtype=torch.float32,
                                                                           device=self.device)))
        indices = scale_indices(scales.cpu().numpy())
        return indices, (means.cpu().numpy() if means is not None else np.zeros(indices.shape, np.float32)), scales

    def _z_symbols(self, z_hat: np.ndarray) -> np.ndarray:
        """(n, channels, side, side) -> per channel, the symbols in table order: (channels, n * side**2)."""
        return (z_hat.transpose(1, 0, 2, 3).reshape(z_hat.shape[1], -1) - self.z_low[:, None])

    def compress(self, images: np.ndarray) -> bytes:
        import torch

        encoder = entropy.Encoder()
        ideal = likelihood = 0.0
        clipped = 0
        digests = []
        with torch.no_grad():
            for start in range(0, len(images), CODING_BATCH):
                x = images_to_tensor(images[start:start + CODING_BATCH], self.device)
                y = self.nets["g_a"](x)
                z = self.nets["h_a"](self._hyper_input(y))
                z_symbols = np.rint(self._z_symbols(z.cpu().numpy())).astype(np.int64)
                inside = np.clip(z_symbols, 0, (self.z_high - self.z_low)[:, None])
                clipped += int(np.count_nonzero(inside != z_symbols))
                for c, table in enumerate(self.z_tables):
                    encoder.encode_fixed(inside[c], table)
                    ideal -= float(np.log2(table[inside[c]] / 2**entropy.PRECISION_BITS).sum())
                z_hat = (inside + self.z_low[:, None]).reshape(z.shape[1], len(x), *z.shape[2:]).transpose(1, 0, 2, 3)
                likelihood -= float(torch.log2(self.nets["z_density"].likelihood(
                    torch.as_tensor(z_hat, dtype=torch.float32)).clamp_min(LIKELIHOOD_BOUND)).sum())
                indices, means, scales = self._y_parameters(z_hat)
                symbols = np.rint(y.cpu().numpy() - means).astype(np.int64)
                inside_y = np.clip(symbols, -self.half_width, self.half_width)
                clipped += int(np.count_nonzero(inside_y != symbols))
                likelihood -= float(torch.log2(gaussian_likelihood(
                    torch.as_tensor(inside_y, dtype=torch.float32), scales.cpu())).sum())
                ideal += self._code_y(encoder, inside_y + self.half_width, indices)
                digests.append(_symbols_digest(inside, inside_y + self.half_width))
        with torch_threads(self.device, 1):  # the settings `_y_parameters` computes under
            settings = float_settings(self.device)
        header = {"n": len(images), "batch": CODING_BATCH, "model": self._model_id, "mean": self.mean,
                  "float": settings, **entropy.coder_field()}
        stream = seal(MAGIC, header, encoder.finish(), content_digest(np.frombuffer(b"".join(digests), np.uint8)))
        pixels = images.size
        self._last_stream = {"ideal_bpp": ideal / pixels if pixels else None,
                             "likelihood_bpp": likelihood / pixels if pixels else None,
                             "latents_clipped": clipped}
        return stream

    def _code_y(self, encoder, symbols: np.ndarray, indices: np.ndarray) -> float:
        """Symbols grouped by scale-table entry, each group with its one table (the decoder knows every
        index before it decodes y); returns their ideal bits."""
        flat_symbols, flat_indices = symbols.reshape(-1), indices.reshape(-1)
        ideal = 0.0
        for k in np.unique(flat_indices):
            chosen = flat_symbols[flat_indices == k]
            encoder.encode_fixed(chosen, self.y_tables[k])
            ideal -= float(np.log2(self.y_tables[k][chosen] / 2**entropy.PRECISION_BITS).sum())
        return ideal

    def decompress(self, data: bytes) -> np.ndarray:
        import torch

        header, body, digest = unseal(data, MAGIC, "hyperprior")
        m = self.nets["g_s"][0].in_channels
        # Every table has at least 2 * MARGIN + 1 entries, each >= 1: no symbol costs less than this.
        least_bits = -math.log2(1 - 2 * MARGIN / 2**entropy.PRECISION_BITS)
        y_side, z_side = self.sides
        n = header_count(header, "n", max_coded_items(len(body), least_bits * (z_side**2 * len(self.z_low)
                                                                               + y_side**2 * m)),
                         "hyperprior")
        if (header.get("batch"), header.get("mean")) != (CODING_BATCH, self.mean):
            raise CorruptStreamError("hyperprior stream was coded with another configuration "
                                     f"(batch {header.get('batch')}, mean {header.get('mean')})")
        entropy.check_coder(header, "hyperprior")
        if header.get("model") != self._model_id:
            raise CorruptStreamError("hyperprior stream was coded with a different trained model")
        with torch_threads(self.device, 1):
            check_float_settings(header.get("float"), "hyperprior stream")
        decoder = entropy.Decoder(body)
        channels = len(self.z_low)
        out = np.empty((n, 28, 28), np.uint8)
        digests = []
        with torch.no_grad():
            for start in range(0, n, CODING_BATCH):
                count = min(CODING_BATCH, n - start)
                z_symbols = np.stack([decoder.decode_fixed(table, count * z_side**2) for table in self.z_tables])
                z_hat = (z_symbols + self.z_low[:, None]).reshape(channels, count, z_side, z_side).transpose(1, 0, 2, 3)
                indices, means, _ = self._y_parameters(z_hat)
                flat_indices = indices.reshape(-1)
                symbols = np.empty(flat_indices.shape, np.int64)
                for k in np.unique(flat_indices):
                    where = flat_indices == k
                    symbols[where] = decoder.decode_fixed(self.y_tables[k], int(where.sum()))
                symbols = symbols.reshape(count, m, y_side, y_side)
                digests.append(_symbols_digest(z_symbols, symbols))
                y_hat = symbols - self.half_width + means
                x_hat = self.nets["g_s"](torch.as_tensor(y_hat, dtype=torch.float32, device=self.device))
                out[start:start + count] = to_uint8_images(x_hat.clamp_(0, 1))
        check_content(np.frombuffer(b"".join(digests), np.uint8), digest)
        return out

    def extra_columns(self) -> dict:
        return {**self._last_stream, **self.training_columns()}


def _symbols_digest(z_symbols: np.ndarray, y_symbols: np.ndarray) -> bytes:
    """What one batch's stream carries (table-relative symbols), as the stream's content digest commits to it."""
    return content_digest(np.concatenate([z_symbols.reshape(-1), y_symbols.reshape(-1)]).astype(np.int32))
