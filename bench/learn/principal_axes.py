"""Principal axes of a set of images, the linear transform shared by PCA-based codecs.

Fitted once per training set and process (several configurations of a sweep fit on the same split).
"""

from __future__ import annotations

import numpy as np

_FITTED: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def principal_axes(images: np.ndarray, digest: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean (784,), axes (784, 784)) in [0, 1] pixel units, float64, axes by decreasing variance.

    `digest` names the content of `images` (e.g. `Split.digest`): the result is kept per digest.
    """
    if digest not in _FITTED:
        x = images.reshape(len(images), -1).astype(np.float64) / 255.0
        mean = x.mean(axis=0)
        centred = x - mean
        eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
        _FITTED.clear()  # one training set at a time is what a run uses; keep memory flat
        _FITTED[digest] = (mean, eigenvectors[:, np.argsort(eigenvalues)[::-1]])
    return _FITTED[digest]
