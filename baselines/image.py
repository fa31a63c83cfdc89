"""Image-file codecs through Pillow, one file per image: PNG, WebP lossless, WebP lossy.

The files are stored in a container of length-prefixed chunks, as `framing="per-image"` does for
the byte-stream codecs; those length bytes count in the payload.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench import ImageCodec, register_codec
from bench.container import pack_chunks, unpack_chunks
from bench.errors import CorruptStreamError

_SHAPE = struct.Struct(">III")


class PillowCodec(ImageCodec):
    """Base: each image saved as one file by Pillow with `self.save_args`."""

    format = ""
    save_args: dict = {}

    def compress(self, images: np.ndarray) -> bytes:
        n, h, w = images.shape
        files = []
        for img in images:
            buf = io.BytesIO()
            Image.fromarray(img, mode="L").save(buf, self.format, **self.save_args)
            files.append(buf.getvalue())
        return pack_chunks(_SHAPE.pack(n, h, w), files)

    def decompress(self, data: bytes) -> np.ndarray:
        header, files = unpack_chunks(data, _SHAPE.size)
        n, h, w = _SHAPE.unpack(header)
        if len(files) != n:
            raise CorruptStreamError(f"{self.name}: header says {n} images, container holds {len(files)}")
        out = np.empty((n, h, w), dtype=np.uint8)
        for i, blob in enumerate(files):
            try:
                with Image.open(io.BytesIO(blob)) as img:
                    img.load()
                    pixels = np.asarray(img.convert("L"))
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise CorruptStreamError(f"{self.name}: image {i} does not decode ({exc})") from None
            if pixels.shape != (h, w):
                raise CorruptStreamError(f"{self.name}: image {i} is {pixels.shape}, expected {(h, w)}")
            out[i] = pixels
        return out


@register_codec("png")
class Png(PillowCodec):
    """PNG, one file per image (zlib level 9, Pillow's optimize pass)."""

    format = "PNG"

    def __init__(self, compress_level: int = 9):
        if compress_level not in range(10):
            raise ValueError(f"png compress_level must be 0..9, got {compress_level!r}")
        self.save_args = {"compress_level": compress_level, "optimize": True}


@register_codec("webp")
class WebpLossless(PillowCodec):
    """WebP lossless, one file per image (method 6, the slowest and smallest)."""

    format = "WEBP"

    def __init__(self, method: int = 6):
        if method not in range(7):
            raise ValueError(f"webp method must be 0..6, got {method!r}")
        self.save_args = {"lossless": True, "quality": 100, "method": method}


@register_codec("webp-lossy", configs=[{"quality": q} for q in (1, 5, 10, 25, 50, 75, 90)])
class WebpLossy(PillowCodec):
    """WebP lossy at a quality setting, one file per image."""

    kind = "lossy"
    format = "WEBP"

    def __init__(self, quality: int = 50, method: int = 6):
        if quality not in range(101):
            raise ValueError(f"webp-lossy quality must be 0..100, got {quality!r}")
        if method not in range(7):
            raise ValueError(f"webp method must be 0..6, got {method!r}")
        self.save_args = {"quality": quality, "method": method}
