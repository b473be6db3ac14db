"""The FDR learning-rate schedule of Cao & Guo's Remark 10, with a robust decision rule.

At stationarity of simultaneous SGA, FDR2 (Theorem 9) in its discrete form
(docs/long_run.md) reads ``E[O_L] = E[O_R]`` with

    O_L = θᵀ g_θ^B − ωᵀ g_ω^B            (= ⟨params, grads⟩ when each player's
                                           grad is that of the loss it *minimises*)
    O_R = (η/2) |g^B|²                    (discrete: unbiased for β⁻¹Tr Σ + (η/2)|g|²)

or, the paper's continuous form, ``O_R = β⁻¹ Tr(Σ̂_θ + Σ̂_ω)`` with
``β⁻¹ = η/(2B)`` and ``Σ̂`` the within-batch covariance (needs per-sample
gradients). Far from equilibrium the two sides differ; once training has
equilibrated at the current ``η`` they agree, and the schedule lowers ``η`` to
``(1 − δ) η`` (Remark 10), then starts over.

Remark 10 compares one noisy ratio with ``1 ± ε``, which fires at random
long before equilibrium. The rule here follows Yaida's FDR scheduler and
SASA+ instead:

* statistics are collected since the last drop; every ``test_interval``
  steps (and only once at least ``min_samples`` are in), the first half of
  them is discarded as transient (Yaida's half-window average);
* on the second half, ``D_t = O_L(t) − O_R(t)`` is cut into ``n_batches``
  consecutive batches; the batch means give a variance estimate that
  respects autocorrelation (SASA+);
* ``η`` drops when the ``(1 − α)`` confidence interval of ``mean D`` lies
  inside ``±ε · mean O_R`` (an equivalence test: equilibrium must be shown,
  not merely not refuted).

The rule is written once, as pure JAX ``init``/``update`` functions over a
fixed-size buffer (``max_window`` steps), and serves both the optax
transformation (:func:`fdr_sgd`) and the PyTorch scheduler
(:mod:`gandyn.schedules.torch`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from scipy.stats import t as student_t

__all__ = ["FDRRuleConfig", "FDRRuleState", "fdr_rule_init", "fdr_rule_update",
           "FDRScheduleState", "fdr_sgd", "fdr_statistics"]


class FDRRuleConfig(NamedTuple):
    """Knobs of the decision rule.

    Attributes:
        eta0: initial learning rate.
        delta: on a drop, ``η ← (1 − δ) η`` (Remark 10's δ).
        epsilon: equivalence band, relative to ``mean O_R`` (Remark 10's ε).
        test_interval: steps between tests.
        min_samples: do not test before this many steps since the last drop.
        n_batches: batches for the batch-means variance (SASA+ uses √n; fixed here).
        alpha: the interval's level is ``1 − α``.
        max_window: buffer length; older statistics are forgotten.
        min_eta: never drop below this.
    """

    eta0: float
    delta: float = 0.5
    epsilon: float = 0.1
    test_interval: int = 100
    min_samples: int = 200
    n_batches: int = 10
    alpha: float = 0.05
    max_window: int = 20_000
    min_eta: float = 0.0

    def validate(self) -> "FDRRuleConfig":
        checks = [
            (self.eta0 > 0 and math.isfinite(self.eta0), "eta0 must be positive and finite"),
            (0 < self.delta < 1, "delta must be in (0, 1)"),
            (self.epsilon > 0, "epsilon must be positive"),
            (self.test_interval >= 1, "test_interval must be >= 1"),
            (self.n_batches >= 2, "n_batches must be >= 2"),
            (self.min_samples >= 2 * self.n_batches, "min_samples must be >= 2 * n_batches"),
            (0 < self.alpha < 1, "alpha must be in (0, 1)"),
            (self.max_window >= self.min_samples, "max_window must be >= min_samples"),
            (self.min_eta >= 0, "min_eta must be non-negative"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)
        return self


class FDRRuleState(NamedTuple):
    """State of the rule: current η, the buffer since the last drop, and a log."""

    eta: jax.Array
    count: jax.Array          # steps recorded since the last drop
    step: jax.Array           # steps in all
    o_left: jax.Array         # (max_window,) ring buffer of O_L
    o_right: jax.Array        # (max_window,) ring buffer of O_R
    n_drops: jax.Array
    last_drop_step: jax.Array
    last_ratio: jax.Array     # mean O_L / mean O_R over the tested window (NaN before a test)
    last_ci: jax.Array        # (2,) interval of mean(O_L − O_R) / mean O_R at the last test


def fdr_rule_init(config: FDRRuleConfig) -> FDRRuleState:
    config.validate()
    nan = jnp.array(jnp.nan)
    return FDRRuleState(
        eta=jnp.asarray(config.eta0, dtype=float), count=jnp.array(0), step=jnp.array(0),
        o_left=jnp.zeros(config.max_window), o_right=jnp.zeros(config.max_window),
        n_drops=jnp.array(0), last_drop_step=jnp.array(-1), last_ratio=nan,
        last_ci=jnp.array([jnp.nan, jnp.nan]))


def _test(config: FDRRuleConfig, state: FDRRuleState):
    """Equivalence test on the second half of the window: (drop?, ratio, ci)."""
    W, K = config.max_window, config.n_batches
    n = jnp.minimum(state.count, W)
    half = n // 2
    batch_len = jnp.maximum(half // K, 1)
    used = batch_len * K
    # Positions (oldest first) of the `used` most recent entries in the ring buffer.
    end = state.count  # exclusive, in "count" coordinates
    idx = (end - used + jnp.arange(W)) % W
    valid = jnp.arange(W) < used
    d = jnp.where(valid, state.o_left[idx] - state.o_right[idx], 0.0)
    r = jnp.where(valid, state.o_right[idx], 0.0)
    l = jnp.where(valid, state.o_left[idx], 0.0)
    batch_id = jnp.where(valid, jnp.arange(W) // batch_len, K)
    batch_means = jax.ops.segment_sum(d, batch_id, num_segments=K + 1)[:K] / batch_len
    mean_d = jnp.mean(batch_means)
    se = jnp.std(batch_means, ddof=1) / jnp.sqrt(K)
    mean_r = jnp.sum(r) / used
    mean_l = jnp.sum(l) / used
    tq = float(student_t.ppf(1 - config.alpha / 2, K - 1))
    lo, hi = (mean_d - tq * se) / mean_r, (mean_d + tq * se) / mean_r
    drop = (mean_r > 0) & (lo > -config.epsilon) & (hi < config.epsilon)
    return drop, mean_l / mean_r, jnp.stack([lo, hi])


def fdr_rule_update(config: FDRRuleConfig, state: FDRRuleState, o_left, o_right) -> FDRRuleState:
    """Record one step's ``(O_L, O_R)`` and, when due, test and maybe lower η."""
    W = config.max_window
    pos = state.count % W
    state = state._replace(
        o_left=state.o_left.at[pos].set(o_left), o_right=state.o_right.at[pos].set(o_right),
        count=state.count + 1, step=state.step + 1)
    due = (state.count >= config.min_samples) & (state.count % config.test_interval == 0)

    def tested(s):
        drop, ratio, ci = _test(config, s)
        new_eta = jnp.maximum(s.eta * (1 - config.delta), config.min_eta)
        drop = drop & (new_eta < s.eta)
        return s._replace(
            eta=jnp.where(drop, new_eta, s.eta), count=jnp.where(drop, 0, s.count),
            n_drops=s.n_drops + drop, last_drop_step=jnp.where(drop, s.step, s.last_drop_step),
            last_ratio=ratio, last_ci=ci)

    return jax.lax.cond(due, tested, lambda s: s, state)


def fdr_statistics(params, grads, eta):
    """``(O_L, O_R)`` of one step: ``⟨params, grads⟩`` and ``(η/2)|grads|²``.

    ``grads`` must be the gradient of the loss each player *minimises*
    (``g_θ`` for the generator, ``−g_ω`` for the discriminator), so that
    ``⟨params, grads⟩ = θᵀg_θ − ωᵀg_ω``.
    """
    leaves_p = jax.tree_util.tree_leaves(params)
    leaves_g = jax.tree_util.tree_leaves(grads)
    o_left = sum(jnp.vdot(p, g) for p, g in zip(leaves_p, leaves_g))
    o_right = 0.5 * eta * sum(jnp.vdot(g, g) for g in leaves_g)
    return o_left, o_right


class FDRScheduleState(NamedTuple):
    rule: FDRRuleState


def fdr_sgd(config: FDRRuleConfig) -> optax.GradientTransformation:
    """SGD for a min-max game whose learning rate follows the FDR schedule.

    Use it as an optax optimiser over the pytree of *both* players'
    parameters, with updates ``grads`` = the gradient of the loss each
    player minimises (so the discriminator's is ``−∇_ω Φ``): one optimiser
    step is then the simultaneous SGA step of Cao & Guo (SML), whose
    stationarity FDR2 describes. The current η, the number of drops and the
    last tested ratio ``mean O_L / mean O_R`` are in ``state.rule``::

        opt = fdr_sgd(FDRRuleConfig(eta0=0.1, epsilon=0.05))
        state = opt.init(params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        float(state.rule.eta), int(state.rule.n_drops)
    """
    config.validate()

    def init(params):
        del params
        return FDRScheduleState(rule=fdr_rule_init(config))

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("fdr_sgd needs params: call update(grads, state, params)")
        eta = state.rule.eta
        o_left, o_right = fdr_statistics(params, grads, eta)
        rule = fdr_rule_update(config, state.rule, o_left, o_right)
        updates = jax.tree_util.tree_map(lambda g: -eta * g, grads)
        return updates, FDRScheduleState(rule=rule)

    return optax.GradientTransformation(init, update)
