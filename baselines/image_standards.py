"""The modern image standards through imagecodecs, in both framings of `image.py` (one file per image,
or one mosaic of every image as one sealed stream): JPEG XL, JPEG 2000, JPEG-LS and AVIF, each
lossless and lossy.

Each codec's docstring names its strongest setting; the settings chosen and what they cost are
measured in docs/image-codecs.md. Every file is the format's bare codestream where it has one (JPEG
XL without its container, JPEG 2000 as a .j2k codestream without the JP2 boxes: 85 B less a digit),
and every call runs on one thread, so the bytes do not depend on the machine's core count.
"""

from __future__ import annotations

import imagecodecs

from bench import register_codec

from .image import ImageFileCodec, both_framings, check_int, check_number, gray_as_rgb

#: JPEG XL's, JPEG 2000's and AVIF's mosaics stay within 16384 px a side: 2**28 pixels, JPEG XL's
#: level-5 limit and libavif's default decode limit (16384 x 16384); MNIST's 70,000 digits take 7,420.
SIDE_16K = 16384


class _JpegXl(ImageFileCodec):
    max_side = SIDE_16K
    stream_magic = b"MJXL"

    def _decode(self, data):
        return imagecodecs.jpegxl_decode(data, numthreads=1)


@register_codec("jxl", configs=both_framings([{}, {"effort": 10}]))
class JpegXl(_JpegXl):
    """JPEG XL lossless (libjxl, modular mode) at an effort 1..10, one file per image or one mosaic.

    Effort 9 by default; 10 (libjxl's slowest) is the strongest: 29% smaller than 9 on a mosaic of the
    10,000 test digits for 4-5x the time, 9% smaller one file per image for 2.6-3.5x (docs/image-codecs.md)."""

    def __init__(self, effort: int = 9, framing: str = "per-image"):
        self.effort = check_int("jxl effort", effort, 1, 10)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpegxl_encode(pixels, lossless=True, effort=self.effort, numthreads=1)


@register_codec("jxl-lossy",
                configs=both_framings([{"distance": d} for d in (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 15.0)]))
class JpegXlLossy(_JpegXl):
    """JPEG XL lossy (libjxl, VarDCT) at a Butteraugli distance 0.1..25, one file per image or one mosaic.

    Distance 1 is "visually lossless". Effort 7 (libjxl's default) unless given (1..9): effort 9 costs
    3-4x the time for about 2% fewer bytes at equal PSNR on MNIST."""

    kind = "lossy"

    def __init__(self, distance: float = 1.0, effort: int = 7, framing: str = "per-image"):
        self.distance = check_number("jxl-lossy distance", distance, 0.1, 25.0)
        self.effort = check_int("jxl-lossy effort", effort, 1, 9)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpegxl_encode(pixels, lossless=False, distance=self.distance, effort=self.effort,
                                         numthreads=1)


class _Jpeg2000(ImageFileCodec):
    max_side = SIDE_16K
    stream_magic = b"MJ2K"

    def _set_resolutions(self, name: str, resolutions: int) -> None:
        # OpenJPEG's -n: resolution levels, i.e. wavelet decompositions + 1 (imagecodecs caps them at
        # log2(shorter side) - 2: 2 for one 28x28 digit).
        self.resolutions = check_int(f"{name} resolutions", resolutions, 1, 6)

    def _decode(self, data):
        return imagecodecs.jpeg2k_decode(data, numthreads=1)


#: No wavelet at all (resolutions=1: the EBCOT bit-plane coder on the pixels) codes MNIST 27% smaller
#: than OpenJPEG's default 6 levels in a mosaic and 18% smaller one file per image (first 1,000 test
#: digits: 266,504 B against 364,513 B, 404,964 B against 495,583 B); both are registered.
@register_codec("jpeg2000", configs=both_framings([{}, {"resolutions": 1}]))
class Jpeg2000(_Jpeg2000):
    """JPEG 2000 lossless (OpenJPEG, reversible 5/3 wavelet), one file per image or one mosaic.

    One quality layer, `resolutions` levels (default 6, as opj_compress); resolutions=1 (no wavelet) is
    the strongest on MNIST."""

    def __init__(self, resolutions: int = 6, framing: str = "per-image"):
        self._set_resolutions("jpeg2000", resolutions)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpeg2k_encode(pixels, codecformat="j2k", reversible=True, resolutions=self.resolutions,
                                         numthreads=1)


