"""Stationary laws of SGA and its SDEs: exact (linear-quadratic) and by long runs.

Exact route (linear-quadratic games). One SGA step is ``u ← M u + ε`` with
``Cov ε = Q`` (composed from the sub-updates of :mod:`gandyn.analysis.lq_exact`),
so when the spectral radius ``ρ(M) < 1`` the stationary law is ``N(0, S)``
with the discrete Lyapunov equation ``S = M S Mᵀ + Q``; the SDEs are
Ornstein–Uhlenbeck, ``du = F u dt + σ dW``, with ``F S + S Fᵀ + Γ = 0`` when
``F`` is Hurwitz. The exponential rate of convergence (per unit time) is
``−ln ρ(M) / η`` and ``−max Re λ(F)`` respectively.

Monte Carlo route (any game). Many independent chains run ``burn_in`` steps
and then ``steps`` more, accumulating per-chain batch means of the
observables (memory ``O(paths × n_batches)``, not ``O(steps)``). Reported:
the stationary mean with a 95% interval from the independent chains;
the split-R̂ convergence diagnostic (between- against within-chain variance
over the batch means: near 1 when the chains agree); a drift check; an
effective sample size from the batch means; and the rate of convergence
fitted to how the cross-chain mean approaches its stationary value during
burn-in.

Drift check. Every chain starts at the same ``u0``, so a slow approach to
stationarity that all chains share moves the halves of every chain alike and
is invisible to split-R̂. Per observable, the check takes each chain's mean
over the second half of the window minus its mean over the first half; the
chains are independent, so the cross-chain average ``drift`` of these
differences has a t interval (``drift_ci``, 95%). Under stationarity the
expected difference is 0; the verdict ``drift_significant`` rejects that at
the family-wise level ``drift_alpha`` over all observables (Bonferroni:
each observable at ``drift_alpha / n_obs``), so a stationary run is flagged
with probability at most ``drift_alpha`` (5% by default; asymptotically in
the number of chains). :attr:`StationaryEstimate.converged` needs every
``R̂ < 1.05`` and no significant drift; :attr:`StationaryEstimate.failed_checks`
names the checks that failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import solve_continuous_lyapunov, solve_discrete_lyapunov
from scipy.stats import t as student_t

from ..games.linear_quadratic import LinearQuadraticSpec
from ..runs import Z95, freeze_diverged
from .lq_exact import _sub_updates, sde_drift_matrix, sde_noise_covariance

__all__ = ["sga_step_matrices", "exact_stationary_sga", "exact_stationary_sde",
           "StationaryEstimate", "stationary_estimate", "drift_check", "fit_rate", "ChainBlock",
           "chain_simulator", "simulate_chain_block", "combine_chain_blocks"]

RHAT_THRESHOLD = 1.05


def sga_step_matrices(spec: LinearQuadraticSpec, scheme: str, eta_theta: float, batch_size: int,
                      eta_omega: float | None = None, n_disc: int = 1):
    """``(M, Q)`` with one SGA step ``u ← M u + ε``, ``Cov ε = Q``, exactly."""
    eta_omega = eta_theta if eta_omega is None else eta_omega
    K, Sigma = spec.K, spec.field_covariance
    dim = K.shape[0]
    M, Q = np.eye(dim), np.zeros((dim, dim))
    for P in _sub_updates(spec, scheme, eta_theta, eta_omega, n_disc):
        step = np.eye(dim) + P @ K
        M = step @ M
        Q = step @ Q @ step.T + P @ Sigma @ P.T / batch_size
    return M, Q


def exact_stationary_sga(spec, scheme, eta, batch_size, **kwargs):
    """Stationary covariance and rate of SGA on a linear-quadratic game.

    Returns ``(S, rate)``; ``S`` is ``None`` and ``rate`` ≤ 0 when ``ρ(M) ≥ 1``
    (no stationary law: the iterates diverge).
    """
    M, Q = sga_step_matrices(spec, scheme, eta, batch_size, **kwargs)
    rho = float(np.max(np.abs(np.linalg.eigvals(M))))
    rate = -math.log(rho) / eta if rho > 0 else float("inf")
    if rho >= 1:
        return None, rate
    S = solve_discrete_lyapunov(M, Q)
    return 0.5 * (S + S.T), rate


def exact_stationary_sde(spec, sde: str, covariance: str, eta, batch_size):
    """Stationary covariance and rate of an SDE of SGA on a linear-quadratic game."""
    F = sde_drift_matrix(spec, sde, eta)
    Gamma = sde_noise_covariance(spec, covariance, eta, batch_size)
    rate = -float(np.max(np.linalg.eigvals(F).real))
    if rate <= 0:
        return None, rate
    S = solve_continuous_lyapunov(F, -Gamma)
    return 0.5 * (S + S.T), rate


@dataclass
class StationaryEstimate:
    """Long-run averages of observables over many chains.

    ``mean``, ``ci`` (95%), ``rhat`` and ``ess`` per observable;
    ``rate`` the fitted exponential rate of approach (per step; divide by
    η for per unit time), ``n_diverged`` the chains left out.

    Drift check (see the module docstring), per observable: ``drift`` the
    cross-chain mean of (second-half mean − first-half mean) of the window,
    ``drift_ci`` its 95% t interval, ``drift_sd`` the drift in units of the
    observable's stationary standard deviation, ``drift_significant`` whether
    it differs from 0 at the family-wise level ``drift_alpha``. The verdicts
    are the properties :attr:`converged`, :attr:`drifting` and
    :attr:`failed_checks`; :meth:`diagnostics` gathers them in plain Python
    types.
    """

    mean: np.ndarray
    ci: np.ndarray
    rhat: np.ndarray
    ess: np.ndarray
    n_chains: int
    n_diverged: int
    rate: Optional[float]
    burn_in_means: np.ndarray
    final_states: np.ndarray = None  # (n_chains, dim): one stationary sample per healthy chain
    drift: np.ndarray = None
    drift_ci: np.ndarray = None
    drift_sd: np.ndarray = None
    drift_significant: np.ndarray = None
    drift_alpha: float = 0.05

    @property
    def drifting(self) -> bool:
        """Whether some observable's cross-chain mean drifts over the window (or was not checked)."""
        return self.drift_significant is None or bool(np.any(self.drift_significant))

    @property
    def failed_checks(self) -> list[str]:
        """The convergence checks that fail: ``"chains"`` (fewer than 2 healthy chains),
        ``"rhat"`` (some split-R̂ ≥ 1.05 or undefined), ``"drift"`` (significant drift)."""
        failed = []
        if self.n_chains < 2:
            failed.append("chains")
        rhat = np.asarray(self.rhat, dtype=float)
        if not (np.all(np.isfinite(rhat)) and np.all(rhat < RHAT_THRESHOLD)):
            failed.append("rhat")
        if self.drifting:
            failed.append("drift")
        return failed

    @property
    def converged(self) -> bool:
        """Every split-R̂ below 1.05 and no significant drift of the cross-chain mean."""
        return not self.failed_checks

    def diagnostics(self) -> dict:
        """The convergence verdict and its checks, in plain Python types (JSON-ready).

        ``converged``, ``failed_checks``, ``rhat_max``, ``rhat_threshold`` and,
        per observable, ``drift``, ``drift_ci``, ``drift_sd``,
        ``drift_significant``, with ``drift_alpha`` (family-wise level).
        """
        def floats(x):
            return None if x is None else np.asarray(x, dtype=float).tolist()

        rhat = np.asarray(self.rhat, dtype=float)
        return {"converged": self.converged, "failed_checks": self.failed_checks,
                "rhat_max": float(np.max(rhat)) if rhat.size else float("nan"),
                "rhat_threshold": RHAT_THRESHOLD,
                "drift": floats(self.drift), "drift_ci": floats(self.drift_ci),
                "drift_sd": floats(self.drift_sd),
                "drift_significant": (None if self.drift_significant is None
                                      else [bool(v) for v in self.drift_significant]),
                "drift_alpha": float(self.drift_alpha)}


