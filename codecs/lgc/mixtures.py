"""lgc's per-class Gaussian mixtures in the latent space: the number of components BIC chooses, the
fit, the arrays the payload holds (weights, means, Cholesky factors) and the receiver's sampling."""

from __future__ import annotations

import numpy as np


def bic_candidates(max_components: int) -> list[int]:
    """K values BIC chooses among: powers of two up to max_components (and max_components itself).

    A grid instead of every K: BIC keeps choosing more components on 6,000 points per class
    (it chose the top of 1..10 for every digit), and fitting every K up to 32 would cost minutes.
    """
    grid = [2**i for i in range(max_components.bit_length()) if 2**i <= max_components]
    return grid + ([max_components] if max_components not in grid else [])


def fit_class_mixture(latents: np.ndarray, components, max_components: int, covariance: str, seed: int):
    """The class's GaussianMixture: `components` fixed, or the K among `bic_candidates` with the lowest BIC.

    Returns (mixture, bic per K tried).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    candidates = bic_candidates(max_components) if components == "bic" else [components]
    candidates = [k for k in candidates if k <= len(latents)] or [1]
    best, bics = None, {}
    for k in candidates:
        mixture = GaussianMixture(k, covariance_type=covariance, reg_covar=1e-4, random_state=seed, max_iter=200)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mixture.fit(latents)
        bics[k] = float(mixture.bic(latents))
        if best is None or bics[k] < bics[best.n_components]:
            best = mixture
    return best, bics


def mixture_arrays(mixture, covariance: str) -> list[np.ndarray]:
    """(weights, means, Cholesky factors of the covariances) in the shapes sampling needs.

    Sampling z = mean + L eps needs only L (lower triangle for `full`/`tied`, standard deviations for
    `diag`/`spherical`), so that is what ships.
    """
    covariances = mixture.covariances_
    if covariance == "full":
        rows, cols = np.tril_indices(covariances.shape[1])
        factors = np.stack([np.linalg.cholesky(c)[rows, cols] for c in covariances])
    elif covariance == "tied":
        rows, cols = np.tril_indices(covariances.shape[0])
        factors = np.linalg.cholesky(covariances)[rows, cols][None]
    else:  # diag: (K, d) variances; spherical: (K,) variances
        factors = np.sqrt(covariances).reshape(len(mixture.weights_), -1)
    return [mixture.weights_[None], mixture.means_, factors]


def sample_mixture(weights, means, factors, covariance: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n latents from the mixture; component counts drawn from its weights."""
    k, d = means.shape
    weights = np.clip(weights.astype(np.float64), 0, None)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(k, 1 / k)
    counts = rng.multinomial(n, weights)
    samples = []
    for j in range(k):
        eps = rng.standard_normal((counts[j], d))
        if covariance in ("full", "tied"):
            lower = np.zeros((d, d))
            lower[np.tril_indices(d)] = factors[j if covariance == "full" else 0]
            samples.append(means[j] + eps @ lower.T)
        else:
            samples.append(means[j] + eps * factors[j])
    return np.concatenate(samples)[rng.permutation(n)]
