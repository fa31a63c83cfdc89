"""`learned-cm`: a trained network mixed into the context mixer, adapting as it codes.

weightless-cm learns everything while it codes, so its first images are dear: it has seen nothing
yet. This codec starts from what 60,000 training images teach: local-ar's network (a causal window
of the pixels above and to the left and the position, through a small MLP, to the 256 values;
`local_ar/`), trained offline. The compiled context mixer (`weightless/context_mixing.cpp`, its
`Prior`) takes the network's prediction of each binary decision as one more input of its mixers and
as the context of one more mixer, beside its counts in exact-value contexts, its mixers and its
secondary estimation, all learning as they code exactly as in weightless-cm. The network adapts as
well: after each pixel its output layer takes one gradient step on the value just coded (dynamic
evaluation). The decoder takes the same steps; the network's arithmetic is the compiled model's own
(float in a fixed order, its own exp and log), so decoding needs no torch.

The trained weights ship in `codecs/weights/` with their card (checksum, recipe, training time and
machine) and count in `model_bytes`: the file is what a decoder needs besides the stream. `bench run
--retrain` trains them from scratch instead (cached as every learned codec is); `without` switches
ingredients off for the ablation (docs/codecs.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from bench import register_codec
from bench.api.profiles import ProfileSet
from bench.coding.container import content_digest
from bench.data.mnist import PIXELS
from bench.errors import BenchError
from bench.learn import shipped
from bench.learn.model_file import pack_model, tensors_of, unpack_model

from . import local_ar
from .weightless.context_mixing import INGREDIENTS, ContextMixingCodec, Prior

#: Bump when the network, its training or the way it is mixed in change: a shipped model file
#: records the version it was trained for and is used only by the same version.
MODEL_VERSION = 1
#: The model file's format name (its JSON header's `format`).
FORMAT = "local-ar network, int8 rows"
#: Where shipped model files live: `<name>.bin` and its card `<name>.json`.
WEIGHTS_DIR = Path(__file__).parent / "weights"
#: What `without` may switch off: weightless-cm's ingredients, and the network's adaptation.
LEARNED_INGREDIENTS = (*INGREDIENTS, "adaptation")


@dataclass(frozen=True, kw_only=True)
class LearnedCmProfile(local_ar.LocalArProfile):
    """The network (local-ar's fields), the context tables' size and the adaptation's learning rate."""

    table_bits: int
    rate: float

    def network(self) -> local_ar.LocalArProfile:
        own = {f.name for f in fields(local_ar.LocalArProfile)}
        return local_ar.LocalArProfile(**{name: value for name, value in asdict(self).items() if name in own})


def pack_network(local_ar_blob: bytes) -> bytes:
    """local-ar's trained network as this codec's model file (`bench.learn.model_file`, int8 rows: one
    output unit's weights, one position's embedding, with one float32 scale a row), half local-ar's
    float16 bytes. Measured on the test images: 0.05% more bits than float16 weights (6 bits a weight:
    0.2%, 4 bits: 1.0%), for 0.015 bits/pixel less of weights over 70,000 images."""
    config, net = local_ar.weights_from_bytes(local_ar_blob)
    meta = {"format": FORMAT, "window": config["window"], "hidden": config["hidden"], "layers": config["layers"]}
    return pack_model(meta, tensors_of(net), storage="int8")


def network_weights(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """(architecture, float32 tensors by name in local-ar's state_dict order) of a model file, read with
    NumPy alone (decoding needs no torch); a file that is not one is refused in one line."""
    model = unpack_model(blob, "learned-cm model file")
    meta, shapes = model.meta, model.shapes()
    try:
        layers, hidden, window = int(meta["layers"]), int(meta["hidden"]), [int(v) for v in meta["window"]]
        size = window[0] * (2 * window[1] + 1) + window[2]
        position_dims = shapes["position.weight"][1]
        expected = {"position.weight": [PIXELS, position_dims], "masked.weight": [hidden, size + position_dims],
                    "masked.bias": [hidden],
                    **{f"blocks.{i}.{part}": [hidden, hidden] if part == "weight" else [hidden]
                       for i in range(layers) for part in ("weight", "bias")},
                    "out.weight": [256, hidden], "out.bias": [256]}
        valid = meta.get("format") == FORMAT and list(shapes.items()) == list(expected.items())
    except (ValueError, TypeError, KeyError, IndexError):
        valid = False
    if not valid or model.raw:
        raise BenchError("learned-cm model file is not a network in its format (retrain, or restore the file)")
    return {"window": window, "hidden": hidden, "layers": layers, "position_dims": position_dims}, model.tensors


def prior_from_blob(blob: bytes, rate: float) -> Prior:
    """The compiled model's `Prior` from a model file and the adaptation's learning rate."""
    config, tensors = network_weights(blob)
    weights = b"".join(tensor.astype("<f4").tobytes() for tensor in tensors.values())
    return Prior(window=tuple(config["window"]), position_dims=config["position_dims"], hidden=config["hidden"],
                 layers=config["layers"], rate=rate, model_id=content_digest(np.frombuffer(blob, np.uint8)).hex(),
                 weights=weights)


@register_codec("learned-cm", configs=[{}, *({"without": name} for name in ("adaptation", "exact", "mixing"))])
class LearnedContextMixing(ContextMixingCodec):
    """local-ar's trained network mixed into weightless-cm's context mixer, adapting as it codes; lossless."""

    code_depends = ("bench_codecs.weightless.context_mixing", "bench_codecs.local_ar")
    ingredients = LEARNED_INGREDIENTS
    profiles = ProfileSet(
        # Seconds: for the tests (local-ar's smoke network).
        smoke=LearnedCmProfile(rows_above=2, half_width=2, left=2, hidden=32, layers=1, steps=100, batch=128,
                               learning_rate=3e-3, table_bits=16, rate=0.01),
        # local-ar's default network trained 12.5 times as long (its weights ship, codecs/weights/). On
        # the test images (docs/codecs.md): 24,000 steps coded 0.887 bits/pixel, 150,000 steps 0.874.
        # The adaptation's rate: 0.01 and 0.03 code alike, 0.001 and 0.003 gain less (docs/codecs.md).
        default=LearnedCmProfile(rows_above=5, half_width=5, left=5, hidden=128, layers=2, steps=300_000,
                                 batch=256, learning_rate=2e-3, busy_share=0.9, table_bits=24, rate=0.01),
        # A GPU run: the same network (its size is the coder's speed), three times the samples.
        full=LearnedCmProfile(rows_above=5, half_width=5, left=5, hidden=128, layers=2, steps=1_000_000,
                              batch=256, learning_rate=2e-3, busy_share=0.9, table_bits=24, rate=0.01),
    )

    def __init__(self, without: str = ""):
        super().__init__(without)
        self.model_source = ""

    def recipe(self, train_digest: str) -> dict:
        """What the trained network depends on: a shipped file is used only for exactly this."""
        return shipped.recipe("learned-cm", MODEL_VERSION, self.ctx, train_digest,
                              asdict(self.profiles[self.ctx.profile].network()))

    def fit(self, train) -> None:
        ctx = self.ctx
        network = self.profiles[ctx.profile].network()
        blob, self.model_source = shipped.shipped_or_trained(
            self, train, self.recipe(train.digest), WEIGHTS_DIR,
            lambda: train_model(train.images, network, ctx.seed, ctx.device),
            params={"settings": asdict(network)})  # every `without` shares the network
        self.load_model(blob)

    def load_model(self, blob: bytes) -> None:
        rate = 0.0 if "adaptation" in self.without.split(",") else self.profiles[self.ctx.profile].rate
        self.prior = prior_from_blob(blob, rate)
        self.model_bytes = len(blob)

    def compress(self, images: np.ndarray) -> bytes:
        self._require_prior()
        return super().compress(images)

    def decompress(self, data: bytes) -> np.ndarray:
        self._require_prior()
        return super().decompress(data)

    def _require_prior(self) -> None:
        if self.prior is None:
            raise BenchError("learned-cm must be fitted (or given a model with load_model) before coding")

    def extra_columns(self) -> dict:
        return {**super().extra_columns(), "model_source": self.model_source}


def train_model(images: np.ndarray, network: local_ar.LocalArProfile, seed: int, device: str) -> bytes:
    """Train local-ar's network (softmax head) on `images`: this codec's model file."""
    return pack_network(local_ar.train_network(images, network, "softmax", seed, device))


def ship(profile: str, seed: int = 0, device: str = "cpu") -> Path:
    """Train the `profile` network on the MNIST train split and write it as a shipped model file
    (`learned-cm-<profile>.bin`) with its card."""
    import time

    from bench.api.codec import RunContext
    from bench.data.mnist import load_split

    train = load_split("train")
    codec = LearnedContextMixing()
    codec.ctx = RunContext(profile=profile, seed=seed, device=device)
    started = time.perf_counter()
    blob = train_model(train.images, codec.profiles[profile].network(), seed, device)
    return shipped.write_shipped(WEIGHTS_DIR / f"learned-cm-{profile}.bin", blob, codec.recipe(train.digest),
                                 time.perf_counter() - started, device, threads=local_ar.CPU_THREADS)
