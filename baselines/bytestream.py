"""General-purpose byte compressors (raw, gzip, zstd, brotli, lzma, bz2; zpaq and PPMd) in two framings.

- `framing="whole"`: the split as one IDX stream (16-byte header + pixels), compressed once:
  what `gzip -9 train-images-idx3-ubyte` gives.
- `framing="per-image"`: each image's 784 bytes compressed on its own, in a container of
  length-prefixed chunks: what a user storing images one by one gets.

Defaults are each tool's strongest setting: gzip -9, bzip2 -9, xz -9e, brotli q11 lgwin24,
zstd --ultra -22 --long=27, zpaq -method 5; PPMd variant I at order 4 with 256 MiB, the smallest
on the 10,000 test images. zpaq and PPMd streams go in the sealed container (`_CheckedByteStream`):
their own formats let damage through (PPMd has no checksum; a damaged zpaq block can hang libzpaq).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import lzma
import zlib

import brotli
import numpy as np
import pyppmd
import zpaq
import zstandard

from bench import ImageCodec, create_codec, register_codec
from bench.coding.container import (
    check_content,
    content_digest,
    header_count,
    pack_images,
    seal,
    unpack_images,
    unseal,
)
from bench.coding.parallel import decode_each, encode_each
from bench.data.idx import from_idx, to_idx
from bench.data.mnist import PIXELS
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


@functools.cache
def whole_stream_codec(name: str) -> ByteStreamCodec:
    """The registry's byte codec `name` in the whole-stream framing, one per process: the stores that
    code a small array with it (coresets, bilevel bits) reuse it, and building zstd's compressors costs
    more than decoding a 10-image set."""
    return create_codec(name, framing="whole")


def _check_level(name: str, level: int, low: int, high: int) -> int:
    if not isinstance(level, int) or not low <= level <= high:
        raise ValueError(f"{name} level must be an integer in {low}..{high}, got {level!r}")
    return level


@register_codec("raw", configs=BOTH_FRAMINGS, roles=["uncoded-ceiling"])
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


class _CheckedByteStream(ByteStreamCodec):
    """Base of the coders whose own streams do not stop damage: zpaq and PPMd, in the sealed container.

    The stream is `bench.coding.container.seal(magic, header, body, digest)`: the header names the
    coder and its parameters, the framing, the byte count the body decodes to (the IDX bytes for
    `whole`, the pixels for `per-image`) and the CRC-32 of the body; the digest is that of the decoded
    content (the IDX bytes, or the images). The CRC is checked before the body reaches the library:
    a damaged zpaq block can hang libzpaq (its model and post-processor are ZPAQL programs, which a
    flipped bit can turn into an endless loop) and a damaged PPMd body decodes to other bytes with
    no error. The digest catches what the CRC cannot: an intact body that decodes to other bytes (a
    library bug, such as the one `Ppmd` works around). The seal costs about 80 bytes a stream, not an
    image: `per-image` seals the container of per-image blobs once.
    """

    magic: bytes = b""
    #: Bytes one per-image blob decodes to (`decode_image`); `decompress` sets it from the container.
    _image_bytes = PIXELS

    def _coder_header(self) -> dict:
        """The coder and the parameters a decoder must share with the encoder."""
        raise NotImplementedError

    def _decompress_bytes(self, data: bytes, size: int = PIXELS) -> bytes:
        raise NotImplementedError

    def compress(self, images: np.ndarray) -> bytes:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if self.framing == "whole":
            raw = to_idx(images)
            body = self._compress_bytes(raw, per_image=False)
            digest = content_digest(np.frombuffer(raw, np.uint8))
        else:
            raw = images.tobytes()
            body = pack_images(images.shape, encode_each(self, images))
            digest = content_digest(images)
        header = {**self._coder_header(), "framing": self.framing, "bytes": len(raw), "crc32": zlib.crc32(body)}
        return seal(self.magic, header, body, digest)

    def _check_header(self, header: dict) -> int:
        """The byte count the body decodes to, once the header has shown it is this coder's stream."""
        expected = {**self._coder_header(), "framing": self.framing}
        written = {key: header.get(key) for key in expected}
        differ = [key for key in expected if written[key] != expected[key]]
        if differ:
            theirs = ", ".join(f"{k}={written[k]!r}" for k in differ)
            ours = ", ".join(f"{k}={expected[k]!r}" for k in differ)
            raise CorruptStreamError(f"{self.name}: the stream was written with {theirs}; this decoder has {ours}")
        # A C int bounds what pyppmd decodes in one call; the IDX of all 70,000 images is 54,880,016 bytes.
        return header_count(header, "bytes", 2**31 - 1, self.name)

    def decompress(self, data: bytes) -> np.ndarray:
        header, body, digest = unseal(data, self.magic, self.name)
        size = self._check_header(header)
        if header.get("crc32") != zlib.crc32(body):
            raise CorruptStreamError(f"{self.name}: body checksum mismatch (corrupt stream)")
        if self.framing == "whole":
            try:
                raw = self._decompress_bytes(body, size)
            except self.stream_errors as exc:
                raise CorruptStreamError(f"{self.name}: corrupt stream ({exc})") from None
            if len(raw) != size:
                raise CorruptStreamError(f"{self.name}: decoded {len(raw)} bytes, the header says {size}")
            check_content(np.frombuffer(raw, np.uint8), digest)
            return from_idx(raw, f"{self.name} stream")
        (n, h, w), blobs = unpack_images(body)
        if n * h * w != size:
            raise CorruptStreamError(f"{self.name}: the container holds {n}x{h}x{w} pixels, the header says {size}")
        self._image_bytes = h * w  # decode_image's output size; set before decode_each forks its workers
        pixels = b"".join(decode_each(self, blobs))
        if len(pixels) != size:
            raise CorruptStreamError(f"{self.name}: decoded {len(pixels)} bytes, expected {size}")
        images = np.frombuffer(pixels, dtype=np.uint8).reshape(n, h, w)
        check_content(images, digest)
        return images

    def decode_image(self, blob: bytes) -> bytes:
        try:
            return self._decompress_bytes(blob, self._image_bytes)
        except self.stream_errors as exc:
            raise CorruptStreamError(f"{self.name}: corrupt stream ({exc})") from None