def drift_check(batch_means: np.ndarray, alpha: float = 0.05, scale=None):
    """The drift of the cross-chain mean between the halves of the window.

    ``batch_means`` has shape ``(n_chains, n_batches, n_obs)`` (independent
    chains). Returns ``(drift, ci, significant)``: per observable the mean
    over chains of (mean of the second ``n_batches // 2`` batches − mean of
    the first ``n_batches // 2``), its 95% t interval (``n_chains − 1``
    degrees of freedom) and whether it differs from 0 at the family-wise
    level ``alpha`` (a Bonferroni t test per observable). ``scale`` (per
    observable, optional) only guards a zero spread: with no spread between
    chains a difference counts as significant when it exceeds rounding,
    ``1e-12·scale``.
    """
    bm = np.asarray(batch_means, dtype=float)
    n_chains, n_batches, n_obs = bm.shape
    half = n_batches // 2
    if n_chains < 2 or half < 1:
        nan = np.full(n_obs, np.nan)
        return nan, np.stack([nan, nan], -1), np.zeros(n_obs, dtype=bool)
    diff = bm[:, half:2 * half].mean(axis=1) - bm[:, :half].mean(axis=1)
    drift = diff.mean(axis=0)
    se = diff.std(axis=0, ddof=1) / math.sqrt(n_chains)
    t95 = float(student_t.ppf(0.975, n_chains - 1))
    ci = np.stack([drift - t95 * se, drift + t95 * se], axis=-1)
    critical = float(student_t.ppf(1.0 - alpha / (2 * n_obs), n_chains - 1))
    scale = np.abs(drift) if scale is None else np.asarray(scale, dtype=float)
    tiny = 1e-12 * np.maximum(scale, np.abs(bm).max(axis=(0, 1)))
    significant = np.where(se > 0, np.abs(drift) > critical * se, np.abs(drift) > tiny)
    return drift, ci, significant


