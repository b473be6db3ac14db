"""The scaling-rule study: do (κη, κB) trainings follow the same curves? (``gandyn scaling-rule``)

The SDE of SGD depends on ``(η, B)`` only through ``η`` (the time step) and
``η/B`` (the noise): SGD with ``(κη, κB)`` has the same SDE, so its curves
against ``t = kκη`` should coincide with the base run's (the *linear scaling
rule*; Goyal et al. 2017, and Li, Malladi & Arora 2021 §5 for when it
breaks). For Adam the SDE of Malladi, Lyu, Panigrahi & Arora (2022, "On the
SDEs and scaling rules for adaptive gradient algorithms", Definition 4.5) is
kept by the *square-root rule*

    B → κB,   η → √κ η,   1 − β₁ → κ(1 − β₁),   1 − β₂ → κ(1 − β₂),   ε → ε/√κ ,

with time ``t = kη²``: again ``κ`` times fewer steps for the same time. This
study trains a network game (``mlp-gan`` on the ring, ``dcgan`` on the digits)
for every ``κ`` of ``kappas`` and every optimiser of ``optimizers`` (SGD as
SGA with ``scheme``; Adam on both players at once, each descending its own
loss), several seeds each, and records against the base run's step count
``s = kκ`` (so every ``κ`` is on one axis) the losses on a fixed evaluation
subset, ``|θ|``, ``|ω|``, the image scores (``dcgan``) and, per player, the
gradient noise-to-signal ratio

    NSR = tr Σ_player / (B |g_player|²)

at the base batch size ``B`` (an unbiased pair of estimates from independent
minibatches: ``E|ĝ₁ − ĝ₂|²/2 = tr Σ/B`` and ``E ĝ₁·ĝ₂ = |g|²``). The rule can
only hold while the noise dominates the gradient at the scaled batch
(``NSR/κ ≳ 1``); where it is ``≪ 1`` the runs follow the gradient flow and
larger ``κ`` takes steps too large for it (SVAG's analysis).

A rule *holds* at ``κ`` when every recorded quantity's mean curve stays within
the 95% interval (Student t over seeds) of its difference from the ``κ = 1``
curve at every recorded time; otherwise the report says at which time it first
breaks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Optional

import equinox as eqx
import jax
import numpy as np
import optax
from pydantic import Field, field_validator, model_validator

from ..games.base import Game
from ..io import new_figure, save_figure, write_json
from ..sga import Scheme
from .config import GameConfig, StrictModel, distinct
from .executor import Executor, Task, cached_setup, default_executor, task_seed
from .executor_config import ExecutorConfig
from .result import StudyResult
from .svag import CURVE_QUANTITIES, curve_distance, curve_statistics, evaluation_tools, record_row

__all__ = ["ScalingSettings", "ScalingRuleConfig", "ScalingRuleResult", "run", "write_outputs",
           "plot_scaling", "scaled_hyperparameters", "RULES"]

#: The optimisers and the rule each is scaled by.
RULES = {"sgd": "linear", "adam": "square-root"}


class ScalingSettings(StrictModel):
    optimizers: list[Literal["sgd", "adam"]] = Field(default_factory=lambda: ["sgd", "adam"],
                                                      min_length=1)
    scheme: Scheme = "sml"
    eta: float = Field(0.05, gt=0, allow_inf_nan=False)
    adam_lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    adam_b1: float = Field(0.9, ge=0, lt=1)
    adam_b2: float = Field(0.999, ge=0, lt=1)
    adam_eps: float = Field(1e-8, gt=0, allow_inf_nan=False)
    batch_size: int = Field(32, ge=1, le=10**6)
    kappas: list[float] = Field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0], min_length=2)
    steps: int = Field(400, ge=1, le=10**8)
    n_records: int = Field(8, ge=1, le=10**4)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=2)
    eval_samples: int = Field(500, ge=10, le=10**6)
    nsr_pairs: int = Field(8, ge=1, le=10**4)
    divergence_bound: float = Field(1e6, gt=0)

    @field_validator("kappas")
    @classmethod
    def _kappas(cls, kappas):
        for i, k in enumerate(kappas):
            if not (k > 0 and math.isfinite(k)):
                raise ValueError(f"kappas must be positive and finite (kappas[{i}] = {k})")
        distinct(kappas, "kappas")
        if 1.0 not in kappas:
            raise ValueError("kappas must contain 1 (the base run every kappa is compared with)")
        return kappas

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds):
        distinct(seeds, "seeds")
        return seeds

    @model_validator(mode="after")
    def _grid(self):
        if self.steps % self.n_records:
            raise ValueError(f"n_records = {self.n_records} must divide steps = {self.steps}")
        every = self.steps // self.n_records
        for k in self.kappas:
            b = self.batch_size * k
            if abs(b - round(b)) > 1e-9 or round(b) < 1:
                raise ValueError(f"batch_size * kappa must be a positive integer (kappa = {k}: "
                                 f"{b:g})")
            n = every / k
            if abs(n - round(n)) > 1e-9 or round(n) < 1:
                raise ValueError(f"steps / n_records / kappa must be a positive integer "
                                 f"(kappa = {k}: {n:g}); the records then fall on one grid")
            if "adam" in self.optimizers:
                for name, beta in (("adam_b1", self.adam_b1), ("adam_b2", self.adam_b2)):
                    if k * (1 - beta) >= 1:
                        raise ValueError(f"{name} = {beta}: the square-root rule needs "
                                         f"kappa·(1 − {name}) < 1, got kappa = {k}")
        return self


class ScalingRuleConfig(StrictModel):
    game: GameConfig
    scaling: ScalingSettings
    executor: Optional[ExecutorConfig] = Field(None, exclude=True)

    @model_validator(mode="after")
    def _network_game(self):
        if self.game.kind not in ("mlp-gan", "dcgan"):
            raise ValueError(f"game.kind must be mlp-gan or dcgan for a scaling-rule study, got "
                             f"{self.game.kind!r}")
        return self


def scaled_hyperparameters(s: ScalingSettings, optimizer: str, kappa: float) -> dict:
    """The hyper-parameters of the run at ``kappa``: linear rule (SGD), square-root rule (Adam)."""
    batch = int(round(s.batch_size * kappa))
    steps = int(round(s.steps / kappa))
    if optimizer == "sgd":
        return {"eta": s.eta * kappa, "batch_size": batch, "steps": steps}
    root = math.sqrt(kappa)
    return {"lr": s.adam_lr * root, "b1": 1 - kappa * (1 - s.adam_b1),
            "b2": 1 - kappa * (1 - s.adam_b2), "eps": s.adam_eps / root, "batch_size": batch,
            "steps": steps}


@dataclass(repr=False)
class ScalingRuleResult(StudyResult):
    """Curves per optimiser, κ and seed, the rule's verdicts and the noise-to-signal ratios."""

    game: str
    kappas: list
    results: list
    elapsed_s: float
    config: dict
    executor: dict = field(default_factory=lambda: {"kind": "local"})
    out: Optional[str] = None
    files: Optional[list] = None

    def to_json(self) -> dict:
        return {"game": self.game, "kappas": self.kappas, "results": self.results,
                "elapsed_s": self.elapsed_s, "config": self.config, "executor": self.executor,
                "out": self.out, "files": self.files}

    def rows(self) -> list[dict]:
        rows = []
        for r in self.results:
            for k in r["per_kappa"]:
                rows.append({"optimizer": r["optimizer"], "rule": r["rule"],
                             "kappa": k["kappa"], "holds": k["holds"],
                             "first_break": k["first_break"],
                             **{f"nsr_{p}": k["nsr_final"][p] for p in ("theta", "omega")}})
        return rows

    def summary(self) -> str:
        lines = [f"scaling-rule study: {self.game}, kappas {self.kappas}"]
        for r in self.results:
            lines.append(f"  {r['optimizer']} ({r['rule']} rule):")
            for k in r["per_kappa"]:
                state = "holds" if k["holds"] else f"breaks at s = {k['first_break']:g}"
                nsr = k["nsr_final"]
                lines.append(f"      kappa = {k['kappa']:<5g} {state:<22s} final NSR at B: "
                             f"theta {_g(nsr['theta'])}, omega {_g(nsr['omega'])}")
        if self.out:
            lines.append(f"figures and data in {self.out}")
        return "\n".join(lines)

    __str__ = summary


