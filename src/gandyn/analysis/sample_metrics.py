"""Sample-quality metrics for GANs on Gaussian mixtures (PacGAN/VEEGAN conventions).

A generated sample is *high quality* when it lies within 3 std of its
nearest mode; a mode is *covered* when it receives at least one high-quality
sample (PacGAN counts a mode when it gets enough samples; ``min_count``
sets that threshold). Reverse KL over modes is ``KL(q ‖ p)`` with ``q`` the
share of high-quality samples per mode and ``p`` uniform: 0 when every mode
gets its share, ``log k`` when all samples fall on one of ``k`` modes. MMD is
the unbiased squared maximum mean discrepancy with an RBF kernel.
"""

from __future__ import annotations

import numpy as np

from ..datasets import Mixture

__all__ = ["mixture_metrics", "mmd_rbf"]


def mixture_metrics(samples: np.ndarray, mixture: Mixture, min_count: int = 1) -> dict:
    """``modes_covered``, ``high_quality_share`` and ``reverse_kl`` of ``samples``."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != mixture.centers.shape[1] or len(samples) == 0:
        raise ValueError("samples must be a non-empty (n, d) array matching the mixture")
    finite = np.all(np.isfinite(samples), axis=1)
    d = np.linalg.norm(samples[:, None, :] - mixture.centers[None, :, :], axis=2)
    nearest = np.argmin(np.where(finite[:, None], d, np.inf), axis=1)
    good = finite & (d[np.arange(len(samples)), nearest] <= 3 * mixture.std)
    counts = np.bincount(nearest[good], minlength=len(mixture.centers))
    k = len(mixture.centers)
    if good.any():
        q = counts / counts.sum()
        nz = q > 0
        rkl = float(np.sum(q[nz] * np.log(q[nz] * k)))
    else:
        rkl = float("inf")
    return {"modes_covered": int(np.sum(counts >= min_count)), "n_modes": k,
            "high_quality_share": float(good.mean()), "reverse_kl": rkl}


def mmd_rbf(x: np.ndarray, y: np.ndarray, bandwidth: float = 1.0) -> float:
    """Unbiased MMD² between sample sets ``x`` and ``y`` with ``k(a,b) = exp(−|a−b|²/(2h²))``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        raise ValueError("need at least two samples in each set")

    def k(a, b):
        sq = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(sq, 0) / (2 * bandwidth**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