#: Registered zpaq configurations (see `Zpaq`).
ZPAQ_CONFIGS = [{"method": m, "framing": "whole"} for m in range(1, 6)] + [
    {"method": m, "framing": "per-image"} for m in range(1, 5)]


@register_codec("zpaq", configs=ZPAQ_CONFIGS)
class Zpaq(_CheckedByteStream):
    """ZPAQ (libzpaq, context mixing); method 1..5 = zpaq -method 1..5, 5 the strongest.

    One thread (`threads=1`): the input is one block, so the stream is the same on every machine and
    core count (with several threads libzpaq cuts the input into one block per thread, which depends
    on the host and costs 0.5-3% of ratio). `hints=True`: the pre-scan the zpaq command line does.

    zpaq's own SHA-1 (`verify=True`, 20 bytes a block, so 20 bytes an image per image) stays off:
    the sealed container (`_CheckedByteStream`) catches every damaged stream before libzpaq reads it.
    Measured on raw zpaq streams of 4 test images, 1,000 seeded mutations each (truncations, appended
    bytes, bit flips): without the SHA-1, methods 1 and 2 decode 29% of them to other pixels of the
    right length with no error (295 and 286 of 1,000), and with it none; but at methods 1-3, 1-9 in
    1,000 hang libzpaq for more than 10 s with or without it (a damaged ZPAQL program). Methods 4 and
    5 raise zpaq.Error for 97% either way. Sealed, all of them are one CorruptStreamError.

    On the 10,000 test images method 5 is the smallest (1.244 bpp; 3: 1.264); on all 70,000 images
    method 3 is (8,217,295 bytes, 1.198 bpp, against method 5's 8,248,982) at a ninth of its time.

    Registered: every method in both framings but method 5 per image. Per image, every image is a zpaq
    stream of its own, its block header (the model's description) included: what a user zpaq-ing
    the digits one by one gets. Method 5 sets up its large model for every image: 56 ms an image each
    way (about 65 minutes a direction for the 70,000 images, measured on the first 1,000 test images)
    for 444 bytes an image, more than method 4's 264 (its model's description is longer).
    """

    magic = b"ZPQ1"
    stream_errors = (zpaq.Error,)

    def __init__(self, method: int = 5, framing: str = "whole"):
        super().__init__(framing)
        if not isinstance(method, int) or isinstance(method, bool) or not 1 <= method <= 5:
            raise ValueError(f"zpaq method must be an integer in 1..5 (zpaq -method N), got {method!r}")
        self.method = method

    def _coder_header(self):
        return {"coder": "zpaq", "method": self.method}

    def _compress_bytes(self, data, per_image):
        # threads=1: one block, the same stream whatever the machine (see the class docstring).
        return zpaq.compress(data, level=self.method, threads=1, hints=True, verify=False)

    def _decompress_bytes(self, data, size=28 * 28):
        return zpaq.decompress(data, verify=False, threads=1)