def _g(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3g}"


@cached_setup
def _setup(data: dict):
    """The game, the evaluation tools, and the compiled loop and NSR estimate (shared by tasks)."""
    from .svag import _advance

    config = ScalingRuleConfig.model_validate(data)
    gan = config.game.build_gan()
    tools = evaluation_tools(config.game.kind, gan, 0, config.scaling.eval_samples)
    return config, gan, tools, eqx.filter_jit(_advance), eqx.filter_jit(_nsr)


class _AdamStep(eqx.Module):
    """``step(key, (u, adam_state))``: one Adam update of both players from one minibatch.

    Each player descends its own loss: the update direction is ``(g_θ, −g_ω)``.
    The hyper-parameters are arrays (traced): the seeds of a κ share one program.
    """

    game: Game
    lr: jax.Array
    b1: jax.Array
    b2: jax.Array
    eps: jax.Array
    batch_size: int = eqx.field(static=True)

    def optimizer(self):
        return optax.adam(self.lr, b1=self.b1, b2=self.b2, eps=self.eps)

    def __call__(self, key, state):
        u, opt_state = state
        game = self.game
        batch = game.sample_indices(key, self.batch_size)
        g_theta, g_omega = game.batch_gradients(*game.split(u), batch)
        updates, opt_state = self.optimizer().update(game.join(g_theta, -g_omega), opt_state, u)
        return optax.apply_updates(u, updates), opt_state


