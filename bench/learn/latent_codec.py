"""The skeleton of the learned lossy codecs (conv-ae, pca-cnn, bican, the hyperprior): everything
around their networks.

`TrainedLossyCodec` owns the fit sequence they share: the profile's training images, the run's device,
the trained weights from the model cache (trained on a miss, by the codec's `_train`), and the
training's record (`meta`, reported as `model_train_s` / `model_train_steps`). `UniformLatentCodec`
adds the coding shape of the codecs whose latents are uniformly quantised and range-coded with
train-fitted tables (`uniform_quantiser.UniformLatentCode`): compress = the tables' stream of
`latents(images)`; decompress = `reconstruct` of the stream's symbols, decoded in batches by
`decode_batch`. A model file is then only its networks, how it trains, and those two functions.
"""

from __future__ import annotations

import numpy as np

from bench.api.codec import ImageCodec
from bench.learn.model_cache import load_or_train
from bench.learn.model_file import ModelFile, unpack_model
from bench.learn.training import apply_in_batches
from bench.learn.uniform_quantiser import UniformLatentCode


class TrainedLossyCodec(ImageCodec):
    kind = "lossy"
    uses_torch = True
    #: The codec's name in its messages.
    codec_name: str = ""
    #: Images per batch when coding (inference only).
    coding_batch: int = 1000

    meta: dict = {}
    device: str = "cpu"

    def _train(self, images: np.ndarray, ctx, profile) -> bytes:
        """Train the networks on `images` under `profile`: the model file (`model_file.pack_model`)."""
        raise NotImplementedError

    def _trained_model(self, train, tag: str, params: dict) -> tuple[object, ModelFile]:
        """(the training images actually used, the model file), trained on a cache miss."""
        ctx = self.ctx
        profile = self.profiles[ctx.profile]
        train = train.head(profile.max_images)
        self.device = ctx.device
        blob = load_or_train(self.identity, train.digest, ctx, lambda: self._train(train.images, ctx, profile),
                             tag=tag, params=params)
        model = unpack_model(blob, f"{self.codec_name} model")
        self.meta = model.meta
        return train, model

    def training_columns(self) -> dict:
        return {"model_train_s": self.meta.get("train_s"), "model_train_steps": self.meta.get("steps")}


class UniformLatentCodec(TrainedLossyCodec):
    #: The magic bytes of its latent stream.
    magic: bytes = b""

    def _use_step(self, step: float) -> None:
        self.step = float(step)
        self.latent_code = UniformLatentCode(self.step, self.magic)

    def latents(self, images: np.ndarray) -> np.ndarray:
        """Real-valued latents (n, dims), before quantisation."""
        raise NotImplementedError

    def decode_batch(self, symbols: np.ndarray) -> np.ndarray:
        """Images (uint8) of a batch of integer latents."""
        raise NotImplementedError

    def compress(self, images: np.ndarray) -> bytes:
        return self.latent_code.compress(self.latents(images))

    def reconstruct(self, symbols: np.ndarray) -> np.ndarray:
        return apply_in_batches(self.decode_batch, symbols, self.coding_batch, np.zeros((0, 28, 28), np.uint8))

    def decompress(self, data: bytes) -> np.ndarray:
        return self.reconstruct(self.latent_code.decompress(data, self.name or self.codec_name))
