"""The stationarity verdict: split-R̂ and a drift check of the cross-chain mean.

Synthetic chains with known laws. The observable ``x + s`` follows a
stationary AR(1) ``x`` (coefficient 0.95, stationary sd 1, started from its
stationary law at the first step) plus a trend ``s`` shared by every chain.
Split-R̂ compares halves of the same chains, so a trend they share barely
moves it; the drift check compares the halves' cross-chain means.

Sizes and false alarms: with 1000 chains and a window of 2000 steps, the
per-chain difference of the half-window means of this AR(1) has sd ≈
√(2 · 39/1000) ≈ 0.28 (39 = (1 + 0.95)/(1 − 0.95) the integrated
autocorrelation time), so the drift estimate has se ≈ 0.009; a trend of
0.3 sd over the window moves the halves' means apart by 0.15, about 17 se:
never missed in practice. On the stationary chain the check rejects with
probability 5% (its family-wise level, the default) for a random key; the key
is fixed (its drift is 0.4 se), so the test is deterministic, and the level
itself is checked by
``test_drift_check_has_its_nominal_false_alarm_rate`` on 2000 replications
of exactly normal batch means.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.invariant import StationaryEstimate, drift_check, stationary_estimate

A = 0.95
STEPS, PATHS, N_BATCHES = 2000, 1000, 20


def _ar1_with_trend(c):
    """State ``(x, s, started)``: ``x`` an AR(1) drawn from its stationary law at step 1."""

    def step(key, u):
        x, s, started = u[0], u[1], u[2]
        eps = jax.random.normal(key, dtype=u.dtype)
        x_new = jnp.where(started > 0, A * x + jnp.sqrt(1 - A**2) * eps, eps)
        return jnp.stack([x_new, s + c * started, jnp.ones_like(started)])

    return step


def _estimate(c, key=0):
    return stationary_estimate(_ar1_with_trend(c), jnp.zeros(3), lambda u: (u[0] + u[1])[None],
                               burn_in=1, steps=STEPS, paths=PATHS, key=jax.random.key(key),
                               n_batches=N_BATCHES)


def test_shared_drift_is_flagged_although_rhat_passes():
    c = 0.3 / STEPS  # 0.3 stationary sd over the window
    est = _estimate(c)
    assert np.all(est.rhat < 1.05)        # split-R̂ alone would call this converged
    assert est.drift_significant.tolist() == [True]
    assert est.drifting and not est.converged
    assert est.failed_checks == ["drift"]
    # The exact drift between the halves' means is c · (half window) = 0.15.
    lo, hi = est.drift_ci[0]
    assert lo < c * STEPS / 2 < hi
    assert est.drift_sd[0] == pytest.approx(0.15, abs=0.06)
    d = est.diagnostics()
    assert d["converged"] is False and d["failed_checks"] == ["drift"]
    assert d["drift_significant"] == [True] and len(d["drift_ci"][0]) == 2


def test_stationary_ar1_passes_both_checks():
    est = _estimate(0.0)
    assert np.all(est.rhat < 1.05)
    assert est.drift_significant.tolist() == [False]
    lo, hi = est.drift_ci[0]
    assert lo < 0 < hi
    assert est.converged and est.failed_checks == []
    assert est.diagnostics()["converged"] is True
    # The stationary mean is 0 (sd 1): within its interval.
    assert est.ci[0, 0] < 0 < est.ci[0, 1]


def test_drift_check_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    bm = rng.normal(size=(50, 10, 2)) + np.linspace(0, 1, 10)[None, :, None] * [0.0, 1.0]
    drift, ci, significant = drift_check(bm)
    diff = bm[:, 5:].mean(axis=1) - bm[:, :5].mean(axis=1)
    from scipy import stats

    se = diff.std(axis=0, ddof=1) / np.sqrt(50)
    np.testing.assert_allclose(drift, diff.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ci[:, 1] - drift, stats.t.ppf(0.975, 49) * se, rtol=1e-12)
    p = 2 * stats.t.sf(np.abs(drift) / se, 49)
    np.testing.assert_array_equal(significant, p < 0.05 / 2)
    assert significant.tolist() == [False, True]


def test_drift_check_has_its_nominal_false_alarm_rate():
    """2000 stationary replications, 3 observables: family-wise rejections ≈ 5%."""
    rng = np.random.default_rng(0)
    rejected = [bool(np.any(drift_check(rng.normal(size=(40, 8, 3)))[2])) for _ in range(2000)]
    rate = np.mean(rejected)
    # Bonferroni is conservative (at most 5%); 2000 draws give a binomial sd of 0.5%.
    assert 0.03 < rate < 0.065, rate


def test_an_estimate_without_drift_information_is_not_converged():
    est = StationaryEstimate(np.zeros(1), np.zeros((1, 2)), np.ones(1), np.ones(1), 10, 0, None,
                             np.zeros((0, 1)))
    assert not est.converged and est.failed_checks == ["drift"]
    with pytest.raises(ValueError):
        stationary_estimate(_ar1_with_trend(0.0), jnp.zeros(3), lambda u: u[:1], burn_in=1,
                            steps=20, paths=4, key=jax.random.key(0), drift_alpha=0.0)
