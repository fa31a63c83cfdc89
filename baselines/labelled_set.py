"""A small labelled training set as one sealed stream: what every dataset codec that ships images sends.

The images are sorted by class; the header holds the class counts (labels follow from them, so they
cost nothing more), the storage and the byte codec. Storages:

- `lossless`: the 8-bit images as one IDX stream compressed by the harness's lossless byte codecs
  (`byte_codec="best"` tries each and keeps the smallest).
- `binary`: each pixel thresholded at 128 to 0 or 255, eight pixels per byte, then the same byte
  codecs. MNIST digits are nearly two-level: a binary image costs about a fifth of the 8-bit one
  (27 against 143 B per image with lzma on 400 train images, measured) and a judge trained on binary
  digits still reads the grey real ones (docs/codecs.md, "Compressed coresets").
- `webp`: the images tiled into one square-ish mosaic (`bench.coding.mosaic`) coded as a single lossy WebP at
  `quality`: one file, so no per-image header (35 B per image at quality 0, against 96 B per image
  as separate files).

The content digest is of the images the receiver decodes (for lossy storages, the encoder decodes its
own stream to take it), so damage that a checksum-less byte codec (brotli) or WebP would decode to
other pixels is still caught.

It lives beside the baselines because it stores with their codecs (the byte coders of `bytestream`,
the WebP of `image`); the coresets here and the distilled sets of `codecs/distill.py` use it.
"""

from __future__ import annotations

import functools

import numpy as np
from bench_baselines.bytestream import whole_stream_codec

from bench.api.registry import create_codec
from bench.coding.container import check_content, content_digest, int_in, seal, unseal
from bench.coding.mosaic import SIDE, from_mosaic, mosaic_shape, to_mosaic
from bench.data.mnist import N_CLASSES, binarise
from bench.errors import CorruptStreamError

FORMAT_VERSION = 2
MAGIC = b"SUB2"
#: The lossless byte codecs of baselines/bytestream.py a stream may use; the name is stored.
BYTE_CODECS = ("gzip", "bz2", "lzma", "brotli", "zstd")
STORAGES = ("lossless", "binary", "webp")
#: WebP's largest side is 16,383 pixels: at most 585 tiles of 28 in a row or a column.
MOSAIC_MAX_TILES = 16_383 // SIDE


def check_storage(storage: str, byte_codec: str = "best", quality: int = 0) -> None:
    """Raise ValueError (one line) for a storage this module cannot write."""
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if byte_codec != "best" and byte_codec not in BYTE_CODECS:
        raise ValueError(f"byte_codec must be 'best' or one of {', '.join(BYTE_CODECS)}, got {byte_codec!r}")
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        raise ValueError(f"quality must be an integer in 0..100, got {quality!r}")


def _smallest(payload: np.ndarray, byte_codec: str) -> tuple[str, bytes]:
    candidates = BYTE_CODECS if byte_codec == "best" else (byte_codec,)
    streams = {name: whole_stream_codec(name).compress(payload) for name in candidates}
    best = min(streams, key=lambda name: len(streams[name]))
    return best, streams[best]


def _mosaic(images: np.ndarray) -> np.ndarray:
    if len(images) > MOSAIC_MAX_TILES ** 2:
        raise ValueError(f"storage webp holds at most {MOSAIC_MAX_TILES ** 2} images in one mosaic, got {len(images)}")
    return to_mosaic(images)


def _tiles(mosaic: np.ndarray, n: int) -> np.ndarray:
    return from_mosaic(mosaic, n, what="subset stream's mosaic")


def _webp(mosaic: np.ndarray, quality: int) -> bytes:
    return _webp_codec(quality).encode_picture(mosaic)


def _unwebp(body: bytes, n: int) -> np.ndarray:
    # The whole mosaic is one WebP file: decoded and checked against the mosaic's shape for n images.
    return _webp_codec(0).decode_picture(body, mosaic_shape(n))  # the quality is the encoder's only


