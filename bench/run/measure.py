"""The one measurement of a codec configuration, shared by the runner, the golden check and the speed
suite: code the images, decode the stream, time both, verify the round trip, and size the stream.

`measure(codec, images)` returns a `Measurement` whose `columns()` are the row's measured columns;
`derived_columns` computes bits/pixel, ratio, total bytes, PSNR and images/s from them, for a row
here and for a whole table in the report. Timing is a parameter (`Timer`): the runner times each
call once, the speed suite hands in pytest-benchmark's rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.api.codec import Codec, DatasetCodec, ImageCodec
from bench.run import metrics
from bench.run.timing import timed

#: `timer(fn) -> (fn(), seconds)`.
Timer = Callable[[Callable[[], Any]], tuple[Any, float]]
#: Images coded once before the timed calls (first-call costs: imports, kernel selection, caches).
WARMUP_IMAGES = 16


def device_timer(device: str) -> Timer:
    """Wall time of one call, with queued GPU work finished inside the timed region."""
    return lambda fn: timed(fn, device)


@dataclass
class Measurement:
    payload: bytes
    enc_s: float
    dec_s: float
    raw_bytes: int
    n_images: int
    #: Image codecs: the decoded images. Dataset codecs: the decoded set and its labels.
    decoded: np.ndarray
    decoded_labels: np.ndarray | None = None
    lossless_ok: bool | None = None
    #: Indices of images whose decode differs from the codec's reference (lossless codecs fail on it).
    mismatched: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mse: float | None = None

    def columns(self) -> dict:
        row = {"raw_bytes": self.raw_bytes, "payload_bytes": len(self.payload), "n_images": self.n_images,
               "enc_s": self.enc_s, "dec_s": self.dec_s}
        if self.decoded_labels is None:
            row.update(lossless_ok=self.lossless_ok, mse=self.mse)
        else:
            row["n_decoded"] = len(self.decoded)
        return row


def measure(codec: Codec, images: np.ndarray, labels: np.ndarray | None = None, *,
            encode_timer: Timer | None = None, decode_timer: Timer | None = None,
            warm_up: bool = True) -> Measurement:
    """Code `images` (and, for a dataset codec, `labels`) with a fitted codec and decode the stream.

    Raises for a decoder that returns the wrong shape or type; a lossless mismatch is reported in
    the measurement (`lossless_ok`, `mismatched`), not raised, so the caller can say which images.
    """
    default = device_timer(codec.ctx.device if codec.uses_torch else "cpu")
    encode_timer, decode_timer = encode_timer or default, decode_timer or default
    if isinstance(codec, DatasetCodec):
        if labels is None:
            raise ValueError(f"{codec.name}: a dataset codec is measured on labelled images")
        payload, enc_s = encode_timer(lambda: codec.compress_dataset(images, labels))
        (decoded, decoded_labels), dec_s = decode_timer(lambda: codec.decompress_dataset(payload))
        decoded, decoded_labels = np.asarray(decoded), np.asarray(decoded_labels)
        if decoded.ndim != 3 or decoded.dtype != np.uint8 or len(decoded) != len(decoded_labels):
            raise ValueError(f"dataset decoder returned images {decoded.shape} {decoded.dtype} "
                             f"and labels {decoded_labels.shape}")
        return Measurement(payload, enc_s, dec_s, int(images.size), len(images), decoded, decoded_labels)
    if not isinstance(codec, ImageCodec):
        raise TypeError(f"{type(codec).__name__} is neither an image nor a dataset codec")
    if warm_up:
        warm = images[:WARMUP_IMAGES]
        codec.decompress(codec.compress(warm))
    payload, enc_s = encode_timer(lambda: codec.compress(images))
    decoded, dec_s = decode_timer(lambda: codec.decompress(payload))
    decoded = np.asarray(decoded)
    if decoded.shape != images.shape or decoded.dtype != np.uint8:
        raise ValueError(f"decoder returned {decoded.shape} {decoded.dtype}, expected {images.shape} uint8")
    reference = codec.reference(images)  # what a lossless decode must equal (binarised, for ar-mnist)
    bad = metrics.mismatched_images(reference, decoded)
    exact = not len(bad) and (reference is images or np.array_equal(reference, images))
    mse = 0.0 if exact else metrics.mse(images, decoded)  # exact decodes skip a 55M-pixel float pass
    return Measurement(payload, enc_s, dec_s, int(images.size), len(images), decoded,
                       lossless_ok=not len(bad), mismatched=bad, mse=mse)


def derived_columns(payload_bytes, raw_bytes, model_bytes, mse, enc_s, dec_s, n_images) -> dict:
    """Columns computed from measured ones. Scalars give a row's values; pandas Series (a table's
    columns) give columns, with NaN where an input is missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        psnr = 10 * np.log10(1.0 / mse)
        return {
            "bpp": 8.0 * payload_bytes / raw_bytes,
            "ratio": raw_bytes / payload_bytes,
            "total_bytes": payload_bytes + model_bytes,
            "psnr": psnr,
            "enc_images_per_s": n_images / enc_s,
            "dec_images_per_s": n_images / dec_s,
            "images_per_s": n_images / (enc_s + dec_s),
        }


def scalar_derived_columns(*inputs) -> dict:
    """`derived_columns` of one row's values (None = not measured, NaN). numpy scalars divide by zero
    to inf (a perfect decode's PSNR), as the table's columns do."""
    return derived_columns(*(np.float64(np.nan if v is None else v) for v in inputs))


def derive(row: dict) -> None:
    """Add the derived columns to a measured row (a failed row that measured nothing gets none)."""
    if not row.get("payload_bytes"):
        return
    derived = scalar_derived_columns(row["payload_bytes"], row["raw_bytes"], row.get("model_bytes") or 0,
                                     row.get("mse", float("nan")), row.get("enc_s") or float("nan"),
                                     row.get("dec_s") or float("nan"), row.get("n_images") or 0)
    for key, value in derived.items():
        value = float(value)
        if key == "psnr" and row.get("mse") is None:
            continue  # dataset codecs measure no distortion
        if key.endswith("images_per_s") and not np.isfinite(value):
            continue  # a codec that timed nothing has no throughput
        row[key] = int(value) if key == "total_bytes" else value
