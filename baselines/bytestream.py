"""General-purpose byte compressors (raw, gzip, zstd, brotli, lzma, bz2) in two framings.

- `framing="whole"`: the split as one IDX stream (16-byte header + pixels), compressed once:
  what `gzip -9 train-images-idx3-ubyte` gives.
- `framing="per-image"`: each image's 784 bytes compressed on its own, in a container of
  length-prefixed chunks: what a user storing images one by one gets.

Defaults are each tool's strongest setting: gzip -9, bzip2 -9, xz -9e, brotli q11 lgwin24,
zstd --ultra -22 --long=27.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib

import brotli
import numpy as np
import zstandard

from bench import ImageCodec, register_codec
from bench.coding.container import pack_images, unpack_images
from bench.coding.parallel import decode_each, encode_each
from bench.data.idx import from_idx, to_idx
from bench.errors import CorruptStreamError

FRAMINGS = ("whole", "per-image")
BOTH_FRAMINGS = [{"framing": "whole"}, {"framing": "per-image"}]


class ByteStreamCodec(ImageCodec):
    """Base: subclasses give `_compress_bytes` / `_decompress_bytes`; framing is handled here."""

    kind = "lossless"
    #: Library errors that mean "this stream is corrupt".
    stream_errors: tuple = ()

    def __init__(self, framing: str = "whole"):
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
        self.framing = framing
        self.per_image = framing == "per-image"

    def _compress_bytes(self, data: bytes, per_image: bool) -> bytes:
        raise NotImplementedError

    def _decompress_bytes(self, data: bytes) -> bytes:
        raise NotImplementedError

    def encode_image(self, image: np.ndarray) -> bytes:
        return self._compress_bytes(image.tobytes(), per_image=True)

    def decode_image(self, blob: bytes) -> bytes:
        try:
            return self._decompress_bytes(blob)
        except self.stream_errors as exc:
            raise CorruptStreamError(f"{self.name}: corrupt stream ({exc})") from None

    def compress(self, images: np.ndarray) -> bytes:
        if self.framing == "whole":
            return self._compress_bytes(to_idx(images), per_image=False)
        return pack_images(images.shape, encode_each(self, images))

    def decompress(self, data: bytes) -> np.ndarray:
        if self.framing == "whole":
            try:
                return from_idx(self._decompress_bytes(data), f"{self.name} stream")
            except self.stream_errors as exc:
                raise CorruptStreamError(f"{self.name}: corrupt stream ({exc})") from None
        (n, h, w), blobs = unpack_images(data)
        pixels = b"".join(decode_each(self, blobs))
        if len(pixels) != n * h * w:
            raise CorruptStreamError(f"{self.name}: decoded {len(pixels)} bytes, expected {n * h * w}")
        return np.frombuffer(pixels, dtype=np.uint8).reshape(n, h, w)


def _check_level(name: str, level: int, low: int, high: int) -> int:
    if not isinstance(level, int) or not low <= level <= high:
        raise ValueError(f"{name} level must be an integer in {low}..{high}, got {level!r}")
    return level


@register_codec("raw", configs=BOTH_FRAMINGS, roles=["identity"])
class Raw(ByteStreamCodec):
    """Identity: the IDX bytes as they are (the ceiling row)."""

    def _compress_bytes(self, data, per_image):
        return data

    def _decompress_bytes(self, data):
        return data


@register_codec("gzip", configs=BOTH_FRAMINGS)
class Gzip(ByteStreamCodec):
    """gzip (DEFLATE) from the standard library; level 9 = gzip -9."""

    stream_errors = (OSError, EOFError, zlib.error)

    def __init__(self, level: int = 9, framing: str = "whole"):
        super().__init__(framing)
        self.level = _check_level("gzip", level, 0, 9)

    def _compress_bytes(self, data, per_image):
        return gzip.compress(data, self.level, mtime=0)

    def _decompress_bytes(self, data):
        return gzip.decompress(data)


@register_codec("bz2", configs=BOTH_FRAMINGS)
class Bz2(ByteStreamCodec):
    """bzip2 from the standard library; level 9 = bzip2 -9."""

    stream_errors = (OSError, EOFError, ValueError)

    def __init__(self, level: int = 9, framing: str = "whole"):
        super().__init__(framing)
        self.level = _check_level("bz2", level, 1, 9)

    def _compress_bytes(self, data, per_image):
        return bz2.compress(data, self.level)

    def _decompress_bytes(self, data):
        return bz2.decompress(data)


@register_codec("lzma", configs=BOTH_FRAMINGS)
class Lzma(ByteStreamCodec):
    """xz (LZMA2) from the standard library; level 9 with extreme=True = xz -9e."""

    stream_errors = (lzma.LZMAError, EOFError)

    def __init__(self, level: int = 9, extreme: bool = True, framing: str = "whole"):
        super().__init__(framing)
        self.preset = _check_level("lzma", level, 0, 9) | (lzma.PRESET_EXTREME if extreme else 0)

    def _compress_bytes(self, data, per_image):
        if per_image:
            # The preset's 64 MiB dictionary costs ~40 ms of set-up per call; a 4 KiB one holds the
            # whole 784-byte image, so the stream is the same size and 80x faster to make.
            filters = [{"id": lzma.FILTER_LZMA2, "preset": self.preset, "dict_size": 4096}]
            return lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)
        return lzma.compress(data, format=lzma.FORMAT_XZ, preset=self.preset)

    def _decompress_bytes(self, data):
        return lzma.decompress(data, format=lzma.FORMAT_XZ)


@register_codec("brotli", configs=BOTH_FRAMINGS)
class Brotli(ByteStreamCodec):
    """Brotli; quality 11 with lgwin 24 = brotli -q 11 --lgwin=24."""

    stream_errors = (brotli.error,)

    def __init__(self, quality: int = 11, lgwin: int = 24, framing: str = "whole"):
        super().__init__(framing)
        self.quality = _check_level("brotli", quality, 0, 11)
        self.lgwin = _check_level("brotli lgwin", lgwin, 10, 24)

    def _compress_bytes(self, data, per_image):
        return brotli.compress(data, quality=self.quality, lgwin=self.lgwin)

    def _decompress_bytes(self, data):
        return brotli.decompress(data)


@register_codec("zstd", configs=BOTH_FRAMINGS)
class Zstd(ByteStreamCodec):
    """Zstandard; level 22 with a 2^27 window and long-distance matching = zstd --ultra -22 --long=27."""

    stream_errors = (zstandard.ZstdError,)

    def __init__(self, level: int = 22, long: int = 27, framing: str = "whole"):
        super().__init__(framing)
        self.level = _check_level("zstd", level, 1, 22)
        if long and not 10 <= long <= 31:
            raise ValueError(f"zstd long (window log) must be 0 (off) or 10..31, got {long!r}")
        # The content checksum (4 bytes a frame) is what the zstd command writes by default: without
        # it a damaged frame can decode to other pixels with no error.
        if long:
            params = zstandard.ZstdCompressionParameters.from_level(
                self.level, window_log=long, enable_ldm=True, write_checksum=True)
            self._whole = zstandard.ZstdCompressor(compression_params=params)
        else:
            self._whole = zstandard.ZstdCompressor(level=self.level, write_checksum=True)
        # Per image, zstd sizes its window to the 784-byte input by itself.
        self._small = zstandard.ZstdCompressor(level=self.level, write_checksum=True)
        self._decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 31)

    def _compress_bytes(self, data, per_image):
        return (self._small if per_image else self._whole).compress(data)

    def _decompress_bytes(self, data):
        # `decompress()` allocates the frame's declared content size up front, so one flipped bit
        # there would ask for terabytes (MemoryError): it is used only when that size is plausible
        # for the input (one call, 1.6x faster than streaming on the 10,000 test images here).
        # Otherwise streaming, where memory follows the real output; libzstd checks the output
        # against the declared size and the checksum at the frame's end either way.
        declared = zstandard.frame_content_size(data) if len(data) >= 18 else -1
        if 0 <= declared <= max(1 << 24, 1024 * len(data)):
            return self._decompressor.decompress(data, allow_extra_data=False)
        frame = self._decompressor.decompressobj()
        out = frame.decompress(data)
        if not frame.eof:
            raise zstandard.ZstdError("stream ends inside a frame (truncated)")
        if frame.unused_data:
            raise zstandard.ZstdError("bytes after the frame")
        return out
