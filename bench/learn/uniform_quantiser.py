"""A learned codec's real-valued latents as a range-coded stream: one quantiser step for every
dimension, per-dimension tables counted on the quantised train latents and cached beside the model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.api.codec import Codec, RunContext
from bench.coding.latent_stream import FactorizedHistogram, compress_latents, decompress_latents
from bench.learn.model_cache import load_or_train


class UniformLatentCode:
    """Real-valued latents divided by one `step`, rounded, and range-coded with per-dimension tables.

    The tables are counted on the quantised train latents and cached with `load_or_train` beside the
    codec's model: recounting them in another process could round a borderline latent the other way,
    and the decoder must see the encoder's tables bit for bit.
    """

    def __init__(self, step: float, magic: bytes):
        self.step = step
        self.magic = magic
        self.histogram: FactorizedHistogram | None = None
        self.table_bytes = 0
        #: Most values clipped to the tables' range in one `symbols` call since fit: those of a coded
        #: split (train latents never are: the tables span the train range).
        self.clipped = 0

    def fit(self, codec: Codec, data_digest: str, ctx: RunContext, train_latents: Callable[[], np.ndarray],
            params: dict) -> None:
        """Load or count the tables; `params` key the cache (they must include the step)."""
        tables = load_or_train(
            codec.identity, data_digest, ctx, tag="tables", params=params,
            train=lambda: FactorizedHistogram.fit(np.rint(train_latents() / self.step)).to_bytes())
        self.histogram = FactorizedHistogram.from_bytes(tables)
        self.table_bytes = len(tables)

    def symbols(self, latents: np.ndarray) -> np.ndarray:
        """The integers a stream carries: round(latents / step), clipped to the tables' range (counted)."""
        symbols = np.rint(latents / self.step).astype(np.int64)
        self.clipped = max(self.clipped, self.histogram.count_outside(symbols))
        return self.histogram.clip(symbols)

    def compress(self, latents: np.ndarray) -> bytes:
        return compress_latents(self.symbols(latents), self.histogram, self.magic)

    def decompress(self, data: bytes, name: str) -> np.ndarray:
        """The integer symbols (times `step`: the dequantised latents); damage raises CorruptStreamError."""
        return decompress_latents(data, self.histogram, self.magic, name)