def _nsr(game, u, key, batch_size: int, pairs: int):
    """Per player ``tr Σ / (B |g|²)`` from ``pairs`` pairs of independent minibatches of size ``B``."""
    import jax.numpy as jnp

    theta, omega = game.split(u)
    keys = jax.random.split(key, 2 * pairs)
    g_theta, g_omega = jax.vmap(
        lambda k: game.batch_gradients(theta, omega, game.sample_indices(k, batch_size)))(keys)
    out = []
    for g in (g_theta, g_omega):
        a, b = g[:pairs], g[pairs:]
        noise = 0.5 * jnp.mean(jnp.sum((a - b) ** 2, axis=1))   # tr Σ / B
        signal = jnp.mean(jnp.sum(a * b, axis=1))              # |g|², unbiased
        out.append(noise / signal)
    return jnp.stack(out)


def _train_task(data: dict, optimizer: str, kappa: float, seed: int) -> dict:
    """One run (optimiser, κ, seed): its recorded quantities at the base steps ``s = kκ``."""
    import jax.numpy as jnp

    from ..sga import SGAConfig, make_sga_step

    config, gan, tools, advance, nsr = _setup(data)
    s = config.scaling
    game = gan.game
    hp = scaled_hyperparameters(s, optimizer, kappa)
    every = int(round(s.steps / s.n_records / kappa))
    key = jax.random.key(task_seed(seed, f"{optimizer}-kappa{kappa:g}"))
    if optimizer == "sgd":
        step = make_sga_step(game, SGAConfig(s.scheme, hp["eta"], hp["batch_size"]))
        state = game.u0
    else:
        dtype = game.u0.dtype
        step = _AdamStep(game, *(jnp.asarray(hp[k], dtype) for k in ("lr", "b1", "b2", "eps")),
                         batch_size=hp["batch_size"])
        state = (game.u0, step.optimizer().init(game.u0))
    position = (lambda state: state) if optimizer == "sgd" else (lambda state: state[0])
    rows, alive = [], True
    for r in range(s.n_records + 1):
        if r:
            new = advance(step, state, key, jnp.asarray((r - 1) * every, jnp.int32),
                          jnp.asarray(every, jnp.int32))
            flat = np.asarray(position(new))
            alive = alive and bool(np.all(np.isfinite(flat))
                                   and np.linalg.norm(flat) <= s.divergence_bound)
            state = new if alive else state
        u = position(state)
        row = record_row(game, u, alive, tools)
        # the same minibatches at a record for every run: common random numbers
        ratio = np.asarray(nsr(game, u, jax.random.key(task_seed(0, f"nsr-{r}")), s.batch_size,
                               s.nsr_pairs))
        row["nsr_theta"], row["nsr_omega"] = ((float(ratio[0]), float(ratio[1])) if alive
                                              else (float("nan"), float("nan")))
        rows.append(row)
    return {"rows": rows, "diverged": not alive}