@eqx.filter_jit
def _chain_batch_means(step, observables, u0, keys, burn_in: int, steps: int, n_batches: int,
                       bound):
    """Per chain (one per key): batch means of the observables and their squares, and more.

    One module-level compiled program per (step, observables, shapes and
    lengths): an equal step (an equal game, a traced learning rate) reuses it
    across calls.
    """
    batch_len = steps // n_batches

    def one_chain(key):
        def advance(carry, t):
            u, alive = carry
            return freeze_diverged(u, step(jax.random.fold_in(key, t), u), alive, bound), None

        def burn_record(carry, t):
            carry, _ = advance(carry, t)
            return carry, observables(carry[0])

        carry = (u0, jnp.array(True))
        carry, burn_obs = jax.lax.scan(burn_record, carry, jnp.arange(burn_in))

        def batch(carry, b):
            def inner(c, i):
                c, _ = advance(c, burn_in + b * batch_len + i)
                obs = observables(c[0])
                return c, jnp.stack([obs, obs**2])
            carry, obs = jax.lax.scan(inner, carry, jnp.arange(batch_len))
            return carry, obs.mean(axis=0)

        carry, means = jax.lax.scan(batch, carry, jnp.arange(n_batches))
        return means[:, 0], means[:, 1], carry[1], burn_obs, carry[0]

    return jax.vmap(one_chain)(keys)


@dataclass
class ChainBlock:
    """What a block of independent chains contributes to a :class:`StationaryEstimate`.

    Per chain (in the order of the chains): ``batch_means`` and
    ``batch_squares`` (``(n, n_batches, n_obs)``, the batch means of the
    observables and of their squares), ``alive`` and ``final_states``
    (``(n, dim)``). Over the block's healthy chains (alive, finite batch
    means), a mergeable moment state of the burn-in: ``burn_sum``
    (``(burn_in, n_obs)``, float64) and ``burn_count``. Blocks are combined by
    :func:`combine_chain_blocks` in the chains' order, so the estimate does
    not depend on how the chains were split or where the blocks ran.
    """

    batch_means: np.ndarray
    batch_squares: np.ndarray
    alive: np.ndarray
    burn_sum: np.ndarray
    burn_count: int
    final_states: np.ndarray

    def to_arrays(self) -> dict:
        return {"batch_means": self.batch_means, "batch_squares": self.batch_squares,
                "alive": self.alive, "burn_sum": self.burn_sum,
                "burn_count": np.asarray(self.burn_count), "final_states": self.final_states}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "ChainBlock":
        return cls(*(np.asarray(arrays[k]) for k in ("batch_means", "batch_squares", "alive",
                                                      "burn_sum")),
                   int(arrays["burn_count"]), np.asarray(arrays["final_states"]))


