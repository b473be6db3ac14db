"""The FDR decision rule: when a stationary learning rate may be lowered, and when not.

This module is the rule alone, over per-step scalars; it knows nothing of
parameters, optimisers or frameworks. It is written once, as pure ``init`` /
``update`` functions over arrays of a fixed size, for two array libraries:
JAX (:mod:`gandyn.schedules.fdr`, the optax transformation, under ``jit`` and
``vmap``) and NumPy (:mod:`gandyn.schedules.torch`, the PyTorch scheduler,
which must not start JAX). Every branch is an ``xp.where``, so the same
function runs on both.

The relation (docs/long_run.md, "The FDR of any update rule"). For any update
``θ' = θ + Δ`` whose iterates are stationary, ``E|θ'|² = E|θ|²`` gives, for
every player (indeed every subset of coordinates)::

    E[O_L] = E[O_R],     O_L = −θ·Δ,     O_R = ½|Δ|².                      (FDR)

For SGD (``Δ = −ηg``) this is Yaida's relation ``E[θ·g] = (η/2) E|g|²``, the
discrete form of Cao & Guo's FDR2 (Theorem 9); it holds as written for
momentum, Adam or extragradient too, where the SGD form does not. Per step,
``O_L − O_R = −½(|θ'|² − |θ|²)``: the mean of ``O_L − O_R`` over a window is the
change of ``|θ|²`` across it, divided by ``−2 × length``. So (FDR) says only
that ``|θ|²`` has stopped drifting, and any bounded orbit satisfies it,
including a deterministic limit cycle on which a smaller rate does not help.

The rule, in phases (:data:`PHASES`):

``measure``
    Record ``(O_L, O_R)`` per player since the last reset. Every
    ``test_interval`` steps, once ``min_samples`` are in, drop the first half
    as transient (Yaida's half-window average) and cut the second half into
    ``n_batches`` consecutive batches; the batch means give a variance that
    respects autocorrelation (SASA+). A player passes when the ``1 − α``
    interval of ``mean(O_L − O_R)`` lies inside ``±ε · mean O_R`` (an
    equivalence test: stationarity must be shown, not merely not refuted).
    When every player that moves passes (one with ``O_R = 0`` throughout, frozen
    or masked out, does not count): without the cycle check, multiply the scale by
    ``1 − δ`` (Remark 10) and reset; with it, start a trial.
``anchor``, ``baseline``, ``relax``, ``trial`` (the cycle check)
    A noise-driven stationary law tightens when the rate drops (its spread is
    ``O(η)`` for SGD, and for any update with a fixed preconditioner), while
    a deterministic cycle of the mean dynamics keeps its orbit. So, with
    ``n`` the window the test passed on (:func:`check_lengths`): for
    ``⌈n/2⌉`` steps average the iterates into an anchor ``a``; for ``n``
    steps measure the spread ``V₀ = mean |θ − a|²`` per player; lower the
    scale by ``1 − δ`` and wait ``⌈n / (2(1 − δ))⌉`` steps to relax (the
    relaxation time grows like ``1/η``); measure ``V₁`` over ``n`` steps.
    If ``V₁ < τ V₀`` for every player (``τ = spread_threshold``, default
    ``1 − δ/2``, halfway between the noise-driven ``1 − δ`` and a cycle's 1),
    the stationarity was noise-driven: keep the lower scale (a drop) and
    reset. Otherwise restore the scale and reset; after ``cycle_patience``
    such trials in a row, declare a cycle and halt. (``V₁/V₀`` is a ratio
    of two time averages, with a standard deviation of about 0.1 when the
    windows span 20–60 relaxation times, so one trial that does not shrink
    is not yet a verdict.)
``halted``
    A cycle was found: the scale is never lowered again. The statistics are
    still tested and reported (:func:`verdict` says what would help).

The caller supplies, per player and step, ``(O_L, O_R, q)``, where ``q`` is
``|θ − a|²`` for the anchor ``a = (sum of θ over the anchor phase) /
anchor_length(state.phase_length)`` while
the phase is ``baseline`` or ``trial`` (anything otherwise); it accumulates
the anchor's sum while the phase is ``anchor`` and clears it while the phase
is ``measure`` (see :func:`anchor_action`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

__all__ = ["PHASES", "MEASURE", "ANCHOR", "BASELINE", "RELAX", "TRIAL", "HALTED", "FDRConfig",
           "FDRPlayerState", "FDRRuleState", "Ops", "NUMPY_OPS", "rule_init", "rule_update",
           "equivalence_test", "anchor_action", "anchor_length", "check_lengths", "verdict"]

PHASES = ("measure", "anchor", "baseline", "relax", "trial", "halted")
MEASURE, ANCHOR, BASELINE, RELAX, TRIAL, HALTED = range(len(PHASES))

#: What helps where the iterates cycle (the message of :func:`verdict`).
CYCLE_ADVICE = ("a smaller learning rate does not converge on a cycle of the mean dynamics; "
                "what does: extragradient or optimistic GDA (optax.optimistic_gradient_descent), "
                "which damp the rotation, or regularisation (weight decay, a gradient penalty, "
                "consensus optimisation), which makes the equilibrium attracting")


def _concrete(x) -> bool:
    """True for a number with a value now; False for a JAX tracer (inject_hyperparams, jit)."""
    try:
        float(x)
    except Exception:  # a tracer raises a JAX concretization error
        return False
    return True


class FDRConfig(NamedTuple):
    """The rule's settings (see the module docstring for what each does).

    Attributes:
        delta: on a drop the scale is multiplied by ``1 − δ`` (Remark 10's δ).
        epsilon: equivalence band, relative to ``mean O_R`` (Remark 10's ε).
        test_interval: steps between tests.
        min_samples: steps since the last reset before the first test.
        n_batches: batches for the batch-means variance.
        alpha: each interval has level ``1 − α``.
        max_window: length of the statistics buffer; older steps are forgotten.
        min_scale: the scale never goes below this.
        cycle_check: test that the stationarity is noise-driven before a drop.
        spread_threshold: ``τ``; ``None`` is ``1 − δ/2``.
        cycle_patience: trials in a row whose spread does not shrink before the
            rule declares a cycle and halts.

    ``delta``, ``epsilon``, ``min_scale`` and ``spread_threshold`` may be
    arrays (``optax.inject_hyperparams``); the others fix array sizes or the
    interval's quantile and must be Python numbers.
    """

    delta: Any = 0.5
    epsilon: Any = 0.1
    test_interval: int = 100
    min_samples: int = 200
    n_batches: int = 10
    alpha: float = 0.05
    max_window: int = 20_000
    min_scale: Any = 0.0
    cycle_check: bool = True
    spread_threshold: Any = None
    cycle_patience: int = 2

    def validate(self) -> "FDRConfig":
        """Raise ``ValueError`` naming the first bad setting; return ``self``."""
        static = ("test_interval", "min_samples", "n_batches", "max_window", "cycle_patience")
        for name in static:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{name} must be a Python integer, got {value!r} (under "
                                 "optax.inject_hyperparams pass static_args=FDR_STATIC_ARGS)")
        if not isinstance(self.alpha, numbers.Real):
            raise ValueError(f"alpha must be a Python number, got {self.alpha!r}")
        if not isinstance(self.cycle_check, (bool, np.bool_)):
            raise ValueError(f"cycle_check must be True or False, got {self.cycle_check!r}")
        checks = [
            ("delta", lambda d: 0 < d < 1, "must be in (0, 1)"),
            ("epsilon", lambda e: 0 < e < math.inf, "must be positive and finite"),
            ("min_scale", lambda m: 0 <= m < 1, "must be in [0, 1)"),
            ("spread_threshold", lambda t: t is None or 0 < t <= 1, "must be in (0, 1]"),
            ("test_interval", lambda n: n >= 1, "must be >= 1"),
            ("n_batches", lambda n: n >= 2, "must be >= 2"),
            ("min_samples", lambda n: n >= 2 * self.n_batches, "must be >= 2 * n_batches"),
            ("alpha", lambda a: 0 < a < 1, "must be in (0, 1)"),
            ("max_window", lambda n: n >= self.min_samples, "must be >= min_samples"),
            ("cycle_patience", lambda n: n >= 1, "must be >= 1"),
        ]
        for name, ok, message in checks:
            value = getattr(self, name)
            if (value is None or _concrete(value)) and not ok(value if value is None
                                                               else float(value)):
                raise ValueError(f"{name} {message}, got {value!r}")
        return self

    def threshold(self):
        """``τ``: the largest spread ratio ``V₁/V₀`` read as noise-driven."""
        return 1 - self.delta / 2 if self.spread_threshold is None else self.spread_threshold

    def t_quantile(self) -> float:
        """The two-sided ``1 − α`` quantile of Student's t with ``n_batches − 1`` degrees."""
        from scipy.special import stdtrit

        return float(stdtrit(self.n_batches - 1, 1 - self.alpha / 2))


class FDRPlayerState(NamedTuple):
    """One player's statistics."""

    o_left: Any          # (max_window,) ring buffer of O_L = −θ·Δ since the last reset
    o_right: Any         # (max_window,) ring buffer of O_R = ½|Δ|²
    ratio: Any           # mean O_L / mean O_R over the last tested half-window (NaN before)
    ci_low: Any          # interval of mean(O_L − O_R) / mean O_R at the last test
    ci_high: Any
    passed: Any          # the last test put the interval inside ±ε
    spread_sum: Any      # Σ q over the current baseline or trial phase
    spread_baseline: Any  # V₀ of the check under way (NaN outside a check)
    spread_before: Any   # V₀ of the last completed check (NaN before one)
    spread_after: Any    # V₁ of the last completed check


class FDRRuleState(NamedTuple):
    """The rule's state; ``players`` maps each player's name to its statistics."""

    scale: Any               # the factor the updates are multiplied by (starts at 1)
    scale_before_trial: Any  # restored when a trial finds a cycle
    n_recorded: Any          # steps recorded since the last reset
    n_steps: Any             # steps in all
    phase: Any               # index into PHASES
    phase_step: Any          # steps done in the current check phase
    phase_length: Any        # n: the window the test passed on, which sizes the check
    n_drops: Any
    n_trials: Any
    n_not_shrunk: Any        # trials in a row whose spread did not shrink
    cycle: Any               # cycle_patience trials in a row did not shrink (then halted)
    last_drop_step: Any      # -1 before the first drop
    delta: Any               # the settings in force at the last step (they may be injected)
    epsilon: Any
    threshold: Any
    players: dict


class Ops(NamedTuple):
    """The few array operations the rule needs beyond ``xp``."""

    xp: Any
    segment_sum: Callable   # (values, segment ids, n) -> per-segment sums
    set_at: Callable        # (buffer, index, value) -> buffer with buffer[index] = value
    float_dtype: Any
    cond: Callable          # (predicate, if_true, if_false, operand), as jax.lax.cond


def _np_set_at(buffer, index, value):
    out = buffer.copy()
    out[int(index)] = value
    return out


NUMPY_OPS = Ops(np, lambda v, ids, n: np.bincount(ids, weights=v, minlength=n)[:n],
                _np_set_at, np.float64,
                lambda pred, if_true, if_false, operand: (if_true if pred else if_false)(operand))


def rule_init(config: FDRConfig, players: Sequence[str], ops: Ops = NUMPY_OPS) -> FDRRuleState:
    """The state before the first step: scale 1, empty buffers, phase ``measure``."""
    config.validate()
    names = list(players)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"players must be distinct names, got {names!r}")
    xp, f = ops.xp, ops.float_dtype
    nan = xp.asarray(np.nan, dtype=f)

    def player():
        return FDRPlayerState(
            o_left=xp.zeros(config.max_window, dtype=f), o_right=xp.zeros(config.max_window, dtype=f),
            ratio=nan, ci_low=nan, ci_high=nan, passed=xp.asarray(False),
            spread_sum=xp.asarray(0.0, dtype=f), spread_baseline=nan, spread_before=nan,
            spread_after=nan)

    zero = xp.asarray(0)
    return FDRRuleState(
        scale=xp.asarray(1.0, dtype=f), scale_before_trial=xp.asarray(1.0, dtype=f),
        n_recorded=zero, n_steps=zero, phase=xp.asarray(MEASURE), phase_step=zero,
        phase_length=zero, n_drops=zero, n_trials=zero, n_not_shrunk=zero, cycle=xp.asarray(False),
        last_drop_step=xp.asarray(-1), delta=xp.asarray(config.delta, dtype=f),
        epsilon=xp.asarray(config.epsilon, dtype=f), threshold=xp.asarray(config.threshold(), dtype=f),
        players={name: player() for name in names})


def equivalence_test(config: FDRConfig, o_left, o_right, n_recorded, ops: Ops = NUMPY_OPS):
    """The equivalence test on the second half of the window: ``(passed, ratio, lo, hi, moved)``.

    ``o_left``, ``o_right`` are ring buffers of length ``max_window`` holding
    the last ``min(n_recorded, max_window)`` steps (the newest at
    ``(n_recorded − 1) % max_window``). Of those, the most recent
    ``K ⌊n/2K⌋`` (``n`` the number held, ``K = n_batches``) are cut into ``K``
    batches; with the batch means ``D̄_k`` of ``D = O_L − O_R``, their mean
    ``D̄`` and standard error ``s/√K``, the interval is
    ``(D̄ ± t_{1−α/2, K−1} s/√K) / mean O_R`` and the test passes when it lies
    inside ``(−ε, ε)``. ``ratio`` is ``mean O_L / mean O_R`` over the same steps;
    ``moved`` is false when ``mean O_R`` is exactly 0 (the player did not move at all).
    """
    xp = ops.xp
    W, K = config.max_window, config.n_batches
    n = xp.minimum(n_recorded, W)
    batch_len = xp.maximum(n // 2 // K, 1)
    used = batch_len * K
    # The step (counted from the last reset) whose statistics each buffer slot holds; the
    # `used` most recent steps, oldest first, make batches 0 … K − 1, the rest "batch" K.
    step = n_recorded - 1 - (n_recorded - 1 - xp.arange(W)) % W
    first = n_recorded - used
    valid = step >= first
    batch_id = xp.where(valid, (step - first) // batch_len, K)
    left = xp.where(valid, o_left, 0.0)
    right = xp.where(valid, o_right, 0.0)
    batch_means = ops.segment_sum(left - right, batch_id, K + 1)[:K] / batch_len
    mean_d = xp.mean(batch_means)
    se = xp.std(batch_means, ddof=1) / math.sqrt(K)
    mean_r = xp.sum(right) / used
    mean_l = xp.sum(left) / used
    tq = config.t_quantile()
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = (mean_d - tq * se) / mean_r
        hi = (mean_d + tq * se) / mean_r
        ratio = mean_l / mean_r
    passed = (mean_r > 0) & (lo > -config.epsilon) & (hi < config.epsilon)
    return passed, ratio, lo, hi, ~(mean_r == 0)


def check_lengths(config: FDRConfig, n):
    """Lengths of the cycle check's phases when the test passed on a window of ``n`` steps.

    ``anchor`` ``⌈n/2⌉``, ``baseline`` ``n``, ``relax`` ``⌈n / (2(1 − δ))⌉`` (the
    chain's relaxation time grows like ``1/η``), ``trial`` ``n``.
    """
    return {ANCHOR: anchor_length(n), BASELINE: n, RELAX: -(-n // (2 * (1 - config.delta))),
            TRIAL: n}


def anchor_length(n):
    """Steps the anchor averages over when the test passed on ``n`` steps: ``⌈n/2⌉`` (≥ 1)."""
    return -(-n // 2) + (n < 1)


def anchor_action(state: FDRRuleState) -> str:
    """What the caller does with the anchor's sum this step: ``add``, ``clear`` or ``keep``.

    For NumPy/PyTorch callers (a JAX caller uses the phase directly): ``add``
    the parameters while the phase is ``anchor``, ``clear`` the sum while it
    is ``measure``, ``keep`` it otherwise.
    """
    phase = int(state.phase)
    return "add" if phase == ANCHOR else "clear" if phase == MEASURE else "keep"


def rule_update(config: FDRConfig, state: FDRRuleState, inputs: dict,
                ops: Ops = NUMPY_OPS) -> FDRRuleState:
    """Record one step and advance the rule.

    ``inputs`` maps every player to ``(O_L, O_R, q)`` of this step (see the
    module docstring). The returned ``scale`` applies from the next step.
    """
    xp, f = ops.xp, ops.float_dtype
    where = xp.where
    if set(inputs) != set(state.players):
        raise ValueError(f"inputs name players {sorted(inputs)}, the state has "
                         f"{sorted(state.players)}")
    pos = state.n_recorded % config.max_window
    n_recorded = state.n_recorded + 1
    phase = state.phase

    # 1. The equivalence test, in `measure` (acted on) and `halted` (reported only).
    testing = (phase == MEASURE) | (phase == HALTED)
    due = testing & (n_recorded >= config.min_samples) & (n_recorded % config.test_interval == 0)
    measuring = (phase == BASELINE) | (phase == TRIAL)
    players = {}
    for name, p in state.players.items():
        o_left, o_right, q = inputs[name]
        players[name] = p._replace(o_left=ops.set_at(p.o_left, pos, o_left),
                                   o_right=ops.set_at(p.o_right, pos, o_right),
                                   spread_sum=where(measuring, p.spread_sum + q, p.spread_sum))

    def test_all(ps):
        return {name: equivalence_test(config, p.o_left, p.o_right, n_recorded, ops)
                for name, p in ps.items()}

    def keep_all(ps):
        return {name: (p.passed, p.ratio, p.ci_low, p.ci_high, xp.asarray(True))
                for name, p in ps.items()}

    results = ops.cond(due, test_all, keep_all, players)  # the test costs O(max_window)
    # Every player that moves must pass; one that did not move at all (O_R = 0: frozen, or
    # masked out by optax.multi_transform) does not block, but some player must move.
    all_pass, any_moving = due, xp.zeros_like(due)
    for name, (passed, ratio, lo, hi, moved) in results.items():
        all_pass = all_pass & (passed | ~moved)
        any_moving = any_moving | moved
        players[name] = players[name]._replace(
            ratio=xp.asarray(ratio, dtype=f), ci_low=xp.asarray(lo, dtype=f),
            ci_high=xp.asarray(hi, dtype=f), passed=xp.asarray(passed))

    # 2. The phase machine. Each `go_*` is "this step ends a phase and enters the next".
    scale = state.scale
    lowered = xp.maximum(scale * (1 - config.delta), config.min_scale)
    can_lower = lowered < scale
    in_check = (phase == ANCHOR) | (phase == BASELINE) | (phase == RELAX) | (phase == TRIAL)
    phase_step = where(in_check, state.phase_step + 1, 0)
    n = state.phase_length
    lengths = check_lengths(config, n)
    ends = phase_step >= xp.maximum(lengths[ANCHOR], 1)
    for which in (BASELINE, RELAX, TRIAL):
        ends = where(phase == which, phase_step >= lengths[which], ends)
    start = (phase == MEASURE) & all_pass & any_moving & can_lower
    never = xp.zeros_like(start)
    drop_now, go_anchor = (never, start) if config.cycle_check else (start, never)
    go_baseline = (phase == ANCHOR) & ends
    go_relax = (phase == BASELINE) & ends
    go_trial = (phase == RELAX) & ends
    judge = (phase == TRIAL) & ends
    thr = config.threshold()
    noise_driven = judge
    for name, p in players.items():
        v0 = where(go_relax, p.spread_sum / xp.maximum(n, 1), p.spread_baseline)
        v1 = p.spread_sum / xp.maximum(n, 1)
        noise_driven = noise_driven & ((v1 < thr * v0) | (v0 == 0))  # V₀ = 0: frozen
        players[name] = p._replace(
            spread_baseline=where(judge, np.nan, v0).astype(f),
            spread_before=where(judge, v0, p.spread_before).astype(f),
            spread_after=where(judge, v1, p.spread_after).astype(f),
            spread_sum=where(go_baseline | go_relax | go_trial, 0.0, p.spread_sum).astype(f))
    not_shrunk = judge & ~noise_driven
    streak = where(noise_driven, 0, state.n_not_shrunk + not_shrunk)
    found_cycle = not_shrunk & (streak >= config.cycle_patience)
    dropped = drop_now | noise_driven

    new_phase = phase
    for cond, target in ((go_anchor, ANCHOR), (go_baseline, BASELINE), (go_relax, RELAX),
                         (go_trial, TRIAL), (dropped | not_shrunk, MEASURE),
                         (found_cycle, HALTED)):
        new_phase = where(cond, target, new_phase)
    entering = go_anchor | go_baseline | go_relax | go_trial
    new_scale = where(drop_now | go_relax, lowered, scale)
    new_scale = where(not_shrunk, state.scale_before_trial, new_scale)
    reset = dropped | not_shrunk
    return FDRRuleState(
        scale=new_scale.astype(f),
        scale_before_trial=where(go_anchor, scale, state.scale_before_trial).astype(f),
        n_recorded=where(reset, 0, n_recorded),
        n_steps=state.n_steps + 1,
        phase=new_phase,
        phase_step=where(entering | reset, 0, phase_step),
        phase_length=where(go_anchor, n_recorded, n),
        n_drops=state.n_drops + dropped,
        n_trials=state.n_trials + go_anchor,
        n_not_shrunk=streak,
        cycle=state.cycle | found_cycle,
        last_drop_step=where(dropped, state.n_steps + 1, state.last_drop_step),
        delta=xp.asarray(config.delta, dtype=f), epsilon=xp.asarray(config.epsilon, dtype=f),
        threshold=xp.asarray(thr, dtype=f), players=players)


def verdict(state: FDRRuleState) -> str:
    """One paragraph saying where the rule stands and why (for one, unbatched state)."""
    phase = PHASES[int(state.phase)]
    scale = float(state.scale)
    parts = []
    if bool(state.cycle):
        spreads = ", ".join(f"{name} {float(p.spread_after) / float(p.spread_before):.3g}"
                            for name, p in state.players.items())
        parts.append(
            f"cycle: in {int(state.n_not_shrunk)} trial(s) in a row, lowering the rate by a "
            f"factor {1 - float(state.delta):.3g} did not shrink the stationary spread (last "
            f"trial: it changed by a factor {spreads}; a noise-driven spread shrinks below "
            f"{float(state.threshold):.3g}); the iterates follow a deterministic cycle, so the "
            f"scale was restored to {scale:.4g} and will not be lowered again: "
            + CYCLE_ADVICE + ".")
    elif int(state.n_drops):
        parts.append(f"noise-driven stationarity: the scale was lowered {int(state.n_drops)} "
                     f"time(s) (last at step {int(state.last_drop_step)}), now {scale:.4g}.")
    else:
        parts.append(f"the scale was never lowered ({float(state.scale_before_trial):.4g})."
                     if phase in ("relax", "trial") else
                     f"the scale was never lowered ({scale:.4g}).")
    if int(state.n_not_shrunk) and not bool(state.cycle):
        parts.append(f"The last {int(state.n_not_shrunk)} trial(s) in a row did not shrink the "
                     "spread (enough of them in a row are read as a cycle).")
    if phase in ("anchor", "baseline", "relax", "trial"):
        trial = f", trying the scale {scale:.4g}" if phase in ("relax", "trial") else ""
        parts.append(f"A cycle check is under way (phase {phase}{trial}).")
    tested = {n: p for n, p in state.players.items() if np.isfinite(float(p.ratio))}
    if not tested:
        parts.append("No equivalence test has run since the last reset.")
    for name, p in tested.items():
        inside = "inside" if bool(p.passed) else "not inside"
        parts.append(f"{name}: mean O_L / mean O_R = {float(p.ratio):.3g}, interval of "
                     f"mean(O_L − O_R)/mean O_R [{float(p.ci_low):.3g}, {float(p.ci_high):.3g}] "
                     f"{inside} ±{float(state.epsilon):.3g}.")
    return " ".join(parts)