#: Without a wavelet (resolutions=1) OpenJPEG's layer cut lands well above the target (30 dB asked, 39.9
#: dB given on the mosaic of the 10,000 test digits), and its curve spends 46% fewer bytes than the
#: 6-level one at equal PSNR as one mosaic, 29% fewer one file per image (BD-rate): both are registered.
@register_codec("jpeg2000-lossy", configs=both_framings([{"psnr": p} for p in (20, 25, 30, 35, 40, 45)]
                                                        + [{"psnr": p, "resolutions": 1} for p in (20, 25, 30, 35, 40)]))
class Jpeg2000Lossy(_Jpeg2000):
    """JPEG 2000 lossy (OpenJPEG, 9/7 wavelet) at a target PSNR 10..100 dB, one file per image or one mosaic.

    OpenJPEG's fixed-quality mode: each file's one layer is cut where its PSNR reaches the target;
    `resolutions` levels (default 6)."""

    kind = "lossy"

    def __init__(self, psnr: float = 30, resolutions: int = 6, framing: str = "per-image"):
        self.psnr = check_number("jpeg2000-lossy psnr", psnr, 10, 100)
        self._set_resolutions("jpeg2000-lossy", resolutions)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpeg2k_encode(pixels, self.psnr, codecformat="j2k", reversible=False,
                                         resolutions=self.resolutions, numthreads=1)


class _JpegLs(ImageFileCodec):
    max_side = 65535  # JPEG-LS's 16-bit width and height fields
    stream_magic = b"MJLS"

    def _decode(self, data):
        return imagecodecs.jpegls_decode(data)


@register_codec("jpegls", configs=both_framings([{}]))
class JpegLs(_JpegLs):
    """JPEG-LS lossless (CharLS), one file per image or one mosaic.

    LOCO-I prediction, context modelling and Golomb codes; the format has one lossless setting."""

    def __init__(self, framing: str = "per-image"):
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpegls_encode(pixels, 0)


@register_codec("jpegls-near", configs=both_framings([{"near": k} for k in (1, 2, 4, 8, 16, 32)]))
class JpegLsNear(_JpegLs):
    """JPEG-LS near-lossless (CharLS), every pixel within `near` 1..127, one file per image or one mosaic."""

    kind = "lossy"

    def __init__(self, near: int = 2, framing: str = "per-image"):
        self.near = check_int("jpegls-near near", near, 1, 127)
        self._set_framing(framing)

    def _encode(self, pixels):
        return imagecodecs.jpegls_encode(pixels, self.near)


class _Avif(ImageFileCodec):
    max_side = SIDE_16K
    stream_magic = b"MAVF"

    def _decode(self, data):
        return imagecodecs.avif_decode(data, numthreads=1)


def _check_speed(name: str, speed) -> int:
    return check_int(f"{name} speed", speed, 0, 10)


@register_codec("avif", configs=both_framings([{}]))
class Avif(_Avif):
    """AVIF lossless (libavif with libaom, monochrome 4:0:0), one file per image or one mosaic.

    Encoder speed 0..10 (default 6, libaom's; speed 4 codes a mosaic 3% smaller in 5x the time)."""

    def __init__(self, speed: int = 6, framing: str = "per-image"):
        self.speed = _check_speed("avif", speed)
        self._set_framing(framing)

    def _encode(self, pixels):
        # A 2-D array is coded as monochrome, and imagecodecs then always codes it losslessly.
        return imagecodecs.avif_encode(pixels, speed=self.speed, numthreads=1)


@register_codec("avif-lossy", configs=both_framings([{"quality": q} for q in (10, 30, 50, 70, 90)]))
class AvifLossy(_Avif):
    """AVIF lossy (libavif with libaom, monochrome 4:0:0) at a quality 0..99, one file per image or one mosaic.

    Encoder speed 0..10 (default 6, libaom's): speed 4 codes a mosaic 2-9% smaller in 5-7x the time,
    speed 2 4-11% smaller in 17-28x."""

    kind = "lossy"

    def __init__(self, quality: int = 50, speed: int = 6, framing: str = "per-image"):
        self.quality = check_int("avif-lossy quality", quality, 0, 99)
        self.speed = _check_speed("avif-lossy", speed)
        self._set_framing(framing)

    def _encode(self, pixels):
        # imagecodecs codes a 2-D (gray) array losslessly whatever the quality, so the digits go in as
        # RGB with R = G = B and are converted to 4:0:0 (luma only) with BT.601 full-range weights,
        # which sum to 1: the luma plane is the gray image itself, and it decodes to one gray plane.
        return imagecodecs.avif_encode(gray_as_rgb(pixels), self.quality, speed=self.speed,
                                       pixelformat=imagecodecs.AVIF.PIXEL_FORMAT.YUV400, numthreads=1)
