r"""Closed forms of training-step spectra on the bilinear game and the Dirac-GAN with R1.

Derivations in docs/stability.md; ``tests/test_step_spectrum.py`` checks the
numerical spectra against its own copies of them, and the report's section
"Stability of the training step" prints both side by side.

The bilinear game ``min_x max_y σxy`` has the field ``F = Ju``,
``J = [[0, σ], [−σ, 0]]``; write ``s = ησ``:

* simultaneous GDA: ``ρ² = 1 + s²``;
* alternating GDA: ``ρ = 1`` for ``s ≤ 2``, the larger root of
  ``λ² − (2 − s²)λ + 1`` beyond;
* extragradient: ``ρ² = 1 − s² + s⁴`` (stable iff ``s < 1``);
* optimistic GDA: the roots of ``λ² − (1 + 2is)λ + is`` (stable iff ``s < 1/√3``);
* consensus (γ): ``ρ² = (1 − ηγσ²)² + s²`` (stable iff ``η < 2γ/(1 + γ²σ²)``);
* heavy ball (β): the roots of ``(λ − 1)²(λ − β)² + s²λ²`` (simultaneous) or
  ``… + s²λ³`` (alternating).

The Dirac-GAN with R1 (γ) and ``a = f′(0)``: simultaneous GDA is stable for
``η < γ/a²`` when ``γ ≤ 2a`` and ``η < (γ − √(γ² − 4a²))/a²`` otherwise;
alternating for ``η < 4/(γ + √(γ² + 4a²))``.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..errors import InputError

__all__ = ["bilinear_radius", "bilinear_stable_eta", "dirac_r1_radius", "dirac_r1_stable_eta",
           "DIRAC_SLOPE"]

#: ``a = f′(0)`` of the Dirac-GAN's losses: ``f(t) = −log(1 + e^{−t})`` gives ½, WGAN 1.
DIRAC_SLOPE = {"vanilla": 0.5, "non-saturating": 0.5, "wgan": 1.0}


def bilinear_radius(kind: str, eta: float, sigma: float = 1.0, *, order: str = "simultaneous",
                    beta: Optional[float] = None, gamma: Optional[float] = None) -> float:
    """The spectral radius of the step of ``kind`` on ``min_x max_y σxy`` (module docstring)."""
    s = eta * sigma
    if kind == "gda" and order == "simultaneous":
        return math.sqrt(1 + s * s)
    if kind == "gda":
        return float(np.max(np.abs(np.roots([1.0, -(2 - s * s), 1.0]))))
    if kind == "extragradient":
        return math.sqrt(1 - s * s + s**4)
    if kind == "optimistic":
        return float(np.max(np.abs(np.roots([1.0, -(1 + 2j * s), 1j * s]))))
    if kind == "consensus":
        return math.hypot(1 - eta * gamma * sigma**2, s)
    if kind == "momentum":
        poly = np.polymul(np.polymul([1.0, -1.0], [1.0, -1.0]), np.polymul([1.0, -beta],
                                                                             [1.0, -beta]))
        poly[1 if order == "alternating" else 2] += s * s
        return float(np.max(np.abs(np.roots(poly))))
    raise InputError(f"no closed form for {kind!r} ({order}) on the bilinear game")


def bilinear_stable_eta(kind: str, sigma: float = 1.0, *, gamma: Optional[float] = None
                        ) -> Optional[float]:
    """The supremum of the stable η on the bilinear game, or ``None`` when no η is stable."""
    if kind == "extragradient":
        return 1.0 / sigma
    if kind == "optimistic":
        return 1.0 / (math.sqrt(3.0) * sigma)
    if kind == "consensus":
        return 2 * gamma / (1 + gamma**2 * sigma**2)
    if kind == "gda":
        return None  # simultaneous: ρ > 1; alternating: ρ = 1 (neutral)
    raise InputError(f"no closed form for the stable step of {kind!r} on the bilinear game")


def dirac_r1_radius(order: str, eta: float, gamma: float, a: float) -> float:
    """``ρ`` of GDA on the Dirac-GAN with R1 at ``θ = ω = 0``: ``I − ηJ_F`` or the ALT product."""
    if order == "simultaneous":
        mu = np.roots([1.0, -gamma, a * a])
        return float(np.max(np.abs(1 - eta * mu)))
    M = np.array([[1 - eta**2 * a * a, eta * a * (1 - eta * gamma)], [-eta * a, 1 - eta * gamma]])
    return float(np.max(np.abs(np.linalg.eigvals(M))))


def dirac_r1_stable_eta(order: str, gamma: float, a: float) -> float:
    """The largest stable η of GDA on the Dirac-GAN with R1 (module docstring)."""
    if order == "simultaneous":
        if gamma <= 2 * a:
            return gamma / a**2
        return (gamma - math.sqrt(gamma**2 - 4 * a * a)) / a**2
    return 4 / (gamma + math.sqrt(gamma**2 + 4 * a * a))
