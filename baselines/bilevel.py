"""Classical coders of the binarised images: what ar-mnist's bits/pixel compare with, on the same source.

ar-mnist codes MNIST binarised at 128 exactly (and is lossy against the 8-bit images). These codecs
code the very same bits, exactly, with classical tools, so the two sides meet on one source:

- a byte coder of `bench`'s byte-stream codecs (`coder="zpaq"`, `"ppmd"`, `"lzma"`, ...), whole set
  as one stream, on the bits packed eight pixels a byte (`packing="bits"`: 98 bytes an image) or one
  byte a pixel (`packing="bytes"`: 0 or 1, so a context of previous bytes is a context of previous pixels);
- a bilevel image format on the set as one mosaic image (`bench.coding.mosaic`): 1-bit PNG
  (`coder="png"`) or TIFF with CCITT Group 4 (`coder="g4"`, the fax standard's two-dimensional
  coding), both through Pillow.

Like ar-mnist, they are lossy against MNIST (kind `lossy`, `exact_source`), exact on the binarised
images (checked image by image on every run); the decoded images are 0 or 255. The stream is sealed
with a digest of the decoded bits, so damage that a format would decode to other pixels is caught.
"""

from __future__ import annotations

import io

import numpy as np
from bench_baselines.bytestream import whole_stream_codec
from PIL import Image, UnidentifiedImageError

from bench import ImageCodec, register_codec
from bench.coding.container import check_content, content_digest, header_count, seal, unseal
from bench.coding.mosaic import from_mosaic, mosaic_shape, to_mosaic
from bench.data.mnist import BINARISED, SIDE, binarise
from bench.errors import CorruptStreamError

MAGIC = b"BIL1"
BYTE_CODERS = ("zpaq", "ppmd", "lzma", "bz2", "brotli", "zstd", "gzip")
IMAGE_CODERS = ("png", "g4")
PACKINGS = ("bits", "bytes")
#: The header's image count allocates nothing (the decoded array's own size is checked against it), so
#: its bound only keeps it a plausible count.
MAX_IMAGES = 1 << 31


def _pillow_save(mosaic: np.ndarray, coder: str) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(mosaic.astype(bool))  # mode "1"
    if coder == "png":
        image.save(buffer, "PNG", optimize=True)
    else:
        image.save(buffer, "TIFF", compression="group4")
    return buffer.getvalue()


def _pillow_load(body: bytes) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(body)) as image:
            image.load()
            return np.asarray(image.convert("1"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptStreamError(f"bilevel: the image does not decode ({exc})") from None


@register_codec("bilevel", configs=[
    *[{"coder": c, "packing": p} for c in ("zpaq", "ppmd", "lzma") for p in PACKINGS],
    {"coder": "png"}, {"coder": "g4"},
])
class Bilevel(ImageCodec):
    """The images binarised at 128, coded exactly by a classical coder (byte coder or bilevel image format)."""

    kind = "lossy"
    exact_source = BINARISED

    def __init__(self, coder: str = "zpaq", packing: str | None = None):
        if coder not in BYTE_CODERS + IMAGE_CODERS:
            raise ValueError(f"bilevel coder must be one of {', '.join(BYTE_CODERS + IMAGE_CODERS)}, got {coder!r}")
        if coder in IMAGE_CODERS:
            if packing is not None:
                raise ValueError(f"bilevel coder {coder} codes a 1-bit image: packing is not one of its parameters")
        elif packing is None:
            # Packed bits: on the 10,000 test images zpaq makes 164,279 B of them against 172,563 B of
            # one byte a pixel, in a fifth of the time (measured).
            packing = "bits"
        elif packing not in PACKINGS:
            raise ValueError(f"bilevel packing must be one of {', '.join(PACKINGS)}, got {packing!r}")
        self.coder, self.packing = coder, packing

    def reference(self, images: np.ndarray) -> np.ndarray:
        return binarise(images) * np.uint8(255)

    def _body(self, bits: np.ndarray) -> bytes:
        if self.coder in IMAGE_CODERS:
            return _pillow_save(to_mosaic(bits), self.coder)
        n = len(bits)
        array = np.packbits(bits.reshape(n, -1), axis=1) if self.packing == "bits" else bits
        return whole_stream_codec(self.coder).compress(array)

    def _bits(self, body: bytes, n: int) -> np.ndarray:
        if self.coder in IMAGE_CODERS:
            return from_mosaic(_pillow_load(body), n, what="bilevel mosaic")
        array = whole_stream_codec(self.coder).decompress(body)  # damage: CorruptStreamError, one line
        expected = (n, SIDE * SIDE // 8) if self.packing == "bits" else (n, SIDE, SIDE)
        if array.shape != expected:
            raise CorruptStreamError(f"bilevel: decoded {array.shape}, expected {expected} (corrupt)")
        if self.packing == "bits":
            return np.unpackbits(array, axis=1).reshape(n, SIDE, SIDE)
        return np.asarray(array)

    def compress(self, images: np.ndarray) -> bytes:
        bits = binarise(images)
        header = {"n": len(images), "coder": self.coder, "packing": self.packing}
        if self.coder in IMAGE_CODERS:
            header["mosaic"] = list(mosaic_shape(len(images)))
        return seal(MAGIC, header, self._body(bits), content_digest(bits))

    def decompress(self, data: bytes) -> np.ndarray:
        header, body, digest = unseal(data, MAGIC)
        if header.get("coder") != self.coder or header.get("packing") != self.packing:
            raise CorruptStreamError(f"bilevel stream was coded by {header.get('coder')}/{header.get('packing')}, "
                                     f"not {self.coder}/{self.packing}")
        n = header_count(header, "n", MAX_IMAGES, "bilevel")
        bits = self._bits(body, n)
        if bits.min(initial=0) < 0 or bits.max(initial=0) > 1:
            raise CorruptStreamError("bilevel: decoded values other than 0 and 1 (corrupt)")
        check_content(bits.astype(np.uint8), digest)
        return bits.astype(np.uint8) * np.uint8(255)