def run(config: ScalingRuleConfig, *, executor: Optional[Executor] = None,
        progress: Optional[Callable[[str, int, int], None]] = None) -> ScalingRuleResult:
    """Run a validated scaling-rule study: one task per (optimiser, κ, seed)."""
    from scipy.stats import t as student_t

    s = config.scaling
    executor = default_executor(executor)
    started = time.perf_counter()
    data = config.model_dump(mode="json")
    tasks = [Task(f"{o}-kappa{k:g}-seed{seed}", _train_task, (data, o, k, seed),
                  f"{o}, kappa = {k:g}, seed {seed}")
             for o in s.optimizers for k in s.kappas for seed in s.seeds]
    done = 0

    def finished(task, result):
        nonlocal done
        done += 1
        if progress is not None:
            progress("scaling-rule runs", done, len(tasks))

    results = executor.map(tasks, finished)
    n_seeds = len(s.seeds)
    q_t = float(student_t.ppf(0.975, n_seeds - 1))
    base_steps = [r * (s.steps // s.n_records) for r in range(s.n_records + 1)]
    quantities = [q for q in CURVE_QUANTITIES if q in results[0]["rows"][0]]
    out, i = [], 0
    for o in s.optimizers:
        runs = {}
        for k in s.kappas:
            runs[k] = results[i:i + n_seeds]
            i += n_seeds
        per_kappa = []
        for k in s.kappas:
            distances = curve_distance(runs[k], runs[1.0], quantities, q_t)
            breaks = []
            for q in quantities:
                mk, sk, _ = curve_statistics(runs[k], q)
                m1, s1, _ = curve_statistics(runs[1.0], q)
                bad = np.abs(mk - m1) > q_t * np.hypot(sk, s1)
                bad |= ~np.isfinite(mk - m1)
                if bad[1:].any():
                    breaks.append(base_steps[1 + int(np.argmax(bad[1:]))])
            curves = {}
            for q in quantities + ["nsr_theta", "nsr_omega"]:
                mean, se, _ = curve_statistics(runs[k], q)
                curves[q] = {"mean": mean.tolist(), "ci_halfwidth": (q_t * se).tolist()}
            nsr_final = {p: curves[f"nsr_{p}"]["mean"][-1] for p in ("theta", "omega")}
            per_kappa.append({"kappa": k, "hyperparameters": scaled_hyperparameters(s, o, k),
                              "holds": not breaks, "first_break": min(breaks) if breaks else None,
                              "distance_to_base": distances, "curves": curves,
                              "nsr_final": nsr_final,
                              "nsr_final_at_scaled_batch": {p: v / k for p, v in nsr_final.items()},
                              "diverged_seeds": sum(r["diverged"] for r in runs[k])})
        holding = [p["kappa"] for p in per_kappa if p["holds"]]
        out.append({"optimizer": o, "rule": RULES[o], "base_steps": base_steps,
                    "quantities": quantities, "per_kappa": per_kappa, "holds_for": holding,
                    "breaks_for": [p["kappa"] for p in per_kappa if not p["holds"]]})
    return ScalingRuleResult(game=config.game.kind, kappas=list(s.kappas), results=out,
                             elapsed_s=time.perf_counter() - started,
                             config=config.model_dump(mode="json", exclude_none=True),
                             executor=executor.to_json())


def plot_scaling(result: dict):
    """Per optimiser (rows) and quantity (columns): mean curves per κ against the base steps."""
    res = result["results"]
    qs = res[0]["quantities"] + ["nsr_theta", "nsr_omega"]
    fig = new_figure(figsize=(3.4 * len(qs), 2.9 * len(res)), layout="constrained")
    axes = np.asarray(fig.subplots(len(res), len(qs), squeeze=False))
    for row, r in zip(axes, res):
        x = np.asarray(r["base_steps"], dtype=float)
        for ax, q in zip(row, qs):
            for j, k in enumerate(r["per_kappa"]):
                m = np.asarray(k["curves"][q]["mean"], dtype=float)
                h = np.asarray(k["curves"][q]["ci_halfwidth"], dtype=float)
                ax.plot(x, m, color=f"C{j}", label=f"κ = {k['kappa']:g}")
                ax.fill_between(x, m - h, m + h, color=f"C{j}", alpha=0.15)
            ax.set_title(f"{r['optimizer']} ({r['rule']}): {q}", fontsize=9)
            ax.set_xlabel("base steps s = kκ")
            if q.startswith("nsr"):
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
        row[0].legend(fontsize=7)
    return fig


def write_outputs(result: ScalingRuleResult, out_dir: Path) -> list[str]:
    """``scaling_rule.png``/``.svg`` and ``scaling_rule.json``; sets ``out`` and ``files``."""
    out_dir = Path(out_dir)
    files = save_figure(plot_scaling(result.to_json()), out_dir, "scaling_rule")
    files.append(str(out_dir / "scaling_rule.json"))
    result.out, result.files = str(out_dir), files
    write_json(files[-1], result.to_json())
    return files
