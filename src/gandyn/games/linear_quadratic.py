"""The linear-quadratic game, where every moment is exact.

Per-sample loss

    J_k(θ, ω) = ½ θᵀAθ + θᵀCω − ½ ωᵀDω + θᵀξ_k + ωᵀζ_k ,

with ``A``, ``D`` symmetric and zero-mean per-sample data ``(ξ_k, ζ_k)`` whose
(empirical, exact) joint covariance is ``[[Σ_θ, Σ_θω], [Σ_ωθ, Σ_ω]]``.
The full gradients are linear, ``g_θ = Aθ + Cω``, ``g_ω = Cᵀθ − Dω``, so the
field is ``b0(u) = K u`` with ``K = [[−A, −C], [Cᵀ, −D]]``, and the minibatch
noise is additive with covariance ``Σ/B`` independent of the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .base import Game, LossTerm

__all__ = ["LinearQuadraticSpec", "linear_quadratic", "exact_data"]


@dataclass(frozen=True)
class LinearQuadraticSpec:
    """The matrices of a linear-quadratic game (NumPy, float64)."""

    A: np.ndarray
    C: np.ndarray
    D: np.ndarray
    sigma_theta: np.ndarray
    sigma_omega: np.ndarray
    sigma_theta_omega: np.ndarray
    theta0: np.ndarray
    omega0: np.ndarray

    @property
    def d_theta(self) -> int:
        return self.A.shape[0]

    @property
    def d_omega(self) -> int:
        return self.D.shape[0]

    @property
    def K(self) -> np.ndarray:
        """The field's matrix: ``b0(u) = K u``."""
        return np.block([[-self.A, -self.C], [self.C.T, -self.D]])

    @property
    def data_covariance(self) -> np.ndarray:
        """Joint covariance of the per-sample data ``(ξ_k, ζ_k)``."""
        return np.block(
            [[self.sigma_theta, self.sigma_theta_omega], [self.sigma_theta_omega.T, self.sigma_omega]]
        )

    @property
    def field_covariance(self) -> np.ndarray:
        """Σ: covariance of the per-sample field ``(−g_θ^k, g_ω^k) = K u + (−ξ_k, ζ_k)``."""
        s = self.data_covariance.copy()
        dt = self.d_theta
        s[:dt, dt:] *= -1.0
        s[dt:, :dt] *= -1.0
        return s

    @property
    def u0(self) -> np.ndarray:
        return np.concatenate([self.theta0, self.omega0])


def _as_matrix(name, value, shape):
    m = np.asarray(value, dtype=float)
    if m.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} must be finite")
    return m


def make_spec(A, C, D, sigma_theta, sigma_omega, theta0, omega0, sigma_theta_omega=None):
    """Validate the matrices of a linear-quadratic game and return its spec."""
    A = np.asarray(A, dtype=float)
    D = np.asarray(D, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix, got shape {A.shape}")
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"D must be a square matrix, got shape {D.shape}")
    dt, do = A.shape[0], D.shape[0]
    C = _as_matrix("C", C, (dt, do))
    for name, m in (("A", A), ("D", D)):
        if not np.allclose(m, m.T, atol=1e-12):
            raise ValueError(f"{name} must be symmetric")
    st = _as_matrix("sigma_theta", sigma_theta, (dt, dt))
    so = _as_matrix("sigma_omega", sigma_omega, (do, do))
    sto = (np.zeros((dt, do)) if sigma_theta_omega is None
           else _as_matrix("sigma_theta_omega", sigma_theta_omega, (dt, do)))
    spec = LinearQuadraticSpec(A, C, D, st, so, sto,
                               _as_matrix("theta0", theta0, (dt,)),
                               _as_matrix("omega0", omega0, (do,)))
    cov = spec.data_covariance
    if not np.allclose(cov, cov.T, atol=1e-12):
        raise ValueError("sigma_theta and sigma_omega must be symmetric")
    if np.linalg.eigvalsh(cov).min() < -1e-10:
        raise ValueError("the joint covariance [[sigma_theta, sigma_theta_omega], "
                         "[sigma_theta_omega^T, sigma_omega]] must be positive semi-definite")
    return spec


def exact_data(cov: np.ndarray) -> np.ndarray:
    """``2d`` points with mean exactly 0 and empirical covariance exactly ``cov``.

    The points are ``±√d · L_i`` for the columns ``L_i`` of a square root of
    ``cov``; sampling them uniformly reproduces the covariance without
    Monte Carlo error.
    """
    d = cov.shape[0]
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    pts = np.sqrt(d) * root.T
    return np.concatenate([pts, -pts], axis=0)


@dataclass(frozen=True)
class QuadraticLoss:
    """``½θᵀAθ + θᵀCω − ½ωᵀDω + θ·ξ + ω·ζ`` for a sample ``(ξ, ζ)``.

    The matrices are tuples (hashable): equal specs give equal games, which
    share their compilations.
    """

    A: tuple
    C: tuple
    D: tuple

    def __call__(self, theta, omega, sample):
        A, C, D = (jnp.asarray(m, dtype=theta.dtype) for m in (self.A, self.C, self.D))
        xi, zeta = sample[: theta.shape[0]], sample[theta.shape[0]:]
        return (0.5 * theta @ A @ theta + theta @ C @ omega - 0.5 * omega @ D @ omega
                + theta @ xi + omega @ zeta)


def linear_quadratic(spec: LinearQuadraticSpec) -> Game:
    """The game of ``spec`` as a :class:`Game` (one term over ``2d`` data points)."""
    loss = QuadraticLoss(*(tuple(map(tuple, np.asarray(m, dtype=float).tolist()))
                           for m in (spec.A, spec.C, spec.D)))
    data = jnp.asarray(exact_data(spec.data_covariance))
    return Game(terms=(LossTerm(loss=loss, data=data),), theta0=jnp.asarray(spec.theta0),
                omega0=jnp.asarray(spec.omega0), name="linear-quadratic")
