"""The FDR learning-rate schedule as an optax transformation that follows any optimiser.

:func:`scale_by_fdr` multiplies the updates of the optimiser before it by a
scale that starts at 1 and is lowered by ``1 − δ`` each time the iterates are
shown to be stationary in a noise-driven way (Cao & Guo, Remark 10, with the
decision rule of :mod:`gandyn.schedules.rule`)::

    opt = optax.chain(optax.adam(1e-3), gandyn.schedules.scale_by_fdr(
        delta=0.5, epsilon=0.1, players=("generator", "discriminator")))
    state = opt.init(params)                       # params = (theta, omega)
    updates, state = opt.update(grads, state, params)   # params are required
    params = optax.apply_updates(params, updates)
    optax.tree_utils.tree_get(state, "scale")      # the current factor
    gandyn.schedules.fdr_metrics(state)            # {"fdr/scale": ..., "fdr/ratio/generator": ...}

The relation tested is the FDR of any update rule: with ``Δ`` the update this
transformation outputs and ``θ`` the parameters it is given, each player's
``E[−θ·Δ] = E[½|Δ|²]`` at stationarity (:func:`gandyn.analysis.fdr.update_fdr`).
So it must be the *last* transformation of the chain, and the gradients
``grads`` are those of the loss each player minimises (the discriminator's is
``−∇_ω Φ``), so that one ``update`` is one simultaneous step of the game.

Players. ``players`` names the player of every parameter (a pytree of names
with the structure of ``params`` or a prefix of it, or a function of
``params``, as for ``optax.multi_transform``). The statistics and the test are
per player, since a game can be stationary in one player and not the other;
the scale drops only when every player passes, and it is one scale for all,
so the ratio of the players' rates (TTUR) is kept. With
``optax.multi_transform`` and one ``scale_by_fdr`` per player instead, each
player's scale follows its own test.

Under ``optax.inject_hyperparams`` the numeric settings ``delta``,
``epsilon``, ``min_scale`` and ``spread_threshold`` can be changed during
training; the others size arrays and must stay static::

    optax.inject_hyperparams(scale_by_fdr, static_args=FDR_STATIC_ARGS)(delta=0.5, epsilon=0.1)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..analysis.fdr import player_labels, update_fdr
from . import rule as _rule
from .rule import ANCHOR, BASELINE, MEASURE, TRIAL, FDRConfig, FDRRuleState, Ops

__all__ = ["FDR_STATIC_ARGS", "ScaleByFDRState", "scale_by_fdr", "fdr_sgd", "fdr_metrics",
           "fdr_verdict", "find_fdr_states"]

#: The arguments of :func:`scale_by_fdr` that ``optax.inject_hyperparams`` must keep static.
FDR_STATIC_ARGS = ("test_interval", "min_samples", "n_batches", "alpha", "max_window",
                   "cycle_check", "cycle_patience", "players")


def _jax_ops() -> Ops:
    """The rule's array operations in JAX, at the float precision now in force."""
    return Ops(jnp, lambda v, ids, n: jax.ops.segment_sum(v, ids, num_segments=n),
               lambda buffer, i, v: buffer.at[i].set(v), jnp.asarray(0.0).dtype, jax.lax.cond)


class ScaleByFDRState(NamedTuple):
    """State of :func:`scale_by_fdr`: the rule (``rule.scale`` is the factor) and the anchor.

    ``anchor`` is the running sum of the parameters over the cycle check's
    anchor phase (``None`` without the check).
    """

    rule: FDRRuleState
    anchor: Any


def _sum_by_player(labels, names, leaves):
    out = {name: 0.0 for name in names}
    for label, value in zip(labels, leaves):
        out[label] = out[label] + value
    return out


