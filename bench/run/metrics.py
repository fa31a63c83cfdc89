"""Distortion metrics; pixel values are compared on a [0, 1] scale. A row's PSNR and bits/pixel are
derived from its MSE and bytes in one place, `bench.run.measure.derived_columns`."""

from __future__ import annotations

import numpy as np


def mse(original: np.ndarray, decoded: np.ndarray) -> float:
    diff = (original.astype(np.float64) - decoded.astype(np.float64)) / 255.0
    return float(np.mean(diff * diff))


def per_image_mse(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    diff = (original.astype(np.float64) - decoded.astype(np.float64)) / 255.0
    return (diff * diff).reshape(len(diff), -1).mean(axis=1)


#: An image decoded exactly has an infinite PSNR; in the per-image mean it counts as if one of its pixels
#: were one gray level off (77.1 dB for a 28x28 image), so one exact image cannot make the mean infinite.
def _exact_image_mse(pixels_per_image: int) -> float:
    return (1 / 255.0) ** 2 / pixels_per_image


def mean_image_psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """The mean over images of each image's PSNR (CompressAI's convention), beside a row's `psnr`, the
    PSNR of the mean error over all pixels. The mean of per-image PSNRs is the higher of the two, since
    log is concave: it rewards codecs that code many easy images well."""
    if not len(original):
        return float("nan")
    per_image = np.maximum(per_image_mse(original, decoded), _exact_image_mse(original[0].size))
    return float(np.mean(10 * np.log10(1.0 / per_image)))


def per_digit_mse(original: np.ndarray, decoded: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """`mse_digit0` ... `mse_digit9`: the error of each class (NaN for a class absent from the slice)."""
    per_image = per_image_mse(original, decoded)
    return {
        f"mse_digit{d}": float(per_image[labels == d].mean()) if np.any(labels == d) else float("nan")
        for d in range(10)
    }


def mismatched_images(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Indices of images whose decoded pixels differ from the original in any position."""
    return np.flatnonzero((original.reshape(len(original), -1) != decoded.reshape(len(decoded), -1)).any(axis=1))
