"""SVAG chains against their limit SDE: exact moments, orders in ``1/l``, Richardson in ``1/l``.

The SVAG-``l`` chain of a scheme (:mod:`gandyn.sde.svag`) converges weakly at
order 1 in ``1/l`` to ``du = b0 dt + (η/B Σ)^{1/2} dW`` with the scheme's
covariance (block-diagonal for ALT, joint for SML). This module measures that:

    e(l) = E f(chain_l at T) − E f(limit SDE at T),

and fits the order as the least-squares slope of ``log |e(l)|`` on
``log(1/l)`` (1 expected).

Exact moments on linear-quadratic games. Every sub-update of a chain step of
size ``h = η/l`` is affine with additive noise (cf. :mod:`gandyn.analysis.lq_exact`):

    u ← M u + P_h J (c₊ ē₁ + c₋ ē₂),     M = I + P_h K,   P_h = P / l ,

with ``ē₁``, ``ē₂`` the means of two independent minibatches of the
per-sample data, each of covariance ``Σ_data / B``. The combination has mean
0 and covariance ``(c₊² + c₋²) Σ / B = l Σ / B`` (in field coordinates), so

    m ← M m,     S ← M S Mᵀ + P_h (l Σ / B) P_h = M S Mᵀ + P Σ P / (l B) ,

for ``S = E u uᵀ``, exactly; ``P`` holds the rates of the players that move
(both for SML, whose shared batch gives the joint Σ; one for each ALT
sub-update, whose own batch gives the block-diagonal Σ). The limit is the OU
process ``du = K u dt + Γ^{1/2} dW``, ``Γ = (η/B) Σ`` (joint or
block-diagonal), exact by Van Loan's integral.

Richardson extrapolation in ``1/l``: with ``e(l) ≈ a/l``, two chains
``l_a < l_b`` give the limit ``(l_b v_b − l_a v_a)/(l_b − l_a)`` with an
``O(1/l²)`` error (Talay & Tubaro 1990, applied to the SVAG parameter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..games.linear_quadratic import LinearQuadraticSpec
from ..sga import sub_steps
from .lq_exact import propagate_moments, sde_moments

__all__ = ["svag_moments", "limit_moments", "fit_order_in_l", "bootstrap_order_in_l",
           "richardson_in_l", "RichardsonEstimate", "exact_svag_errors", "SVAGErrors"]


def svag_moments(spec: LinearQuadraticSpec, scheme: str, eta: float, l: int, n_intervals: int,
                 batch_size: int, n_disc: int = 1):
    """Exact ``E u`` and ``E u uᵀ`` of the SVAG-``l`` chain at ``t = kη``, ``k = 0 … n_intervals``.

    ``l · n_intervals`` chain steps of ``η/l``; one rate ``η`` for both
    players. Returns arrays of shapes ``(n_intervals + 1, dim)`` and
    ``(n_intervals + 1, dim, dim)``.
    """
    if not (isinstance(l, int) and l >= 1):
        raise ValueError(f"l must be a positive integer, got {l!r}")
    K, Sigma = spec.K, spec.field_covariance
    dim = K.shape[0]
    dt = spec.d_theta
    h = eta / l
    rates = {"theta": np.r_[np.full(dt, h), np.zeros(dim - dt)],
             "omega": np.r_[np.zeros(dt), np.full(dim - dt, h)]}
    rates["both"] = rates["theta"] + rates["omega"]
    one_step = []
    for who in sub_steps(scheme, n_disc):
        P = np.diag(rates[who])
        one_step.append((np.eye(dim) + P @ K, l * P @ Sigma @ P / batch_size))
    return propagate_moments(spec.u0.copy(), np.outer(spec.u0, spec.u0), one_step * l,
                             n_intervals)


def limit_moments(spec: LinearQuadraticSpec, covariance: str, eta: float, n_intervals: int,
                  batch_size: int):
    """Exact moments of ``du = K u dt + ((η/B) Σ)^{1/2} dW`` at ``t = kη`` (the SVAG limit)."""
    return sde_moments(spec, "sml-sde", covariance, eta, n_intervals, batch_size)


def fit_order_in_l(ls: Sequence[float], errors: Sequence[float]) -> Optional[float]:
    """Least-squares slope of ``log |error|`` on ``log(1/l)`` over the positive finite errors.

    ``None`` when fewer than two distinct ``l`` carry such an error.
    """
    ls = np.asarray(ls, dtype=float)
    e = np.abs(np.asarray([np.nan if x is None else x for x in errors], dtype=float))
    good = np.isfinite(e) & (e > 0)
    if len(set(ls[good])) < 2:
        return None
    return float(np.polyfit(np.log(1.0 / ls[good]), np.log(e[good]), 1)[0])


def bootstrap_order_in_l(ls, errors, standard_errors, *, draws: int = 4000, seed: int = 0):
    """95% parametric-bootstrap interval of :func:`fit_order_in_l`.

    Each signed error is redrawn from ``N(error, se²)`` and the slope refitted
    on the absolute values; ``[None, None]`` when the slope is undefined.
    """
    from .weak_error import bootstrap_order

    return bootstrap_order([1.0 / float(x) for x in ls], errors, standard_errors, draws=draws,
                           seed=seed)


@dataclass(frozen=True)
class RichardsonEstimate:
    """The ``l → ∞`` limit of ``E f`` extrapolated from the two largest ``l``.

    ``limit``: ``(l_b v_b − l_a v_a)/(l_b − l_a)``; ``standard_error``: its
    Monte Carlo standard error (the chains are independent; ``None`` without
    standard errors); ``bias``: the change from the extrapolation of the next
    pair ``(l_{a−1}, l_a)``, an estimate of the extrapolation's own
    ``O(1/l²)`` error (``None`` with two ``l``); ``ls``: the pair used.
    """

    limit: float
    standard_error: Optional[float]
    bias: Optional[float]
    ls: tuple

    def to_json(self) -> dict:
        return {"limit": self.limit, "standard_error": self.standard_error, "bias": self.bias,
                "ls": list(self.ls)}


def _extrapolate(la, va, lb, vb):
    return (lb * vb - la * va) / (lb - la), lb / (lb - la), la / (lb - la)


def richardson_in_l(ls: Sequence[int], values: Sequence[float],
                    standard_errors: Optional[Sequence[float]] = None) -> RichardsonEstimate:
    """Richardson extrapolation in ``1/l`` of ``E f(chain_l)`` (module docstring).

    ``ls`` distinct; the two largest are used, the third largest (if any) for
    the bias estimate.
    """
    order = np.argsort(np.asarray(ls, dtype=float))
    if len(order) < 2 or len(set(ls)) != len(ls):
        raise ValueError("Richardson extrapolation needs at least two distinct l")
    ls_sorted = [float(ls[i]) for i in order]
    v = [float(values[i]) for i in order]
    la, lb = ls_sorted[-2], ls_sorted[-1]
    limit, wb, wa = _extrapolate(la, v[-2], lb, v[-1])
    se = None
    if standard_errors is not None:
        s = [float(standard_errors[i]) for i in order]
        se = math.sqrt((wb * s[-1]) ** 2 + (wa * s[-2]) ** 2)
    bias = None
    if len(v) >= 3:
        previous = _extrapolate(ls_sorted[-3], v[-3], la, v[-2])[0]
        bias = abs(limit - previous)
    return RichardsonEstimate(limit, se, bias, (int(la), int(lb)))


@dataclass(frozen=True)
class SVAGErrors:
    """``E f`` of every chain and of the limit at the horizon, and the errors (exact route)."""

    ls: list
    chain_final: list          # E f(chain_l at T)
    limit_final: float         # E f(limit SDE at T)
    signed_error_final: list   # chain − limit
    error_final: list          # |chain − limit|
    order_in_l: Optional[float]
    richardson: RichardsonEstimate


def exact_svag_errors(spec: LinearQuadraticSpec, scheme: str, eta: float, batch_size: int,
                      n_intervals: int, ls: Sequence[int], test_function,
                      covariance: Optional[str] = None, n_disc: int = 1) -> SVAGErrors:
    """Exact errors of the SVAG-``l`` chains of ``scheme`` against their limit at ``T = n_intervals·η``.

    ``covariance`` of the limit defaults to the scheme's (``blockdiag`` for
    ALT, ``joint`` for SML).
    """
    if covariance is None:
        covariance = "blockdiag" if scheme == "alt" else "joint"
    m, S = limit_moments(spec, covariance, eta, n_intervals, batch_size)
    limit = test_function.expectation(m[-1], S[-1])
    chain = []
    for l in ls:
        m, S = svag_moments(spec, scheme, eta, int(l), n_intervals, batch_size, n_disc)
        chain.append(test_function.expectation(m[-1], S[-1]))
    signed = [c - limit for c in chain]
    errors = [abs(e) for e in signed]
    return SVAGErrors(list(ls), chain, limit, signed, errors, fit_order_in_l(ls, errors),
                      richardson_in_l(list(ls), chain))