def scale_by_fdr(delta: Any = 0.5, epsilon: Any = 0.1, *, test_interval: int = 100,
                 min_samples: int = 200, n_batches: int = 10, alpha: float = 0.05,
                 max_window: int = 20_000, min_scale: Any = 0.0, cycle_check: bool = True,
                 spread_threshold: Any = None, cycle_patience: int = 2, players: Any = None
                 ) -> optax.GradientTransformation:
    """Scale updates by a factor that the FDR schedule lowers at noise-driven stationarity.

    Args:
        delta: on a drop the factor is multiplied by ``1 − δ``.
        epsilon: equivalence band of the test, relative to ``mean O_R``.
        test_interval: steps between tests.
        min_samples: steps since the last reset before the first test.
        n_batches: batches for the batch-means variance.
        alpha: the test's intervals have level ``1 − α``.
        max_window: steps of statistics kept (older ones are forgotten).
        min_scale: the factor never goes below this.
        cycle_check: before a drop, check that the spread of the iterates
            shrinks when the rate does (noise-driven) rather than staying
            (a deterministic cycle, where the factor is restored); see
            :mod:`gandyn.schedules.rule`.
        spread_threshold: the largest ratio of spreads read as noise-driven
            (``None``: ``1 − δ/2``).
        cycle_patience: trials in a row whose spread does not shrink before a
            cycle is declared and the factor is never lowered again.
        players: the player of every parameter (see the module docstring);
            ``None`` is one player, ``"all"``.

    Returns:
        An optax transformation whose ``update(updates, state, params)`` needs
        ``params``. Its state is a :class:`ScaleByFDRState`; the factor is
        ``optax.tree_utils.tree_get(state, "scale")`` and :func:`fdr_metrics`
        gives the statistics as a flat dictionary.

    The rule is Remark 10 of Cao & Guo with Yaida's half-window test and
    SASA+'s batch-means interval, applied per player to ``O_L = −θ·Δ`` and
    ``O_R = ½|Δ|²`` (``Δ`` the scaled update), whose means agree at
    stationarity for any update rule.
    """
    config = FDRConfig(delta=delta, epsilon=epsilon, test_interval=test_interval,
                       min_samples=min_samples, n_batches=n_batches, alpha=alpha,
                       max_window=max_window, min_scale=min_scale, cycle_check=cycle_check,
                       spread_threshold=spread_threshold, cycle_patience=cycle_patience
                       ).validate()

    def init_fn(params):
        labels = player_labels(params, players)
        rule = _rule.rule_init(config, list(dict.fromkeys(labels)), _jax_ops())
        anchor = jax.tree_util.tree_map(jnp.zeros_like, params) if cycle_check else None
        return ScaleByFDRState(rule=rule, anchor=anchor)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_fdr needs the parameters: call update(updates, state, "
                             "params)")
        rule = state.rule
        scaled = jax.tree_util.tree_map(lambda u: (rule.scale * u).astype(u.dtype), updates)
        sides = update_fdr(params, scaled, players)
        names = list(rule.players)
        anchor = state.anchor
        q = {name: jnp.zeros((), rule.scale.dtype) for name in names}
        if cycle_check:
            labels = player_labels(params, players)
            phase = rule.phase
            anchor = jax.tree_util.tree_map(
                lambda a, x: jnp.where(phase == ANCHOR, a + x,
                                       jnp.where(phase == MEASURE, jnp.zeros_like(a), a)),
                anchor, params)

            def distances(args):
                anchor_sum, x = args
                n = _rule.anchor_length(rule.phase_length)
                leaves = [jnp.sum((p - a / n) ** 2) for p, a in
                          zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(anchor_sum))]
                return {k: jnp.asarray(v, rule.scale.dtype)
                        for k, v in _sum_by_player(labels, names, leaves).items()}

            measuring = (phase == BASELINE) | (phase == TRIAL)
            q = jax.lax.cond(measuring, distances, lambda args: q, (anchor, params))
        inputs = {name: (sides[name][0], sides[name][1], q[name]) for name in names}
        new_rule = _rule.rule_update(config, rule, inputs, _jax_ops())
        return scaled, ScaleByFDRState(rule=new_rule, anchor=anchor)

    return optax.GradientTransformation(init_fn, update_fn)


def fdr_sgd(learning_rate, **kwargs) -> optax.GradientTransformation:
    """SGD under the FDR schedule: ``optax.chain(optax.sgd(learning_rate), scale_by_fdr(**kwargs))``.

    The learning rate at any step is ``learning_rate × tree_get(state, "scale")``.
    """
    return optax.chain(optax.sgd(learning_rate), scale_by_fdr(**kwargs))


def find_fdr_states(opt_state) -> list:
    """Every :class:`FDRRuleState` in an optimiser state, as ``(label, state)`` pairs.

    ``label`` is the name under which ``optax.multi_transform`` (or any
    dictionary) holds it, ``""`` where there is one state only.
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(
        opt_state, is_leaf=lambda x: isinstance(x, FDRRuleState))
    found = [(path, x) for path, x in flat if isinstance(x, FDRRuleState)]
    if len(found) <= 1:
        return [("", x) for _, x in found]

    def dict_keys(path):
        return [str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey)]

    labels = [(dict_keys(path) or [jax.tree_util.keystr(path)])[-1] for path, _ in found]
    if len(set(labels)) != len(labels):
        labels = [".".join(dict_keys(path)) or jax.tree_util.keystr(path) for path, _ in found]
    return list(zip(labels, [x for _, x in found]))


def fdr_metrics(opt_state) -> dict:
    """The schedule's statistics as a flat ``{name: scalar array}``, for TensorBoard or W&B.

    Per schedule: ``fdr/scale``, ``fdr/phase`` (index into
    :data:`gandyn.schedules.rule.PHASES`), ``fdr/n_drops``, ``fdr/n_trials``,
    ``fdr/cycle``; per player: ``fdr/ratio`` (mean O_L / mean O_R at the last
    test), ``fdr/ci_low``, ``fdr/ci_high`` (its interval of
    mean(O_L − O_R)/mean O_R), ``fdr/passed`` and ``fdr/spread_ratio``
    (``V₁/V₀`` of the last cycle check, NaN before one). With several players
    the player's name follows (``fdr/ratio/generator``); with several
    schedules in one state (``optax.multi_transform``), the name they are
    held under does (``fdr/scale/discriminator``). Works under ``jit`` and
    ``vmap`` (the values are arrays); ``float(v)`` outside.
    """
    out = {}
    for label, rule in find_fdr_states(opt_state):
        suffix = f"/{label}" if label else ""
        for name in ("scale", "phase", "n_drops", "n_trials", "cycle"):
            out[f"fdr/{name}{suffix}"] = getattr(rule, name)
        several = len(rule.players) > 1
        for player, p in rule.players.items():
            who = "/".join(x for x in (label, player if several else "") if x)
            tail = f"/{who}" if who else ""
            out[f"fdr/ratio{tail}"] = p.ratio
            out[f"fdr/ci_low{tail}"] = p.ci_low
            out[f"fdr/ci_high{tail}"] = p.ci_high
            out[f"fdr/passed{tail}"] = p.passed
            out[f"fdr/spread_ratio{tail}"] = p.spread_after / p.spread_before
    return out


def fdr_verdict(opt_state) -> str:
    """In words: for every schedule in ``opt_state`` (unbatched), where it stands and why.

    On a cycle it says so, and what would help instead of a smaller rate.
    """
    lines = [(f"[{label}] " if label else "") + _rule.verdict(rule)
             for label, rule in find_fdr_states(opt_state)]
    if not lines:
        raise ValueError("no scale_by_fdr state found in opt_state")
    return "\n".join(lines)
