"""Image-file codecs through Pillow, one file per image: PNG, WebP lossless, WebP lossy, JPEG.

The files are stored in a container of length-prefixed chunks, as `framing="per-image"` does for
the byte-stream codecs; those length bytes count in the payload.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench import ImageCodec, register_codec
from bench.coding.container import pack_images, unpack_images
from bench.coding.parallel import decode_each, encode_each
from bench.errors import CorruptStreamError


class PillowCodec(ImageCodec):
    """Base: each image saved as one file by Pillow with `self.save_args`."""

    format = ""
    save_args: dict = {}
    per_image = True

    def encode_image(self, image: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image, mode="L").save(buf, self.format, **self.save_args)
        return buf.getvalue()

    def decode_image(self, blob: bytes) -> np.ndarray:
        try:
            with Image.open(io.BytesIO(blob)) as img:
                img.load()
                return np.asarray(img.convert("L"))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptStreamError(f"{self.name}: an image file does not decode ({exc})") from None

    def compress(self, images: np.ndarray) -> bytes:
        return pack_images(images.shape, encode_each(self, images))

    def decompress(self, data: bytes) -> np.ndarray:
        (n, h, w), blobs = unpack_images(data)
        decoded = decode_each(self, blobs)
        if any(pixels.shape != (h, w) for pixels in decoded):
            raise CorruptStreamError(f"{self.name}: an image file is not {h}x{w}")
        return np.stack(decoded) if decoded else np.empty((0, h, w), np.uint8)


@register_codec("png")
class Png(PillowCodec):
    """PNG, one file per image (zlib level 9, Pillow's optimize pass)."""

    format = "PNG"

    def __init__(self, compress_level: int = 9):
        if compress_level not in range(10):
            raise ValueError(f"png compress_level must be 0..9, got {compress_level!r}")
        self.save_args = {"compress_level": compress_level, "optimize": True}


#: Method 6 is the smallest and slowest; 5 is the main job's (measured on 1,000 test images: 23x as
#: fast, 5.27 s against 0.23 s, for 0.7% more bytes, 200,528 B against 199,066 B).
@register_codec("webp", configs=[{}, {"method": 5}])
class WebpLossless(PillowCodec):
    """WebP lossless, one file per image (method 6, the slowest and smallest, by default)."""

    format = "WEBP"

    def __init__(self, method: int = 6):
        if method not in range(7):
            raise ValueError(f"webp method must be 0..6, got {method!r}")
        self.save_args = {"lossless": True, "quality": 100, "method": method}


#: Quality 0 is WebP's lowest rate (about 96 B per MNIST digit, measured); JPEG's is quality 1 (about
#: 199 B: its headers and tables alone are most of that).
@register_codec("webp-lossy", configs=[{"quality": q} for q in (0, 1, 5, 10, 25, 50, 75, 90)])
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


@register_codec("jpeg", configs=[{"quality": q} for q in (1, 5, 10, 25, 50, 75, 90)])
class Jpeg(PillowCodec):
    """Baseline JPEG at a quality setting, one file per image (optimised Huffman tables)."""

    kind = "lossy"
    format = "JPEG"

    def __init__(self, quality: int = 50, optimize: bool = True):
        if quality not in range(1, 101):
            raise ValueError(f"jpeg quality must be 1..100, got {quality!r}")
        self.save_args = {"quality": quality, "optimize": bool(optimize)}
