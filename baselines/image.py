"""Image-file codecs through imagecodecs, in two framings: PNG, WebP lossless, WebP lossy, JPEG.

The modern standards (JPEG XL, JPEG 2000, JPEG-LS, AVIF) are in `image_standards.py`, on the same base.

- `framing="per-image"` (the default): one file per image, the files in a container of
  length-prefixed chunks (`bench.coding.container.pack_images`), whose length bytes count in the
  payload. What a user storing the digits one by one gets: every file pays its own headers and tables.
  These files are not sealed: the table in docs/streams.md says which formats notice damage.
- `framing="stream"`: the whole set as ONE image, a mosaic of the 28x28 tiles in row-major order
  (`bench.coding.mosaic`: `cols = ceil(sqrt(n))` tiles wide, the last row padded with black tiles
  that the decoder drops). It
  goes in the sealed stream (`container.seal`): the image count and the geometry in its small JSON
  header, and a digest of the image files, so any damage is caught before a file is decoded. A set
  that would make a side longer than a page may be is split into pages (several images, one after
  another): MNIST's 70,000 digits are one image in every format but WebP, whose pages stop at 5600 px
  (see `_Webp`), so they are two WebP images.

Mosaic geometry, measured (docs/image-codecs.md): a near-square grid codes within 0.5% of a single
column in WebP and JPEG and 20% smaller than it in JPEG XL, and a column of 10,000 digits (280,000 px)
is beyond what WebP, JPEG, JPEG XL or AVIF can hold. The tiles keep their 28-px pitch: padding each
to 32 px (so that JPEG's 8x8 blocks never straddle two digits) cost 4-6% more bytes at equal PSNR in
JPEG and JPEG XL, up to 4% in AVIF and JPEG 2000 and about 1% in WebP; the digits' black margins make
a straddling block cheap, while the padding rows are not free.

Library: PNG, WebP and JPEG moved from Pillow to imagecodecs (one dependency for every format). On the
first 1,000 test images with equal settings, WebP (lossless and lossy) and JPEG write byte-identical
files and decode to identical pixels; PNG is 10% smaller, without row filters (see `Png`); every
format encodes and decodes faster. Every call runs on one thread: the per-image framing spreads the
images over the cores itself (`bench.coding.parallel`), and one stream is coded on one core, as the
formats' command-line tools would.
"""

from __future__ import annotations

from typing import ClassVar

import imagecodecs
import numpy as np

from bench import ImageCodec, register_codec
from bench.coding.container import (
    check_content,
    content_digest,
    header_count,
    int_in,
    pack_images,
    seal,
    unpack_images,
    unseal,
)
from bench.coding.mosaic import SIDE, from_mosaic, mosaic_columns, mosaic_shape, to_mosaic
from bench.coding.parallel import decode_each, encode_each
from bench.errors import CorruptStreamError

FRAMINGS = ("per-image", "stream")


def both_framings(configs: list[dict]) -> list[dict]:
    """Each configuration one file per image (as registered before streams existed), then as one stream."""
    return [dict(c) for c in configs] + [{**c, "framing": "stream"} for c in configs]