def chain_simulator(step: Callable, u0, observables: Callable, *, burn_in: int, steps: int,
                    n_batches: int = 20, bound: float = 1e6) -> Callable:
    """A compiled ``fn(keys) -> per-chain outputs`` for :func:`simulate_chain_block`.

    Build it once per study and reuse it for every block: it is one
    ``jit``-ted ``vmap`` over chains.
    """
    if burn_in < 0 or steps < n_batches or n_batches < 2:
        raise ValueError("need burn_in >= 0 and steps >= n_batches >= 2")
    u0, bound = jnp.asarray(u0), jnp.asarray(float(bound))
    # The module-level compiled function: an equal step and equal observables (an equal
    # study) reuse its compilation, whichever simulator object calls it.
    return lambda keys: _chain_batch_means(step, observables, u0, keys, burn_in, steps,
                                           n_batches, bound)


def simulate_chain_block(simulator: Callable, key: jax.Array, chains: range) -> ChainBlock:
    """Chains ``chains`` (chain ``r`` uses the key ``fold_in(key, r)``) as a :class:`ChainBlock`."""
    n = len(chains)
    size = n if n <= 32 else -(-n // 32) * 32  # padded to a multiple of 32: ragged blocks share programs
    ids = jnp.arange(chains.start, chains.start + size, dtype=jnp.uint32)
    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(ids)
    m, sq, a, burn, last = (np.asarray(x)[:n] for x in simulator(keys))  # padding dropped
    ok = a & np.all(np.isfinite(m), axis=(1, 2))
    burn_sum = burn[ok].astype(np.float64).sum(axis=0)
    return ChainBlock(m, sq, a, burn_sum, int(ok.sum()), last)


def stationary_estimate(
    step: Callable,
    u0,
    observables: Callable,
    *,
    burn_in: int,
    steps: int,
    paths: int,
    key: jax.Array,
    n_batches: int = 20,
    chunk_size: int = 2048,
    bound: float = 1e6,
    rate_indices=None,
    drift_alpha: float = 0.05,
) -> StationaryEstimate:
    """Long-run averages of ``observables`` under ``step`` (see module docstring).

    The rate is fitted to the observables ``rate_indices`` (default: all);
    pick first moments (the state itself) to get the slowest mode's rate.
    ``drift_alpha`` is the family-wise false-alarm level of the drift check.
    Read the verdict from ``converged`` and ``failed_checks`` (or
    ``diagnostics()``) of the result. The chains run in blocks of
    ``chunk_size`` (:func:`simulate_chain_block`, the unit a study's tasks
    are made of) combined by :func:`combine_chain_blocks`.
    """
    if not 0.0 < drift_alpha < 1.0:
        raise ValueError(f"drift_alpha must lie in (0, 1), got {drift_alpha}")
    if burn_in < 0 or steps < n_batches or paths < 2 or n_batches < 2:
        raise ValueError("need burn_in >= 0, steps >= n_batches >= 2 and paths >= 2")
    simulator = chain_simulator(step, u0, observables, burn_in=burn_in, steps=steps,
                                n_batches=n_batches, bound=bound)
    blocks = [simulate_chain_block(simulator, key, range(start, min(paths, start + chunk_size)))
              for start in range(0, paths, chunk_size)]
    return combine_chain_blocks(blocks, steps=steps, burn_in=burn_in, rate_indices=rate_indices,
                                drift_alpha=drift_alpha)


def combine_chain_blocks(blocks, *, steps: int, burn_in: int, rate_indices=None,
                         drift_alpha: float = 0.05) -> StationaryEstimate:
    """The :class:`StationaryEstimate` of all chains of ``blocks`` (in order)."""
    batch_means = np.concatenate([b.batch_means for b in blocks])  # (paths, n_batches, n_obs)
    batch_squares = np.concatenate([b.batch_squares for b in blocks])
    alive = np.concatenate([b.alive for b in blocks])
    paths = int(alive.shape[0])
    ok = alive & np.all(np.isfinite(batch_means), axis=(1, 2))
    bm = batch_means[ok]
    n_chains = int(ok.sum())
    if n_chains < 2:
        nan = np.full(batch_means.shape[-1], np.nan)
        return StationaryEstimate(nan, np.stack([nan, nan], -1), nan, nan, n_chains,
                                  int(paths - n_chains), None, np.zeros((0, len(nan))),
                                  drift=nan, drift_ci=np.stack([nan, nan], -1), drift_sd=nan,
                                  drift_significant=np.zeros(len(nan), dtype=bool),
                                  drift_alpha=drift_alpha)
    chain_means = bm.mean(axis=1)
    mean = chain_means.mean(axis=0)
    se = chain_means.std(axis=0, ddof=1) / math.sqrt(n_chains)
    ci = np.stack([mean - Z95 * se, mean + Z95 * se], axis=-1)
    rhat = _split_rhat(bm)
    # ESS = (stationary variance of one sample) / (variance of the overall mean).
    var_obs = np.maximum(batch_squares[ok].mean(axis=(0, 1)) - mean**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = np.where(se > 0, var_obs / se**2, float(n_chains * steps))
    burn_total = np.zeros_like(blocks[0].burn_sum)
    for b in blocks:  # a fixed order: the same sum in every layout
        burn_total = burn_total + b.burn_sum
    burn_means = (burn_total / n_chains if burn_in else np.zeros((0, len(mean))))
    idx = np.arange(len(mean)) if rate_indices is None else np.asarray(rate_indices)
    floor = float(np.sqrt(np.sum(var_obs[idx]) / n_chains))
    rate = fit_rate(burn_means[:, idx], mean[idx], floor) if burn_in >= 4 else None
    final_states = np.concatenate([b.final_states for b in blocks])[ok]
    drift, drift_ci, drift_significant = drift_check(bm, drift_alpha, scale=np.abs(mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        drift_sd = np.where(var_obs > 0, drift / np.sqrt(var_obs), np.nan)
    return StationaryEstimate(mean, ci, rhat, ess, n_chains, int(paths - n_chains), rate, burn_means,
                              final_states, drift=drift, drift_ci=drift_ci, drift_sd=drift_sd,
                              drift_significant=drift_significant, drift_alpha=drift_alpha)


def _split_rhat(bm: np.ndarray) -> np.ndarray:
    """Split-R̂ (Gelman et al.) on per-chain batch means."""
    half = bm.shape[1] // 2
    if half < 1:
        return np.full(bm.shape[-1], np.nan)
    chains = np.concatenate([bm[:, :half], bm[:, half: 2 * half]], axis=0)
    n = chains.shape[1]
    W = chains.var(axis=1, ddof=1).mean(axis=0)
    B = n * chains.mean(axis=1).var(axis=0, ddof=1)
    var_plus = (n - 1) / n * W + B / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(W > 0, np.sqrt(var_plus / W), 1.0)


def fit_rate(trajectory: np.ndarray, limit: np.ndarray, floor: float = 0.0) -> Optional[float]:
    """Exponential rate (per step) at which the mean ``trajectory[t]`` approaches ``limit``.

    Fits ``log ‖m(t) − m_∞‖`` linearly over the second half of the initial
    stretch where the distance stays above ``3 · floor`` (the Monte Carlo
    noise of the mean): late enough that the slowest mode dominates, early
    enough that noise does not. The norm over several coordinates smooths
    the oscillation of complex modes. ``None`` if fewer than 4 points qualify.
    """
    if trajectory.shape[0] < 4:
        return None
    d = np.linalg.norm(trajectory - limit[None, :], axis=1)
    above = d > max(3.0 * floor, 1e-12 * max(d[0], 1e-300))
    end = int(np.argmin(above)) if not above.all() else len(d)
    start = end // 2
    if end - start < 4:
        return None
    t = np.arange(start, end)
    slope = np.polyfit(t, np.log(d[start:end]), 1)[0]
    return float(-slope)
