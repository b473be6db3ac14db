"""Streaming statistics in float32, reusable test functions, single-η studies.

Items checked against independent references: the float64 NumPy mean and
variance of the very same float32 values, and the exact value 0 of the weak
error at t = 0 (both the scheme and the SDE start at u0).
"""

import json
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.test_functions import make_test_function
from gandyn.sde.integrate import richardson_observables
from gandyn.analysis.weak_error import (Comparison, _AtLeast1d, _WithZeroCorrection,
                                        bootstrap_order, fit_order, monte_carlo_weak_error)
from gandyn.games import tanh_wgan
from gandyn.runs import run_many
from gandyn.sga import SGAConfig, simulate_sga

# tests/conftest.py turns x64 on for this process; the default (float32) path runs in a
# fresh interpreter, exactly as a user's script would.
_T0_SCRIPT = r"""
import json, sys
import jax
from gandyn.analysis.weak_error import Comparison, monte_carlo_weak_error
from gandyn.games import tanh_wgan

assert not jax.config.jax_enable_x64
game = tanh_wgan(theta0=0.3, omega0=0.7)   # f(u0) = 0.58: not a power of two
assert game.u0.dtype == "float32"
out = {}
f = lambda u: u @ u
# One chunk of 5024 runs, then two chunks of 5024 (the second padded): with the same test
# function both sizes run the same two programs.
for paths in (5024, 10000):
    (r,) = monte_carlo_weak_error(game, [Comparison("alt", "alt-sde")], [0.1], 0.1, 4,
                                  f, paths=paths, seed=0)
    out[paths] = [r.errors_over_time[0][0], r.errors_over_time[0][1]]
print(json.dumps(out))
"""


