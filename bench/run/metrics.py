"""Distortion and size metrics; pixel values are compared on a [0, 1] scale."""

from __future__ import annotations

import numpy as np


def mse(original: np.ndarray, decoded: np.ndarray) -> float:
    diff = (original.astype(np.float64) - decoded.astype(np.float64)) / 255.0
    return float(np.mean(diff * diff))


def psnr(mse_value: float) -> float:
    """Peak signal-to-noise ratio in dB for a peak of 1.0; infinite for a perfect reconstruction."""
    return float("inf") if mse_value == 0 else float(10 * np.log10(1.0 / mse_value))


def per_digit_mse(original: np.ndarray, decoded: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """`mse_digit0` ... `mse_digit9`: the error of each class (NaN for a class absent from the slice)."""
    diff = (original.astype(np.float64) - decoded.astype(np.float64)) / 255.0
    per_image = (diff * diff).reshape(len(diff), -1).mean(axis=1)
    return {
        f"mse_digit{d}": float(per_image[labels == d].mean()) if np.any(labels == d) else float("nan")
        for d in range(10)
    }


def mismatched_images(original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """Indices of images whose decoded pixels differ from the original in any position."""
    return np.flatnonzero((original.reshape(len(original), -1) != decoded.reshape(len(decoded), -1)).any(axis=1))


def bits_per_pixel(payload_bytes: int, pixels: int) -> float:
    return 8.0 * payload_bytes / pixels