@functools.cache
def _webp_codec(quality: int):
    """The registry's WebP codec (baselines/image.py), used on the whole mosaic as one image."""
    return create_codec("webp-lossy", quality=quality)


def stored_form(images: np.ndarray, storage: str) -> np.ndarray:
    """What the receiver gets for these images under a storage whose loss is per pixel (binary);
    other storages are decoded from their stream."""
    if storage == "binary":
        return binarise(images) * np.uint8(255)
    return images


def pack_labelled_set(images: np.ndarray, labels: np.ndarray, storage: str = "lossless",
                      byte_codec: str = "best", quality: int = 0) -> bytes:
    """Images (uint8, n x 28 x 28) and labels (0..9) as one sealed stream; labels by class counts."""
    check_storage(storage, byte_codec, quality)
    order = np.argsort(labels, kind="stable")
    images = np.ascontiguousarray(images[order], dtype=np.uint8)
    counts = [int(c) for c in np.bincount(labels, minlength=N_CLASSES)]
    if storage == "lossless":  # the format every lossless subset stream has had: its bytes unchanged
        codec, body = _smallest(images, byte_codec)
        return seal(MAGIC, {"v": FORMAT_VERSION, "codec": codec, "counts": counts}, body, content_digest(images))
    if storage == "binary":
        decoded = stored_form(images, storage)
        packed = np.packbits(decoded.reshape(len(images), -1) > 0, axis=None)
        codec, body = _smallest(packed.reshape(1, -1), byte_codec)
        header = {"v": FORMAT_VERSION, "codec": codec, "counts": counts, "store": "binary"}
        return seal(MAGIC, header, body, content_digest(decoded))
    body = _webp(_mosaic(images), quality)
    decoded = _tiles(_unwebp(body, len(images)), len(images))
    header = {"v": FORMAT_VERSION, "codec": "webp", "counts": counts, "store": "webp", "q": quality}
    return seal(MAGIC, header, body, content_digest(decoded))


def unpack_labelled_set(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    header, body, digest = unseal(data, MAGIC)
    if header.get("v") != FORMAT_VERSION:
        raise CorruptStreamError(f"subset stream has format version {header.get('v')}, expected {FORMAT_VERSION}")
    store = header.get("store", "lossless")
    if store not in STORAGES:
        raise CorruptStreamError("subset stream names a storage that does not exist (corrupt stream)")
    if store != "webp" and header.get("codec") not in BYTE_CODECS:
        raise CorruptStreamError("subset stream names a byte codec that does not exist (corrupt stream)")
    counts = header.get("counts")
    if (not isinstance(counts, list) or len(counts) != N_CLASSES
            or not all(int_in(c, 0, 2**63 - 1) for c in counts)):  # a bool is no count
        raise CorruptStreamError("subset stream has no valid class counts (corrupt stream)")
    n = sum(counts)
    # Nothing is sized by the counts before the body has been decoded and matched against them.
    if store == "lossless":
        images = whole_stream_codec(header["codec"]).decompress(body)
        if images.shape[1:] != (SIDE, SIDE) or len(images) != n:
            raise CorruptStreamError(f"subset stream holds {images.shape} images, its header says {n} (corrupt)")
    elif store == "binary":
        packed = whole_stream_codec(header["codec"]).decompress(body).reshape(-1)
        if len(packed) != -(-n * SIDE * SIDE // 8):
            raise CorruptStreamError(f"subset stream holds {len(packed)} packed bytes, its header says {n} images "
                                     "(corrupt)")
        bits = np.unpackbits(packed)[: n * SIDE * SIDE]
        images = (bits * 255).astype(np.uint8).reshape(n, SIDE, SIDE)
    else:
        if n < 1:
            raise CorruptStreamError("subset stream's WebP mosaic holds no images (corrupt)")
        images = _tiles(_unwebp(body, n), n)
    check_content(images, digest)
    return images, np.repeat(np.arange(N_CLASSES, dtype=np.uint8), counts)
