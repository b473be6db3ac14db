"""The FDR schedule lowers η once the statistic is at equilibrium, and not before.

On a linear-quadratic game the expected statistics are exact at every step
(moment recursions), so the time at which ``E O_L = E O_R`` is known.
"""

import importlib.util

import jax
import numpy as np
import optax
import pytest

from gandyn.analysis.lq_exact import sga_moments
from gandyn.games import linear_quadratic, make_spec
from gandyn.schedules import FDRRuleConfig, fdr_rule_init, fdr_rule_update, fdr_sgd

ETA, B = 0.05, 4


@pytest.fixture
def far_start_spec():
    A = np.array([[1.0, 0.2], [0.2, 0.5]])
    C = np.array([[1.0, 0.3], [-0.2, 0.8]])
    D = np.array([[0.5, 0.0], [0.0, 0.3]])
    return make_spec(A, C, D, 0.3 * np.eye(2), 0.2 * np.eye(2), [4.0, -3.0], [3.0, 4.0])


def _expected_statistics(spec, n_steps):
    """Exact E[O_L] and E[O_R] of SML SGD at η = ETA along the trajectory."""
    m, S = sga_moments(spec, "sml", ETA, n_steps, B)
    P = np.block([[spec.A, np.zeros((2, 2))], [np.zeros((2, 2)), spec.D]])  # θᵀAθ + ωᵀDω
    KK = spec.K.T @ spec.K
    o_left = np.einsum("ij,tji->t", P, S)
    o_right = 0.5 * ETA * (np.einsum("ij,tji->t", KK, S) + np.trace(spec.field_covariance) / B)
    return o_left, o_right


def _train(spec, config, n_steps, seed):
    game = linear_quadratic(spec)
    opt = fdr_sgd(config)

    def step(carry, key):
        params, state = carry
        th, om = params
        g_th, g_om = game.batch_gradients(th, om, game.sample_indices(key, B))
        # Each player's gradient of the loss it minimises: the discriminator's is −g_ω.
        updates, state = opt.update((g_th, -g_om), state, params)
        return (optax.apply_updates(params, updates), state), state.rule.n_drops

    params = (game.theta0, game.omega0)
    keys = jax.random.split(jax.random.key(seed), n_steps)
    (_, state), drops = jax.jit(lambda p, s: jax.lax.scan(step, (p, s), keys))(params, opt.init(params))
    drops = np.asarray(drops)
    first = int(np.argmax(drops > 0)) + 1 if drops.any() else None
    return first, state


def test_drop_comes_after_equilibrium_and_not_before(far_start_spec):
    n_steps = 3000
    o_left, o_right = _expected_statistics(far_start_spec, n_steps)
    gap = np.abs(o_left / o_right - 1)
    eps = 0.1
    # Last step at which the expected statistic is still twice the band away from equilibrium.
    t_out = int(np.nonzero(gap > 2 * eps)[0].max())
    t_in = int(np.nonzero(gap > eps / 4)[0].max()) + 1  # from here on, well inside the band
    assert 50 < t_out < t_in < 1500
    config = FDRRuleConfig(eta0=ETA, delta=0.5, epsilon=eps, test_interval=50, min_samples=100,
                           n_batches=10, max_window=4000)
    firsts = [_train(far_start_spec, config, n_steps, seed)[0] for seed in range(6)]
    for first in firsts:
        # It does lower η within the run (equilibrium is reached by t_in ≈ 270 steps; the
        # rest is the samples the equivalence test needs to show |mean D| < ε·mean O_R) …
        assert first is not None, "the schedule never lowered η"
        # … and a test at step t looks at steps t/2 … t, so it can pass only once t/2 > t_out.
        assert first > 2 * t_out


def test_no_drop_while_far_from_equilibrium(far_start_spec):
    """With a tiny learning rate the chain never equilibrates in the run: no drop."""
    config = FDRRuleConfig(eta0=1e-3, epsilon=0.05, test_interval=50, min_samples=100)
    first, state = _train(far_start_spec, config, 1500, 0)
    assert first is None and float(state.rule.eta) == 1e-3


def test_rule_on_synthetic_statistics():
    cfg = FDRRuleConfig(eta0=1.0, delta=0.5, epsilon=0.05, test_interval=10, min_samples=40,
                        n_batches=4, max_window=200)
    rng = np.random.default_rng(0)
    state = fdr_rule_init(cfg)
    update = jax.jit(lambda s, a, b: fdr_rule_update(cfg, s, a, b))
    # Unequal means: never drops.
    for _ in range(200):
        state = update(state, 2.0 + 0.1 * rng.standard_normal(), 1.0)
    assert int(state.n_drops) == 0 and float(state.last_ratio) == pytest.approx(2.0, rel=0.05)
    # Equal means with little noise: drops at the first test past min_samples after reset.
    state = fdr_rule_init(cfg)
    for i in range(40):
        state = update(state, 1.0 + 0.01 * rng.standard_normal(), 1.0)
    assert int(state.n_drops) == 1 and float(state.eta) == 0.5 and int(state.count) == 0


@pytest.mark.parametrize("bad", [dict(delta=1.5), dict(epsilon=0), dict(eta0=-1.0),
                                 dict(min_samples=5, n_batches=10)])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        fdr_sgd(FDRRuleConfig(**{"eta0": 0.1, **bad}))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_torch_scheduler_follows_the_same_rule():
    import torch

    from gandyn.schedules.torch import FDRScheduler

    cfg = FDRRuleConfig(eta0=0.1, epsilon=0.05, test_interval=10, min_samples=40, n_batches=4,
                        max_window=200)
    p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = FDRScheduler([opt], cfg)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    rng = np.random.default_rng(1)
    jax_state = fdr_rule_init(cfg)
    reference = jax.jit(lambda s, a, b: fdr_rule_update(cfg, s, a, b))
    for _ in range(120):
        # Parameters and gradients with ⟨p, g⟩ = (η/2)|g|² (1 + noise): the FDR at equilibrium.
        g = torch.tensor(rng.normal(size=2), dtype=torch.float64)
        with torch.no_grad():
            p.copy_(0.5 * sched.eta * (1 + 0.01 * rng.standard_normal()) * g)
        p.grad = g.clone()
        o_left, o_right = sched.statistics()
        jax_state = reference(jax_state, o_left, o_right)
        sched.step()
        assert sched.eta == pytest.approx(float(jax_state.eta))
    assert sched.n_drops >= 2
    assert opt.param_groups[0]["lr"] == pytest.approx(sched.eta) == pytest.approx(0.1 * 0.5**sched.n_drops)
    assert len(sched.history) == 120
