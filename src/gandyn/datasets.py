"""Seeded data sets for GAN experiments; nothing is downloaded.

* ``ring``: 8 Gaussians on a circle. ``setting="pacgan"`` (PacGAN/VEEGAN):
  radius 1, std 0.01; ``setting="wgan-gp"``: radius 2, std 0.02, all scaled by 1/1.414.
* ``grid``: 25 Gaussians with means in {−4, −2, 0, 2, 4}², std 0.05.
* ``digits``: scikit-learn's 8×8 digits (shipped with scikit-learn), scaled to [−1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Mixture", "ring", "grid", "digits"]


@dataclass(frozen=True)
class Mixture:
    """Samples of an equal-weight Gaussian mixture with its modes and their std."""

    samples: np.ndarray   # (n, 2)
    centers: np.ndarray   # (k, 2)
    std: float
    name: str


def _draw(centers, std, n, seed, name):
    if n < 1:
        raise ValueError("n must be positive")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(centers), size=n)
    return Mixture(centers[idx] + std * rng.standard_normal((n, 2)), centers, float(std), name)


def ring(n: int = 512, seed: int = 0, setting: str = "pacgan") -> Mixture:
    """8 Gaussians on a ring (see the module docstring for the two settings)."""
    angles = 2 * np.pi * np.arange(8) / 8
    unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if setting == "pacgan":
        return _draw(unit, 0.01, n, seed, "ring")
    if setting == "wgan-gp":
        scale = 1 / 1.414
        return _draw(2 * unit * scale, 0.02 * scale, n, seed, "ring")
    raise ValueError(f"setting must be 'pacgan' or 'wgan-gp', got {setting!r}")


def grid(n: int = 512, seed: int = 0) -> Mixture:
    """25 Gaussians with means in {−4, −2, 0, 2, 4}² and std 0.05."""
    ticks = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    centers = np.array([(a, b) for a in ticks for b in ticks])
    return _draw(centers, 0.05, n, seed, "grid")


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as ``(images in [−1, 1], shape (1797, 64); labels)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 8.0 - 1.0, d.target