def test_weak_error_at_time_zero_is_exactly_zero_in_float32():
    proc = subprocess.run([sys.executable, "-c", _T0_SCRIPT], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for paths, (e0, e1) in out.items():
        assert e0 == 0.0, (paths, e0)
        assert e1 != 0.0  # one step later the schemes do differ


def _float32_step(key, u):
    return (1000.0 + jax.random.normal(key, u.shape, dtype=jnp.float32)).astype(jnp.float32)


def test_streaming_float32_mean_and_variance_match_float64_numpy():
    """2^17 float32 values of about 1000 in chunks of 8192: the float64 mean of those values."""
    key = jax.random.key(0)
    n, u0 = 2**17, jnp.zeros(1, jnp.float32)
    stats = run_many(_float32_step, u0, 1, n, key, lambda u: u, chunk_size=8192)
    # The same values, drawn with the run keys run_many documents (fold_in(fold_in(key, r), t)).
    values = jax.vmap(lambda r: _float32_step(jax.random.fold_in(jax.random.fold_in(key, r), 0),
                                              u0))(jnp.arange(n, dtype=jnp.uint32))
    assert values.dtype == jnp.float32
    v = np.asarray(values, dtype=np.float64)[:, 0]
    assert stats.mean[0, 0] == 0.0 and stats.variance[0, 0] == 0.0
    assert abs(stats.mean[1, 0] - v.mean()) <= 1e-7 * abs(v.mean())
    assert abs(stats.variance[1, 0] - v.var(ddof=1)) <= 1e-6 * v.var(ddof=1)


def test_quadratic_test_functions_are_equal_and_hash_by_value():
    a, b = make_test_function("sq-norm", 1, 1), make_test_function("sq-norm", 1, 1)
    assert a is not b and a == b and hash(a) == hash(b)
    assert a != make_test_function("theta-sq-norm", 1, 1)
    assert a != make_test_function("sq-norm", 2, 1)
    assert _AtLeast1d(a) == _AtLeast1d(b) and hash(_AtLeast1d(a)) == hash(_AtLeast1d(b))
    ea = richardson_observables(_AtLeast1d(a), with_correction=True)
    eb = richardson_observables(_AtLeast1d(b), with_correction=True)
    assert ea == eb and hash(ea) == hash(eb)
    assert ea != richardson_observables(_AtLeast1d(a), with_correction=False)
    assert _WithZeroCorrection(_AtLeast1d(a)) == _WithZeroCorrection(_AtLeast1d(b))
    with pytest.raises(ValueError):  # the stored arrays are read-only copies
        a.Q[0, 0] = 5.0


def test_a_test_function_is_an_observable_of_simulate_sga():
    game = tanh_wgan(n_latent=8, n_data=8, theta0=0.3, omega0=0.7)
    cfg = SGAConfig("alt", 0.1, 4)
    key = jax.random.key(5)
    tf = make_test_function("sq-norm", 1, 1)
    with_tf = simulate_sga(game, cfg, 3, 64, key, tf)
    with_lambda = simulate_sga(game, cfg, 3, 64, key, lambda u: jnp.atleast_1d(u @ u))
    np.testing.assert_allclose(with_tf.mean, with_lambda.mean, rtol=1e-12)
    np.testing.assert_allclose(with_tf.variance, with_lambda.variance, rtol=1e-10)
    assert with_tf.mean.shape == (4, 1)


def _compiles_during(fn):
    """Number of XLA compilations while ``fn()`` runs (JAX's own compile-time events)."""
    from jax import monitoring

    count = []
    listener = lambda name, *args, **kwargs: count.append(name) if "backend_compile" in name else None
    monitoring.register_event_duration_secs_listener(listener)
    try:
        result = fn()
    finally:
        monitoring.unregister_event_duration_listener(listener)
    return result, len(count)


def test_monte_carlo_weak_error_twice_in_one_process():
    """A notebook cell run twice: a fresh, equal test function; same numbers, no recompilation."""
    game = tanh_wgan(n_latent=8, n_data=8, theta0=0.3, omega0=0.7)
    comps = [Comparison("alt", "alt-sde")]

    def study():
        tf = make_test_function("sq-norm", 1, 1)
        return monte_carlo_weak_error(game, comps, [0.2, 0.1], 0.2, 4, tf, paths=64, seed=1,
                                      test_function_name="sq-norm")

    first = study()
    second, compiles = _compiles_during(study)
    assert first[0].to_json() == second[0].to_json()
    assert compiles == 0


def test_single_eta_study_is_warning_free_and_reports_no_order():
    game = tanh_wgan(n_latent=8, n_data=8, theta0=0.3, omega0=0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # 64 paths, as in test_monte_carlo_weak_error_twice_in_one_process: the same programs.
        (r,) = monte_carlo_weak_error(game, [Comparison("alt", "alt-sde")], [0.1], 0.2, 4,
                                      make_test_function("sq-norm", 1, 1), paths=64)
        assert np.isnan(fit_order([0.1], [1e-3])) and np.isnan(fit_order([0.1, 0.1], [1e-3, 2e-3]))
        assert all(np.isnan(x) for x in bootstrap_order([0.1], [1e-3], [1e-4]))
    assert np.isnan(r.order_final) and np.isnan(r.order_max)
    assert all(np.isnan(x) for x in r.order_final_ci)
    assert any("single learning rate" in n for n in r.notes)
    assert json.loads(json.dumps(r.to_json()))["order_final"] is None


def test_comparison_result_repr_is_short_and_plain():
    game = tanh_wgan(n_latent=8, n_data=8, theta0=0.3, omega0=0.7)
    # The study of test_monte_carlo_weak_error_twice_in_one_process: the same programs.
    (r,) = monte_carlo_weak_error(game, [Comparison("alt", "alt-sde")], [0.2, 0.1], 0.2, 4,
                                  make_test_function("sq-norm", 1, 1), paths=64, seed=1,
                                  test_function_name="sq-norm")
    text = repr(r)
    assert "np.float64" not in text and "array(" not in text
    assert text.startswith("ComparisonResult(alt vs alt-sde [blockdiag], monte-carlo, f=sq-norm")
    assert "etas=[0.2, 0.1]" in text and "order_final=" in text and len(text) < 400
    assert f"{r.error_final[0]:.3g}" in text
    for value in r.error_final + r.signed_error_final + r.error_max + [r.order_final]:
        assert type(value) is float
