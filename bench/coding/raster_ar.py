"""The skeleton of a raster autoregressive codec (ar-mnist, local-ar, deep-ar): everything around the
model and its lockstep loop, which the codec keeps.

`RasterArCodec` owns the range-coder backend, the trained model a stream names (its bytes, counted in
`model_bytes`, and its content id), the image check, the sealed stream every such codec writes
(`n`, `backend`, the codec's configuration, `model`, the coder's version, and the codec's own fields),
the checks a decoder makes before decoding anything (the count the body can hold, the configuration,
the coder's version, the model), and the code-length columns. A codec subclass adds its model (fit,
load) and its tables, and calls `_seal` / `_open`.
"""

from __future__ import annotations

import numpy as np

from bench.api.codec import ImageCodec
from bench.coding.container import content_digest, header_count, max_coded_items, seal, unseal
from bench.coding.entropy import BACKENDS, check_coder, code_length_columns, coder_field
from bench.data.mnist import PIXELS, SIDE
from bench.errors import BenchError, CorruptStreamError


class RasterArCodec(ImageCodec):
    #: The codec's name in its messages (they must not depend on how it was registered).
    codec_name: str = ""
    #: The magic bytes of its sealed stream.
    magic: bytes = b""

    def _use_backend(self, backend: str) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"{self.codec_name} backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self._model_id = ""
        self._last_stream: dict = {}

    def _use_model_blob(self, blob: bytes) -> None:
        """The trained model's bytes: what a decoder holds besides the payload, and the id every stream
        names, so a stream is never decoded with another model."""
        self.model_bytes = len(blob)
        self._model_id = content_digest(np.frombuffer(blob, np.uint8)).hex()

    def _require_model(self) -> None:
        if not self._model_id:
            raise BenchError(f"{self.codec_name} must be fitted (or given a model with load_model) before coding")

    def _checked_images(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
            raise ValueError(f"{self.codec_name} codes (n, 28, 28) uint8 images, got {images.shape} {images.dtype}")
        return images

    def _seal(self, n: int, config: dict, body: bytes, content: bytes, ideal: float, **recorded) -> bytes:
        """The stream of n images: `config` must match the decoder's own, `recorded` the codec checks
        itself (float settings, ...); `ideal` (bits) goes to the code-length columns."""
        header = {"n": n, "backend": self.backend, **config, "model": self._model_id, **recorded,
                  **coder_field(self.backend)}
        stream = seal(self.magic, header, body, content)
        self._last_stream = {"ideal": ideal, "real_bytes": len(stream), "pixels": n * PIXELS}
        return stream

    def _open(self, data: bytes, config: dict, least_bits_per_image: float) -> tuple[dict, bytes, bytes, int]:
        """(header, body, content digest, image count) of a stream this decoder can decode: refused in
        one line before anything is decoded otherwise. `least_bits_per_image`: what no image can cost
        less than under this model, which bounds the count the body can hold."""
        header, body, digest = unseal(data, self.magic)
        n = header_count(header, "n", max_coded_items(len(body), least_bits_per_image), self.codec_name)
        expected = {"backend": self.backend, **config}
        recorded = {key: header.get(key) for key in expected}
        if recorded != expected:
            said = ", ".join(f"{key} {value}" for key, value in recorded.items())
            own = ", ".join(f"{key} {value}" for key, value in expected.items())
            raise CorruptStreamError(f"{self.codec_name} stream was coded with another configuration ({said}); "
                                     f"this decoder: {own}")
        check_coder(header, self.codec_name, self.backend)
        if header.get("model") != self._model_id:
            raise CorruptStreamError(f"{self.codec_name} stream was coded with a different trained model")
        return header, body, digest, n

    def extra_columns(self) -> dict:
        return code_length_columns(**self._last_stream)