PPMD_VARIANTS = ("H", "I")
#: Ppmd8's highest order (7-Zip's PPMD8_MAX_ORDER); Ppmd7 goes to 64.
PPMD8_MAX_ORDER = 16
#: Input bytes per pyppmd `encode` call (see `Ppmd._compress_bytes`).
_PPMD_CHUNK = 4096
#: pyppmd's first output block: an `encode` call whose output reaches it may have lost a byte.
_PPMD_OUT_BLOCK = 32 * 1024
#: A per-image model: one 784-byte image never fills 64 KiB at any order (measured: the same bytes at
#: 64 KiB, 1 MiB, 16 MiB and 256 MiB, orders 2-64, both variants).
_PPMD_IMAGE_MEM_MIB = 1

#: Registered PPMd configurations: orders 2-32 (variant I stops at 16) with a 256 MiB model; 16 MiB at
#: order 6, where the model fills up on the 10,000 test images (+1.1% bytes) and is reset; per image
#: the strongest orders (2 per image, 4 as one stream).
PPMD_CONFIGS = [
    *({"variant": "H", "order": k, "mem": 256, "framing": "whole"} for k in (2, 3, 4, 6, 8, 16, 32)),
    *({"variant": "I", "order": k, "mem": 256, "framing": "whole"} for k in (2, 3, 4, 6, 8, 16)),
    {"variant": "H", "order": 6, "mem": 16, "framing": "whole"},
    {"variant": "I", "order": 6, "mem": 16, "framing": "whole"},
    *({"variant": v, "order": k, "mem": 256, "framing": "per-image"} for v in ("H", "I") for k in (2, 4)),
]