def check_int(name: str, value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be {low}..{high} (an integer), got {value!r}")
    return value


def check_number(name: str, value, low: float, high: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be {low}..{high} (a number), got {value!r}")
    return float(value)


def pillow_luma(rgb: np.ndarray) -> np.ndarray:
    """RGB to 8-bit gray as Pillow's `convert("L")` computes it (ITU-R 601-2, fixed point), so that a
    decoded WebP has the pixels the Pillow-based codec gave; exact on gray (R = G = B) pixels."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)


class ImageFileCodec(ImageCodec):
    """Base: subclasses give `_encode` (a 2-D uint8 image to a file) and `_decode` (back); the two
    framings are handled here. Every subclass's constructor takes `framing` and calls `_set_framing`."""

    #: Longest side, in pixels, of one page of the stream framing: what the format's headers or decoders
    #: allow, or less where that codes better.
    max_side: ClassVar[int] = 16383
    #: Magic bytes of the sealed stream framing (one per format).
    stream_magic: ClassVar[bytes] = b""
    #: The library's errors on data it cannot decode (imagecodecs raises RuntimeError subclasses;
    #: ValueError for impossible shapes).
    errors: ClassVar[tuple] = (RuntimeError, ValueError)
    #: (height, width) every per-image file must decode to: the container's, set by `decompress` before
    #: the files are decoded (in forked workers, which inherit it).
    _shape: tuple[int, int] = (28, 28)

    def _set_framing(self, framing: str) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
        self.framing = framing
        self.per_image = framing == "per-image"

    def _encode(self, pixels: np.ndarray) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    # -- one picture of any size: a digit, a page of the stream framing, a coreset's mosaic ----------------
    def encode_picture(self, pixels: np.ndarray) -> bytes:
        """One 2-D uint8 image of any size (within the format's limits) as one file of this format."""
        return bytes(self._encode(np.ascontiguousarray(pixels, np.uint8)))

    def decode_picture(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        """The inverse of `encode_picture`: its errors, and any other shape than `shape`, as one
        CorruptStreamError line."""
        try:
            pixels = self._decode(data)
        except self.errors as exc:
            raise CorruptStreamError(f"{self.name}: an image file does not decode ({exc})") from None
        if pixels.shape != shape or pixels.dtype != np.uint8:
            raise CorruptStreamError(f"{self.name}: an image file decodes to {pixels.shape} {pixels.dtype}, "
                                     f"expected {shape} uint8")
        return pixels

    # -- per-image framing -------------------------------------------------------------------------
    def encode_image(self, image: np.ndarray) -> bytes:
        return self.encode_picture(image)

    def decode_image(self, blob: bytes) -> np.ndarray:
        return self.decode_picture(blob, self._shape)

    # -- both ----------------------------------------------------------------------------------------
    def compress(self, images: np.ndarray) -> bytes:
        images = np.ascontiguousarray(images, np.uint8)
        if self.framing == "stream":
            return self._compress_stream(images)
        return pack_images(images.shape, encode_each(self, images))

    def decompress(self, data: bytes) -> np.ndarray:
        if self.framing == "stream":
            return self._decompress_stream(data)
        try:
            (n, h, w), blobs = unpack_images(data)
        except CorruptStreamError as exc:
            raise CorruptStreamError(f"{self.name}: {exc}") from None
        self._shape = (h, w)
        decoded = decode_each(self, blobs)
        return np.stack(decoded) if decoded else np.empty((0, h, w), np.uint8)

    # -- stream framing --------------------------------------------------------------------------------
    def geometry(self, n: int) -> tuple[int, int]:
        """(tiles per row, rows per page) of the mosaic of n digits: a near-square grid, one page when
        the page side allows it."""
        cols = min(mosaic_columns(n), self.max_side // SIDE)
        return cols, min(max(1, -(-n // cols)), self.max_side // SIDE)

    def _compress_stream(self, images: np.ndarray) -> bytes:
        n = len(images)
        if images.shape[1:] != (SIDE, SIDE):
            raise ValueError(f"{self.name}: the stream framing tiles {SIDE}x{SIDE} images, got {images.shape[1:]}")
        cols, rows = self.geometry(n)
        per_page = cols * rows
        pages = [self.encode_picture(to_mosaic(images[i : i + per_page], cols)) for i in range(0, n, per_page)]
        body = b"".join(pages)
        header = {"n": n, "h": SIDE, "w": SIDE, "cols": cols, "rows": rows, "pages": [len(p) for p in pages]}
        # The digest is of the image files themselves, not of decoded pixels: it catches any damage before
        # a decoder reads it, costs no decode at encode time, and does not depend on a lossy decoder's
        # floating-point arithmetic being the same on every machine.
        return seal(self.stream_magic, header, body, content_digest(np.frombuffer(body, np.uint8)))

    def _decompress_stream(self, data: bytes) -> np.ndarray:
        header, body, digest = unseal(data, self.stream_magic, self.name)
        try:
            check_content(np.frombuffer(body, np.uint8), digest)
        except CorruptStreamError as exc:
            raise CorruptStreamError(f"{self.name}: {exc}") from None
        if header.get("h") != SIDE or header.get("w") != SIDE:
            raise CorruptStreamError(f"{self.name}: header's tile size is not {SIDE}x{SIDE} (corrupt stream)")
        cols = self._header_int(header, "cols", self.max_side // SIDE)
        rows = self._header_int(header, "rows", self.max_side // SIDE)
        pages = header.get("pages")
        if (not isinstance(pages, list) or len(pages) > len(body)
                or not all(isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in pages)
                or sum(pages) != len(body)):
            raise CorruptStreamError(f"{self.name}: header's page lengths do not match the body (corrupt stream)")
        # Every page holds at most cols x rows images; nothing is allocated for them before a page has
        # decoded to exactly the size the header gives it.
        n = header_count(header, "n", len(pages) * cols * rows, self.name)
        per_page = cols * rows
        if len(pages) != -(-n // per_page):
            raise CorruptStreamError(f"{self.name}: {len(pages)} pages for {n} images of {per_page} a page (corrupt stream)")
        parts, start = [], 0
        for index, length in enumerate(pages):
            count = min(per_page, n - index * per_page)
            page = self.decode_picture(body[start : start + length], mosaic_shape(count, cols))
            parts.append(from_mosaic(page, count, cols))
            start += length
        return np.concatenate(parts) if parts else np.empty((0, SIDE, SIDE), np.uint8)

    def _header_int(self, header: dict, key: str, high: int) -> int:
        value = header.get(key)
        if not int_in(value, 1, high):
            raise CorruptStreamError(f"{self.name}: header field {key!r} is not in 1..{high} (corrupt stream)")
        return value


def gray_as_rgb(pixels: np.ndarray) -> np.ndarray:
    """A 2-D gray image as the 3-channel array (R = G = B) imagecodecs' WebP and AVIF encoders take."""
    return np.repeat(pixels[:, :, None], 3, axis=2)


@register_codec("png", configs=both_framings([{}]))
class Png(ImageFileCodec):
    """PNG at zlib level 9 (the strongest), no row filter, one file per image or one mosaic."""

    max_side = 1_000_000  # libpng's default limit on a decoded image's width and height
    stream_magic = b"MPNG"

    def __init__(self, compress_level: int = 9, framing: str = "per-image"):
        self.level = check_int("png compress_level", compress_level, 0, 9)
        self._set_framing(framing)

    def _encode(self, pixels):
        # No filter: libpng's adaptive row filters (its default) lose on MNIST's black backgrounds, on
        # every one of the first 1,000 test digits (241,234 B against 257,630 B one file each; Pillow's
        # level 9 with optimize: 267,786 B) and by a few hundred bytes on a mosaic (1,649,766 B against
        # 1,649,899 B for the 10,000 test digits, 11,637,324 B against 11,637,623 B for all 70,000).
        return imagecodecs.png_encode(pixels, level=self.level, filter=imagecodecs.PNG.FILTER.NONE)

    def _decode(self, data):
        return imagecodecs.png_decode(data)


class _Webp(ImageFileCodec):
    """WebP through libwebp; the gray digits go in as RGB (R = G = B), as Pillow gave them to it."""

    #: WebP allows 16383 px a side, but libwebp's lossy encoder slows down about 4x a pixel and writes
    #: 8-9% more bytes once an image passes about 2**17 macroblocks (the 70,000 digits at quality 50: one
    #: 7420-px image 38.2 s CPU for 8,938,576 B, two pages of at most 5600 px 11.6 s for 8,235,832 B;
    #: 40,000 digits in one image code at the speed of 10,000, 45,000 do not). So a WebP page holds at
    #: most 200 x 200 digits, lossless too (0.2% smaller, as fast within the noise). docs/image-codecs.md.
    max_side = 5600
    stream_magic = b"MWBP"

    def _decode(self, data):
        pixels = imagecodecs.webp_decode(data, hasalpha=False)
        return pillow_luma(pixels) if pixels.ndim == 3 else pixels


#: Method 6 is the smallest and slowest; 5 is the main job's (measured on 1,000 test images: 23x as
#: fast, 5.27 s against 0.23 s, for 0.7% more bytes, 200,528 B against 199,066 B).
@register_codec("webp", configs=both_framings([{}, {"method": 5}]))
class WebpLossless(_Webp):
    """WebP lossless, one file per image or one mosaic (method 6, quality 100: the slowest and smallest)."""

    def __init__(self, method: int = 6, framing: str = "per-image"):
        self.method = check_int("webp method", method, 0, 6)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.webp_encode(gray_as_rgb(pixels), 100, lossless=True, method=self.method)


#: Quality 0 is WebP's lowest rate (about 96 B per MNIST digit, measured); JPEG's is quality 1 (about
#: 199 B: its headers and tables alone are most of that).
@register_codec("webp-lossy", configs=both_framings([{"quality": q} for q in (0, 1, 5, 10, 25, 50, 75, 90)]))
class WebpLossy(_Webp):
    """WebP lossy at a quality 0..100, one file per image or one mosaic (method 6, the strongest)."""

    kind = "lossy"

    def __init__(self, quality: int = 50, method: int = 6, framing: str = "per-image"):
        self.quality = check_int("webp-lossy quality", quality, 0, 100)
        self.method = check_int("webp method", method, 0, 6)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.webp_encode(gray_as_rgb(pixels), self.quality, lossless=False, method=self.method)


@register_codec("jpeg", configs=both_framings([{"quality": q} for q in (1, 5, 10, 25, 50, 75, 90)]))
class Jpeg(ImageFileCodec):
    """Baseline JPEG at a quality 1..100, optimised Huffman tables, one file per image or one mosaic.

    libjpeg-turbo; `optimize=True` (two passes, tables fitted to the image) is its strongest setting."""

    kind = "lossy"
    max_side = 65500  # libjpeg's JPEG_MAX_DIMENSION
    stream_magic = b"MJPG"

    def __init__(self, quality: int = 50, optimize: bool = True, framing: str = "per-image"):
        self.quality = check_int("jpeg quality", quality, 1, 100)
        if not isinstance(optimize, bool):
            raise ValueError(f"jpeg optimize must be True or False, got {optimize!r}")
        self.optimize = optimize
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpeg8_encode(pixels, self.quality, optimize=self.optimize)

    def _decode(self, data):
        return imagecodecs.jpeg8_decode(data)
