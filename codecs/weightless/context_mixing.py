"""`weightless-cm`: the weightless codec as a context-mixing learner (zero stored weights).

The NNCP family codes a stream with a model that encoder and decoder learn in lockstep from what is
already coded. Here the model is what an online coder needs to compete with the strongest classical
context mixers (paq8px): adaptive counts in hashed contexts of exact neighbouring grey levels, their
gradients and the position in the frame; small online networks that mix them (each choosing its
weights by another context, a second layer mixing those); and secondary estimation. It is compiled
(`context_mixing.cpp`, built at install): every step is integer arithmetic, so the two sides agree
on any machine, and one binary decision costs about a microsecond.

`without` switches ingredients off, for the ablation that says what each is worth (docs/codecs.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench import ImageCodec, register_codec
from bench.api.profiles import Profile, ProfileSet
from bench.coding import entropy
from bench.coding.container import check_content, content_digest, int_in, max_coded_items, seal, unseal
from bench.data.mnist import PIXELS, SIDE
from bench.errors import CorruptStreamError

#: 2: 37 contexts in bucketed slots, 6+1 mixers at rate 4/16384, 3 maps. (1: 24 contexts, scattered
#: slots, 5+1 mixers at rate 4/1024: its streams are refused.)
MAGIC = b"WCM2"
#: SHA-256 (first 16 hex digits) of context_mixing.cpp: a change of the compiled model changes this
#: module too, hence the codec's code version and every cell key of it (a test keeps them equal).
#: A change that codes other bits must also bump MAGIC, so old streams are refused in one line.
SOURCE_DIGEST = "a35676868e5d72d6"
#: The learned codec's streams (`learned-cm`): the same model with a trained network mixed in.
LEARNED_MAGIC = b"LCM1"
#: Ingredients `without` can switch off, and the flag each sets in the compiled model.
INGREDIENTS = {"exact": 1, "mixing": 2, "sse": 4, "position": 8}
#: The most images a stream may claim: a forged count must not allocate without bound.
MAX_IMAGES = 1 << 20
#: The cheapest a pixel can be: one decision at the clamped probability 4095/4096.
MIN_BITS_PER_PIXEL = -np.log2(4095 / 4096)


@dataclass(frozen=True, kw_only=True)
class ContextMixingProfile(Profile):
    #: log2 of each context table's slots (4 bytes each, 37 tables: 2^24 slots are 2.5 GB). Fewer slots
    #: collide more: 2^22 coded the test images 1.8% larger (0.9339 against 0.9176 bits/pixel).
    table_bits: int


def _flags(without: str, ingredients=tuple(INGREDIENTS)) -> int:
    """The compiled model's flags for `without`, a comma list of `ingredients` (those that are not
    the compiled model's, such as the learned codec's adaptation, set no flag)."""
    names = [name for name in without.split(",") if name] if isinstance(without, str) else None
    if names is None or any(name not in ingredients for name in names) or len(set(names)) != len(names):
        raise ValueError(f"without must be a comma list of {', '.join(ingredients)} (or empty), got {without!r}")
    return sum(INGREDIENTS.get(name, 0) for name in names)


def _compiled():
    from . import _context_mixing

    return _context_mixing


@dataclass(frozen=True)
class Prior:
    """A trained network for the compiled model to mix in (`Prior` in context_mixing.cpp): local-ar's
    window and sizes, its float32 weights in state_dict order, the learning rate of its output layer
    while coding (0: it stays as trained), and the id of the model file a stream names."""

    window: tuple[int, int, int]  # rows above, half width, pixels to the left
    position_dims: int
    hidden: int
    layers: int
    rate: float
    model_id: str
    weights: bytes = field(repr=False)

    def spec(self) -> tuple:
        return (*self.window, self.position_dims, self.hidden, self.layers, self.rate, self.weights)


def encode(images: np.ndarray, flags: int, table_bits: int, stats: dict | None = None,
           prior: Prior | None = None) -> bytes:
    name = "weightless-cm" if prior is None else "learned-cm"
    images = np.ascontiguousarray(images)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
        raise ValueError(f"{name} codes (n, 28, 28) uint8 images, got {images.shape} {images.dtype}")
    body, ideal = _compiled().encode(images.tobytes(), len(images), flags, table_bits,
                                     None if prior is None else prior.spec())
    header = {"n_images": len(images), "flags": flags, "table_bits": table_bits}
    if prior is not None:
        header.update(model=prior.model_id, rate=prior.rate)
    data = seal(MAGIC if prior is None else LEARNED_MAGIC, header, body, content_digest(images))
    if stats is not None:
        stats.update(ideal_bits=ideal, n_images=len(images))
    return data


def decode(data: bytes, prior: Prior | None = None) -> np.ndarray:
    name = "weightless-cm" if prior is None else "learned-cm"
    header, body, digest = unseal(data, MAGIC if prior is None else LEARNED_MAGIC, name)
    n_images, flags, table_bits = header.get("n_images"), header.get("flags"), header.get("table_bits")
    bound = min(MAX_IMAGES, max_coded_items(len(body), MIN_BITS_PER_PIXEL * PIXELS))
    if not (int_in(n_images, 0, bound) and int_in(flags, 0, sum(INGREDIENTS.values()))
            and int_in(table_bits, 10, 24)) or len(header) != (3 if prior is None else 5):
        raise CorruptStreamError(f"{name}: header holds invalid fields (corrupt stream)")
    if prior is not None and header.get("model") != prior.model_id:
        raise CorruptStreamError(f"{name} stream was coded with a different trained model")
    if prior is not None and header.get("rate") != prior.rate:
        raise CorruptStreamError(f"{name} stream was coded with adaptation rate {header.get('rate')!r}; "
                                 f"this decoder: {prior.rate!r}")
    try:
        pixels = _compiled().decode(body, n_images, flags, table_bits, None if prior is None else prior.spec())
    except ValueError as exc:
        raise CorruptStreamError(f"{name}: {exc} (corrupt stream)") from None
    images = np.frombuffer(pixels, dtype=np.uint8).reshape(n_images, SIDE, SIDE).copy()
    try:
        check_content(images, digest)
    except CorruptStreamError as exc:
        raise CorruptStreamError(f"{name}: {exc}") from None
    return images


@register_codec("weightless-cm", configs=[{}, *({"without": name} for name in INGREDIENTS)])
class ContextMixingCodec(ImageCodec):
    """Weightless context mixing: counts in exact-value contexts mixed by online networks, learned while coding."""

    kind = "lossless"
    model_bytes = 0
    #: What `without` may name.
    ingredients = tuple(INGREDIENTS)
    #: The trained network mixed in (the learned codec's, once fitted); None: weightless.
    prior: Prior | None = None
    profiles = ProfileSet(
        trained=False,  # it learns while it codes
        smoke=ContextMixingProfile(table_bits=16),
        default=ContextMixingProfile(table_bits=24),
        full=ContextMixingProfile(table_bits=24),
    )

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            _compiled()
        except ImportError as exc:  # no C++ compiler at install: the row is skipped, not failed
            return f"its compiled part is not built ({exc}); reinstall with a C++17 compiler (pip install -e .)"
        return None

    def __init__(self, without: str = ""):
        self.flags = _flags(without, self.ingredients)
        self.without = without
        self._stats: dict = {}

    def compress(self, images: np.ndarray) -> bytes:
        stats: dict = {}
        data = encode(images, self.flags, self.profiles[self.ctx.profile].table_bits, stats, self.prior)
        self._stats = dict(stats, stream_bytes=len(data))
        return data

    def decompress(self, data: bytes) -> np.ndarray:
        return decode(data, self.prior)

    def extra_columns(self) -> dict:
        if not self._stats:
            return {}
        return entropy.code_length_columns(self._stats["ideal_bits"], self._stats["stream_bytes"],
                                           self._stats["n_images"] * PIXELS)