@register_codec("ppmd", configs=PPMD_CONFIGS)
class Ppmd(_CheckedByteStream):
    """PPMd (pyppmd), variant H (7-Zip's) or I (Ppmd8); max order `order`, model memory `mem` MiB.

    Variant H is Ppmd7, what 7-Zip's -m0=PPMd:o=ORDER:mem=MEMm writes (orders 2..64); variant I is
    Ppmd8 (orders 2..16: pyppmd clamps a higher one to 16 without a word, so it is refused here), which
    restarts its model when the memory is full. `mem` is 1..2048 MiB, for the encoder and the decoder.

    PPMd streams have no checksum and no length: the sealed header holds the decoded byte count (the
    decoder stops there, so no end mark is coded) and the container's CRC and digest catch damage
    (`_CheckedByteStream`), which PPMd alone decodes to other bytes without an error.

    pyppmd 1.3.1 loses a byte when one `encode` call's output fills its first 32 KiB output block in
    the middle of a symbol (measured: the IDX of the 10,000 test images coded in one call decodes
    wrongly for H at orders 4, 5, 16, 32 and fails for I at orders 2, 3; coded 4 KiB at a time, every
    order decodes). So the input goes in 4 KiB pieces, whose output stays far below 32 KiB, and the
    encoder refuses a piece whose output reaches it. The pieces do not change the stream: the model
    and the range coder carry over from one call to the next.

    Per image, the model gets `min(mem, 1)` MiB: an image never fills it, the bytes are the same and
    no model of `mem` MiB is allocated 70,000 times.
    """

    magic = b"PPD1"
    stream_errors = (pyppmd.PpmdError, ValueError, EOFError)

    def __init__(self, order: int = 4, mem: int = 256, variant: str = "I", framing: str = "whole"):
        super().__init__(framing)
        if not isinstance(order, int) or isinstance(order, bool) or not 2 <= order <= 64:
            raise ValueError(f"ppmd order must be an integer in 2..64, got {order!r}")
        if not isinstance(mem, int) or isinstance(mem, bool) or not 1 <= mem <= 2048:
            raise ValueError(f"ppmd mem must be the model memory in MiB, an integer in 1..2048, got {mem!r}")
        if variant not in PPMD_VARIANTS:
            raise ValueError(f"ppmd variant must be 'H' (Ppmd7, 7-Zip) or 'I' (Ppmd8), got {variant!r}")
        if variant == "I" and order > PPMD8_MAX_ORDER:
            raise ValueError(f"ppmd variant I (Ppmd8) takes order 2..{PPMD8_MAX_ORDER}, got {order}")
        self.order, self.mem, self.variant = order, mem, variant

    def _coder_header(self):
        return {"coder": "ppmd", "variant": self.variant, "order": self.order, "mem": self.mem}

    def _model_bytes(self, per_image: bool) -> int:
        return (min(self.mem, _PPMD_IMAGE_MEM_MIB) if per_image else self.mem) << 20

    def _compress_bytes(self, data, per_image):
        mem = self._model_bytes(per_image)
        if self.variant == "H":
            encoder = pyppmd.Ppmd7Encoder(self.order, mem)
        else:
            encoder = pyppmd.Ppmd8Encoder(self.order, mem, pyppmd.PPMD8_RESTORE_METHOD_RESTART)
        view = memoryview(data)
        parts = []
        for start in range(0, len(view), _PPMD_CHUNK):
            part = encoder.encode(view[start : start + _PPMD_CHUNK])
            if len(part) >= _PPMD_OUT_BLOCK:  # never seen: 4 KiB would have to grow 8-fold
                raise RuntimeError(f"ppmd: {len(part)} bytes from one {_PPMD_CHUNK}-byte piece; pyppmd may have "
                                   "dropped one")
            parts.append(part)
        parts.append(encoder.flush(endmark=False))  # the decoder stops at the byte count in the header
        return b"".join(parts)

    def _decompress_bytes(self, data, size=28 * 28):
        mem = self._model_bytes(self.per_image)
        if self.variant == "H":
            decoder = pyppmd.Ppmd7Decoder(self.order, mem)
        else:
            decoder = pyppmd.Ppmd8Decoder(self.order, mem, pyppmd.PPMD8_RESTORE_METHOD_RESTART)
        out = decoder.decode(data, size)
        # The range decoder reads a few bytes ahead; at the very end of a stream pyppmd may ask for
        # them (pyppmd's README: "provide an extra null byte"). Bounded: a damaged stream stops here.
        for _ in range(4):
            if len(out) >= size or decoder.eof:
                break
            out += decoder.decode(b"\0" if decoder.needs_input else b"", size - len(out))
        return out
