"""Exact moments of SGA and of its SDEs on linear-quadratic games.

On the game of :mod:`gandyn.games.linear_quadratic` every quantity of a
weak-error study is a closed form, so orders are measured with no Monte Carlo
and no integrator error.

SGA. Each sub-update (a discriminator step, a generator step, or a
simultaneous step) is affine with fresh additive noise,

    u ← M u + P J ē,    M = I + P K,    Cov(J ē) = Σ / B,

where ``P`` holds the rates of the players that move, ``J = diag(−I, I)`` and
``ē`` is a batch mean of the per-sample data. So the mean and the second
moment ``S = E[u uᵀ]`` follow ``m ← M m`` and ``S ← M S Mᵀ + P Σ P / B``
exactly (this is Lemma 11 without its ``O(η³)`` remainder).

SDEs. Each SDE is an Ornstein–Uhlenbeck process ``du = F u dt + σ dW`` with
constant ``Γ = σσᵀ``:

* ``sml-sde``: ``F = K``;
* ``alt-sde``: ``F = K + η(−½K² − E)``, ``E = [[C Cᵀ, −C D], [0, 0]]``
  (``∇_ω g_θ · g_ω = C(Cᵀθ − Dω)``);
* ``sml2-sde``: ``F = K − (η/2)K²``;

``Γ = (η/B) Σ`` (``joint``) or its block-diagonal part (``blockdiag``). Over
one interval of length ``η``, ``m ← e^{Fη} m`` and
``S ← e^{Fη} S e^{Fᵀη} + ∫_0^η e^{Fs} Γ e^{Fᵀs} ds``, the integral by Van
Loan's block exponential.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from ..games.linear_quadratic import LinearQuadraticSpec
from ..sga import sub_steps

__all__ = ["sga_moments", "sde_moments", "sde_drift_matrix", "sde_noise_covariance",
           "van_loan_integral", "propagate_moments"]


def _sub_updates(spec: LinearQuadraticSpec, scheme: str, eta_theta: float, eta_omega: float,
                 n_disc: int):
    """The rate matrices ``P`` of the sub-updates of one step (:func:`gandyn.sga.sub_steps`)."""
    dt, do = spec.d_theta, spec.d_omega
    rates = {"theta": np.r_[np.full(dt, eta_theta), np.zeros(do)],
             "omega": np.r_[np.zeros(dt), np.full(do, eta_omega)]}
    rates["both"] = rates["theta"] + rates["omega"]
    return [np.diag(rates[who]) for who in sub_steps(scheme, n_disc)]


def propagate_moments(m, S, updates, n_steps: int):
    """``E u`` and ``E u uᵀ`` at ``t = 0 … n_steps`` under affine steps with additive noise.

    Each step applies every ``(M, Q)`` of ``updates`` in turn:
    ``m ← M m``, ``S ← M S Mᵀ + Q``. Returns arrays of shapes
    ``(n_steps + 1, dim)`` and ``(n_steps + 1, dim, dim)``.
    """
    means, seconds = [m], [S]
    for _ in range(n_steps):
        for M, Q in updates:
            m = M @ m
            S = M @ S @ M.T + Q
        means.append(m)
        seconds.append(S)
    return np.array(means), np.array(seconds)


def sga_moments(spec: LinearQuadraticSpec, scheme: str, eta_theta: float, n_steps: int,
                batch_size: int, eta_omega: float | None = None, n_disc: int = 1):
    """Exact ``E u_t`` and ``E u_t u_tᵀ`` of SGA for ``t = 0 … n_steps``.

    Returns arrays of shapes ``(n_steps + 1, dim)`` and ``(n_steps + 1, dim, dim)``.
    """
    eta_omega = eta_theta if eta_omega is None else eta_omega
    K, Sigma = spec.K, spec.field_covariance
    dim = K.shape[0]
    updates = [(np.eye(dim) + P @ K, P @ Sigma @ P.T / batch_size)
               for P in _sub_updates(spec, scheme, eta_theta, eta_omega, n_disc)]
    return propagate_moments(spec.u0.copy(), np.outer(spec.u0, spec.u0), updates, n_steps)


def sde_drift_matrix(spec: LinearQuadraticSpec, sde: str, eta: float) -> np.ndarray:
    """``F`` with ``b(u) = F u`` for the SDE named ``sde``."""
    K = spec.K
    if sde == "sml-sde":
        return K
    if sde == "sml2-sde":
        return K - 0.5 * eta * K @ K
    if sde == "alt-sde":
        dt = spec.d_theta
        E = np.zeros_like(K)
        E[:dt, :dt] = spec.C @ spec.C.T
        E[:dt, dt:] = -spec.C @ spec.D
        return K + eta * (-0.5 * K @ K - E)
    raise ValueError(f"unknown SDE {sde!r}")


def sde_noise_covariance(spec: LinearQuadraticSpec, covariance: str, eta: float,
                         batch_size: int) -> np.ndarray:
    """``Γ = σσᵀ = (η/B) Σ``, joint or block-diagonal."""
    Sigma = spec.field_covariance.copy()
    if covariance == "blockdiag":
        dt = spec.d_theta
        Sigma[:dt, dt:] = 0.0
        Sigma[dt:, :dt] = 0.0
    elif covariance != "joint":
        raise ValueError(f"covariance must be 'blockdiag' or 'joint', got {covariance!r}")
    return eta / batch_size * Sigma


def van_loan_integral(F: np.ndarray, Gamma: np.ndarray, t: float):
    """``(e^{Ft}, ∫_0^t e^{Fs} Γ e^{Fᵀs} ds)`` by Van Loan's block exponential."""
    n = F.shape[0]
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = -F
    block[:n, n:] = Gamma
    block[n:, n:] = F.T
    E = expm(block * t)
    phi = E[n:, n:].T
    integral = phi @ E[:n, n:]
    return phi, 0.5 * (integral + integral.T)


def sde_moments(spec: LinearQuadraticSpec, sde: str, covariance: str, eta: float, n_steps: int,
                batch_size: int):
    """Exact ``E u`` and ``E u uᵀ`` of the SDE at ``t = kη``, ``k = 0 … n_steps``."""
    F = sde_drift_matrix(spec, sde, eta)
    Gamma = sde_noise_covariance(spec, covariance, eta, batch_size)
    phi, Q = van_loan_integral(F, Gamma, eta)
    return propagate_moments(spec.u0.copy(), np.outer(spec.u0, spec.u0), [(phi, Q)], n_steps)
