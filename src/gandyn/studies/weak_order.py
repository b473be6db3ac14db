"""The weak-order study: weak error of the SDE approximations of SGA and its fitted order.

``gandyn weak-order`` and the report's first section run this study. For
each learning rate ``η`` of a grid, the weak error between a discrete scheme
(ALT or SML) and an SDE is measured at the grid times ``t = kη`` (exactly on
linear-quadratic games, by Monte Carlo with confidence intervals otherwise),
and its order is fitted (Cao & Guo, Theorems 1–2). The numerics live in
:mod:`gandyn.analysis.weak_error`; this module holds the typed configuration,
the built-in study, the split into tasks and the outputs.

Without a configuration the built-in study runs: the tanh WGAN of Cao & Guo
§4.2, ALT against ALT-SDE (order 2) and SML against SML-SDE (order 1).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..analysis.weak_error import (Comparison, ComparisonResult, exact_weak_error,
                                   monte_carlo_pieces, monte_carlo_results)
from ..errors import ConfigError
from ..io import new_figure, save_figure, write_csv, write_json
from ..runs import RunStatistics
from ..sde.coefficients import Covariance, SDEName
from ..sde.integrate import Integrator
from ..sga import Scheme
from .config import (GameConfig, Method, StrictModel, check_exact_needs_lq, distinct,
                     finite_positive, parse_config)
from .executor import (Executor, Task, cached_setup, default_executor, map_with_checkpoints,
                       split_runs)
from .executor_config import ExecutorConfig
from .result import StudyResult

__all__ = ["ComparisonConfig", "StudySettings", "WeakOrderConfig", "WeakOrderResult",
           "DEFAULT_STUDY", "default_config", "checkpoint_store", "n_pieces", "run", "write_outputs", "plot_weak_order"]

#: The built-in study of ``gandyn weak-order`` with no CONFIG.
DEFAULT_STUDY: dict[str, Any] = {
    "game": {"kind": "tanh-wgan", "n_latent": 32, "n_data": 32, "theta_star": 1.5,
             "theta0": 0.5, "omega0": 0.5, "seed": 0},
    "study": {
        "batch_size": 64,
        "horizon": 2.0,
        "etas": [0.4, 0.2, 0.1],
        "method": "monte-carlo",
        "paths": 40_000,
        "seed": 0,
        "test_function": "sq-norm",
        "comparisons": [
            {"scheme": "alt", "sde": "alt-sde", "covariance": "blockdiag"},
            {"scheme": "sml", "sde": "sml-sde", "covariance": "joint"},
        ],
    },
}


#: Sizes beyond which a study cannot finish on any machine gandyn targets (bad input, not a result).
MAX_STEPS, MAX_PATHS, MAX_BATCH = 10**7, 10**9, 10**7


class ComparisonConfig(StrictModel):
    scheme: Scheme
    sde: SDEName
    covariance: Optional[Covariance] = None


class StudySettings(StrictModel):
    batch_size: int = Field(ge=1, le=MAX_BATCH)
    horizon: float = Field(gt=0, allow_inf_nan=False)
    etas: list[float] = Field(min_length=2)
    method: Method = "exact"
    paths: int = Field(10_000, ge=2, le=MAX_PATHS)
    seed: int = 0
    test_function: str = "sq-norm"
    comparisons: list[ComparisonConfig] = Field(min_length=1)
    substeps: Optional[int] = Field(None, ge=1, le=10_000)
    richardson: bool = True
    integrator: Integrator = "heun"
    chunk_size: int = Field(8192, ge=1, le=10**6)
    divergence_bound: float = Field(1e6, gt=0)

    @field_validator("etas")
    @classmethod
    def _etas_positive(cls, etas):
        finite_positive(etas, "eta")
        distinct(etas, "etas")
        return etas

    @model_validator(mode="after")
    def _horizon_covers_etas(self):
        for eta in self.etas:
            steps = self.horizon / eta
            if round(steps) < 1:
                raise ValueError(f"horizon {self.horizon} is shorter than eta = {eta}")
            if steps > MAX_STEPS:
                raise ValueError(f"horizon / eta = {steps:.3g} steps at eta = {eta}: at most "
                                 f"{MAX_STEPS:.0e} steps per run")
        return self


class WeakOrderConfig(StrictModel):
    game: GameConfig
    study: StudySettings
    # `gandyn invariant` reads this table from the same file; weak-order ignores it.
    stationary: Optional[dict] = None
    # Where the tasks run; never part of the numbers, so left out of dumps and fingerprints.
    executor: Optional[ExecutorConfig] = Field(None, exclude=True)

    @model_validator(mode="after")
    def _exact_needs_lq(self):
        check_exact_needs_lq(self.study.method, self.game)
        return self


def default_config(paths: Optional[int] = None, seed: Optional[int] = None) -> WeakOrderConfig:
    """The built-in study, with its paths and seed overridden if given."""
    raw = copy.deepcopy(DEFAULT_STUDY)
    if paths is not None:
        raw["study"]["paths"] = paths
    if seed is not None:
        raw["study"]["seed"] = seed
    return parse_config(WeakOrderConfig, raw)


@dataclass(repr=False)
class WeakOrderResult(StudyResult):
    """Weak errors and fitted orders of every comparison (the ``weak-order`` JSON contract)."""

    game: str
    method: str
    test_function: str
    batch_size: int
    horizon: float
    paths: Optional[int]
    seed: Optional[int]
    comparisons: list[ComparisonResult]
    elapsed_s: float
    config: dict
    resumed_pieces: Optional[int] = None
    executor: dict = field(default_factory=lambda: {"kind": "local"})
    out: Optional[str] = None
    files: Optional[list] = None

    def to_json(self) -> dict:
        data = {"game": self.game, "method": self.method, "test_function": self.test_function,
                "batch_size": self.batch_size, "horizon": self.horizon, "paths": self.paths,
                "seed": self.seed, "comparisons": [c.to_json() for c in self.comparisons],
                "elapsed_s": self.elapsed_s, "config": self.config, "executor": self.executor,
                "out": self.out, "files": self.files}
        if self.resumed_pieces is not None:
            data["resumed_pieces"] = self.resumed_pieces
        return data

    def rows(self) -> list[dict]:
        rows = []
        for c in self.comparisons:
            cis = c.error_final_ci or [[None, None]] * len(c.etas)
            for i, eta in enumerate(c.etas):
                rows.append({"scheme": c.scheme, "sde": c.sde, "covariance": c.covariance,
                             "eta": eta, "error_final": c.error_final[i],
                             "error_final_ci_low": cis[i][0], "error_final_ci_high": cis[i][1],
                             "error_max": c.error_max[i],
                             "signed_error_final": c.signed_error_final[i],
                             "order_final": c.order_final, "expected_order": c.expected_order})
        return rows

    def summary(self) -> str:
        """A few readable lines: the orders and the errors per η."""
        lines = [f"weak-order study: {self.game} ({self.method}, f = {self.test_function}, "
                 f"B = {self.batch_size}, T = {self.horizon})"]
        for c in (c.to_json() for c in self.comparisons):
            ci = c.get("order_final_ci")
            ci_text = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and None not in ci else ""
            of, om = c["order_final"], c["order_max"]
            lines.append(
                f"  {c['scheme'].upper()} vs {c['sde']} ({c['covariance']}): order (final) "
                f"{'n/a' if of is None else f'{of:.2f}'}{ci_text}, order (max over grid) "
                f"{'n/a' if om is None else f'{om:.2f}'}, expected {c['expected_order']}")
            for eta, e in zip(c["etas"], c["error_final"]):
                lines.append(f"      eta = {eta:<8g} error_final = {e:.3e}")
            for note in c["notes"]:
                lines.append(f"      note: {note}")
        if self.out:
            lines.append(f"figures and data in {self.out}")
        return "\n".join(lines)

    __str__ = summary


def checkpoint_store(out_dir: Optional[Path], config: WeakOrderConfig, resume: bool = True):
    """The checkpoint store of a Monte Carlo study writing to ``out_dir`` (``None`` otherwise).

    Its pieces live in ``out_dir/.checkpoints/weak-order`` under a fingerprint of
    the configuration and the gandyn version; ``resume=False`` starts afresh.
    """
    if out_dir is None or config.study.method != "monte-carlo":
        return None
    import shutil

    from .. import __version__
    from ..checkpoint import CheckpointStore

    directory = Path(out_dir) / ".checkpoints" / "weak-order"
    if not resume and directory.exists():
        shutil.rmtree(directory)
    return CheckpointStore(directory, {"config": config.model_dump(mode="json"),
                                       "version": __version__})


def n_pieces(config: WeakOrderConfig) -> int:
    """How many tasks (checkpointed pieces) a Monte Carlo study has.

    One batch of runs per scheme and η (SGA) and per comparison and η (SDE),
    each split into blocks of at most ``study.chunk_size`` runs
    (:func:`gandyn.studies.executor.split_runs`).
    """
    etas = len(config.study.etas)
    schemes = {c.scheme for c in config.study.comparisons}
    blocks = len(split_runs(config.study.paths, config.study.chunk_size))
    return etas * (len(schemes) + len(config.study.comparisons)) * blocks


def _test_function(config: WeakOrderConfig, game):
    from ..analysis.test_functions import make_test_function

    try:
        return make_test_function(config.study.test_function, game.d_theta, game.d_omega)
    except ValueError as err:
        raise ConfigError(f"config error: study.test_function: {err}") from None


def run(config: WeakOrderConfig, *, executor: Optional[Executor] = None,
        progress: Optional[Callable[[str, int, int], None]] = None,
        checkpoint=None) -> WeakOrderResult:
    """Run a validated weak-order study.

    A Monte Carlo study is split into tasks: every batch of runs (a scheme or
    an SDE at one η) in blocks of at most ``study.chunk_size`` runs, run by
    ``executor`` (in process by default). A block simulates the same runs,
    with the same keys, as the whole batch, and the blocks' statistics are
    merged in a fixed order, so any executor gives the same numbers. With a
    :class:`gandyn.checkpoint.CheckpointStore` every finished task is saved
    and reused when the study is started again.
    """
    study = config.study
    executor = default_executor(executor)
    started = time.perf_counter()
    comparisons = [Comparison(c.scheme, c.sde, c.covariance) for c in study.comparisons]
    if study.method == "exact":
        game = config.game.build()
        tf = _test_function(config, game)
        results = exact_weak_error(config.game.spec(), comparisons, study.etas, study.horizon,
                                   study.batch_size, tf)
    else:
        data = config.model_dump(mode="json")
        pieces = _setup(data)
        # The largest pieces first; the blocks of different pieces (different compiled
        # programs) interleaved, so that parallel workers start by compiling different ones.
        ordered = sorted(pieces.values(), key=lambda p: -p.cost)
        tasks = [Task(f"{p.id}-runs{r.start}-{r.stop}", _run_block, (data, p.id, r.start, r.stop),
                      p.label)
                 for r in split_runs(study.paths, study.chunk_size) for p in ordered]
        piece_of = {t.id: t.args[1] for t in tasks}
        done = dict.fromkeys(pieces, 0)

        def finished(task, stats):
            piece = pieces[piece_of[task.id]]
            done[piece.id] += stats.n_runs
            if progress is not None:
                progress(piece.label, done[piece.id], study.paths)

        blocks = map_with_checkpoints(executor, tasks, checkpoint, encode=RunStatistics.to_arrays,
                                      decode=RunStatistics.from_arrays, on_done=finished)
        statistics: dict[str, RunStatistics] = {}
        # Each piece's blocks merged in the order of their runs, whatever finished first.
        for task, stats in sorted(zip(tasks, blocks), key=lambda ts: ts[0].args[2]):
            pid = piece_of[task.id]
            statistics[pid] = stats if pid not in statistics else statistics[pid].merge(stats)
        results = monte_carlo_results(statistics, comparisons, study.etas, seed=study.seed,
                                      test_function_name=study.test_function,
                                      richardson=study.richardson)
    monte_carlo = study.method == "monte-carlo"
    return WeakOrderResult(
        game=config.game.kind, method=study.method, test_function=study.test_function,
        batch_size=study.batch_size, horizon=study.horizon,
        paths=study.paths if monte_carlo else None, seed=study.seed if monte_carlo else None,
        comparisons=results, elapsed_s=time.perf_counter() - started,
        config=config.model_dump(mode="json", exclude_none=True),
        resumed_pieces=len(checkpoint.loaded) if checkpoint is not None else None,
        executor=executor.to_json())


@cached_setup
def _setup(data: dict) -> dict:
    """The Monte Carlo pieces of a study (by id), built from its configuration as a dict.

    Called by the driver and, through :func:`_run_block`, by every task: once
    per process and configuration (the game, the SDEs and the compiled
    programs are reused by every later task).
    """
    config = WeakOrderConfig.model_validate(data)
    study = config.study
    game = config.game.build()
    tf = _test_function(config, game)
    comparisons = [Comparison(c.scheme, c.sde, c.covariance) for c in study.comparisons]
    pieces = monte_carlo_pieces(
        game, comparisons, study.etas, study.horizon, study.batch_size, tf,
        paths=study.paths, seed=study.seed,
        substeps=(lambda eta: study.substeps) if study.substeps else None,
        richardson=study.richardson, integrator=study.integrator,
        chunk_size=study.chunk_size, bound=study.divergence_bound)
    return {p.id: p for p in pieces}


def _run_block(data: dict, piece_id: str, start: int, stop: int) -> RunStatistics:
    """One task: runs ``start, ..., stop − 1`` of the piece ``piece_id`` of the study ``data``."""
    return _setup(data)[piece_id].compute(None, range(start, stop))


# --------------------------------------------------------------------------- outputs


def plot_weak_order(result: dict):
    """Weak error of each comparison: against η at the final time, and over time per η.

    Left: ``|E f(scheme) − E f(SDE)|`` at the final time ``T`` against ``η``
    (log–log), each comparison's fitted slope dashed through its points
    (labelled "slope from 2 points" when only two ``η`` carry it) and grey
    reference lines of slopes 1 and 2 below the data. Markers of different
    comparisons are nudged slightly along ``η`` so that coinciding ones stay
    visible. Right: the error ``|e(t)|`` at every grid time ``t = kη``
    (``k = 1, …, N``; ``e(0) = 0``), one line per ``η`` and comparison
    (``errors_over_time``), on the same error axis. Monte Carlo 95%
    intervals (``error_final_ci``) are bars on the left and at ``t = T`` on
    the right: only the final-time intervals are recorded, so none is drawn
    at earlier times. A lower bound of 0 is drawn down to the bottom edge
    (a floor below the smallest positive value). The legend sits below the
    axes. ``result`` is :meth:`WeakOrderResult.to_json`.
    """
    from matplotlib.lines import Line2D

    def comparison_label(c: dict, same_as: Optional[str] = None) -> str:
        """``ALT vs alt-sde (blockdiag)``, its slopes, and how many η they come from."""
        of, om = c.get("order_final"), c.get("order_max")
        n = len({e for e, err in zip(c["etas"], c["error_final"]) if err is not None and err > 0})
        if of is None:
            slope = "slope n/a"
        elif n == 2:
            slope = f"slope from 2 points {of:.2f}"
        else:
            slope = f"fitted slope {of:.2f} ({n} η)"
        ci = c.get("order_final_ci")
        if of is not None and ci and None not in ci:
            slope += f" [95% {ci[0]:.2f}, {ci[1]:.2f}]"
        if om is not None:
            slope += f", max-error {om:.2f}"
        if c.get("expected_order") is not None:
            slope += f", expected {c['expected_order']}"
        if same_as:
            slope += f" (same errors as {same_as})"
        return f"{comparison_name(c)}: {slope}"

    def comparison_name(c: dict) -> str:
        covariance = f" ({c['covariance']})" if c.get("covariance") else ""
        return f"{c['scheme'].upper()} vs {c['sde']}{covariance}"

    def as_array(values) -> np.ndarray:
        return np.asarray([np.nan if v is None else v for v in values], dtype=float)

    comps = result["comparisons"]
    fig = new_figure(figsize=(10.4, 5), layout="constrained")
    ax, ax_t = fig.subplots(1, 2, sharey=True)
    all_etas = sorted({float(e) for c in comps for e in c["etas"]}, reverse=True)

    # The error axis: the smallest positive final error sets the floor, reference lines below it.
    finals = np.concatenate([as_array(c["error_final"]) for c in comps] or [np.zeros(0)])
    finals = finals[np.isfinite(finals) & (finals > 0)]
    ymin = float(finals.min()) if finals.size else 1e-3
    highs = [ymin]
    for c in comps:
        highs += list(as_array(c.get("error_max") or []))
        highs += [v for lo_hi in c.get("error_final_ci") or [] for v in as_array(lo_hi)]
    highs = np.asarray(highs)
    top = float(np.nanmax(highs[np.isfinite(highs)])) * 2.0
    ref_end = 0.5 * ymin  # both reference lines end here at the largest η
    span = max(all_etas) / min(all_etas) if all_etas else 1.0
    lowest = ref_end / span**2 if len(all_etas) >= 2 else ref_end
    floor = 10 ** (np.floor(2 * np.log10(0.7 * lowest)) / 2)

    styles = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 3)), (0, (3, 1, 1, 1, 1, 1))]
    eta_style = {e: styles[i % len(styles)] for i, e in enumerate(all_etas)}
    markers = ["o", "s", "D", "^", "v", "P", "X"]
    n_comp = len(comps)
    comp_handles, key_handles = [], []
    has_ci = False
    seen = {}
    for i, c in enumerate(comps):
        color = f"C{i}"
        etas, errs = as_array(c["etas"]), as_array(c["error_final"])
        # Markers only (a small fraction of the axis); the fit uses the true η.
        nudge = max(span, 2.0) ** (0.018 * (i - (n_comp - 1) / 2))
        marker = markers[i % len(markers)]
        mkw = dict(marker=marker, color=color, ms=7 - 1.2 * (i % 3),
                   mfc=color if i == 0 else "none", mew=1.5, ls="none", zorder=3)
        shown = np.clip(errs, floor, None)
        ci = c.get("error_final_ci")
        if ci:
            has_ci = True
            lo = as_array([x[0] for x in ci])
            hi = as_array([x[1] for x in ci])
            lo = np.where(np.isfinite(lo) & (lo > floor), lo, floor)
            hi = np.where(np.isfinite(hi), np.clip(hi, floor, None), shown)
            ax.errorbar(etas * nudge, shown, yerr=[shown - np.minimum(lo, shown),
                                                    np.maximum(hi, shown) - shown],
                        capsize=3, elinewidth=1.2, **mkw)
        else:
            ax.plot(etas * nudge, shown, **mkw)
        order = c.get("order_final")
        good = np.isfinite(errs) & (errs > 0)
        if order is not None and good.sum() >= 2:
            x0 = np.exp(np.mean(np.log(etas[good])))
            y0 = np.exp(np.mean(np.log(errs[good])))
            xs = np.array([etas[good].min(), etas[good].max()])
            ax.plot(xs, y0 * (xs / x0) ** order, "--", color=color, lw=1)
        key = tuple(np.round(errs, 12))
        label = comparison_label(c, seen.get(key))
        seen.setdefault(key, comparison_name(c))
        comp_handles.append(Line2D([], [], lw=1, **{**mkw, "ls": "--"}, label=label))

        curves = c.get("errors_over_time") or []
        cis = ci or [None] * len(curves)
        for eta, curve, err_ci, e_final in zip(c["etas"], curves, cis, errs):
            e = np.abs(as_array(curve))
            if e.size < 2:
                continue
            t = np.arange(e.size) * float(eta)
            ax_t.plot(t[1:], e[1:], color=color, ls=eta_style[float(eta)], lw=1.3)
            if err_ci is not None:
                lo_, hi_ = (floor if v is None else max(float(v), floor) for v in err_ci)
                y = max(float(e_final), floor)
                x = t[-1] * (1 + 0.012 * (i - (n_comp - 1) / 2))
                ax_t.errorbar([x], [y], yerr=[[max(y - lo_, 0)], [max(hi_ - y, 0)]], fmt="none",
                              ecolor=color, capsize=3, elinewidth=1.2)

    if len(all_etas) >= 2:
        xs = np.array([min(all_etas), max(all_etas)])
        for p, ls in ((1, (0, (6, 2))), (2, (0, (2, 2)))):
            ys = ref_end * (xs / xs[-1]) ** p
            ax.plot(xs, ys, color="0.5", lw=0.9, ls=ls, zorder=1, label=f"reference: slope {p}")
            ax.annotate(f"slope {p}", (xs[0], ys[0]), textcoords="offset points", xytext=(2, 3),
                        fontsize=9, color="0.35", va="bottom", ha="left")
            key_handles.append(Line2D([], [], color="0.5", lw=0.9, ls=ls,
                                      label=f"reference: slope {p}"))
    for e in all_etas:
        key_handles.append(Line2D([], [], color="0.2", ls=eta_style[e], lw=1.3,
                                  label=f"η = {e:g} (right panel)"))
    if has_ci:
        key_handles.append(Line2D([], [], color="0.2", marker="|", ms=12, mew=1.2, ls="none",
                                  label="95% interval, final time only (to the bottom: "
                                        "contains 0)"))

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor, top)
    if len(all_etas) >= 2:
        ax.set_xlim(min(all_etas) / span**0.12, max(all_etas) * span**0.08)
    if all_etas:  # ticks at the η of the study, plainly written (no crowded minor labels)
        from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

        ax.xaxis.set_major_locator(FixedLocator(all_etas))
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:g}")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("learning rate η")
    ax.set_title("final-time error against η")
    ax.set_ylabel(f"|E f(SGA) − E f(SDE)|,  f = {result['test_function']}")
    ax_t.set_xlabel("time t = kη")
    ax_t.set_title("error at every grid time t = kη")
    ax_t.set_xlim(0, None)
    ax_t.tick_params(labelleft=True)
    for a in (ax, ax_t):
        a.grid(True, which="both", alpha=0.3)
    # One legend below both panels: the comparisons in the first column, the line key in the second.
    rows = max(len(comp_handles), len(key_handles))
    blank = Line2D([], [], ls="none", label=" ")
    handles = (comp_handles + [blank] * (rows - len(comp_handles))
               + key_handles + [blank] * (rows - len(key_handles)))
    fig.legend(handles=handles, labels=[h.get_label() for h in handles], loc="outside lower center",
               ncol=2, fontsize=9, frameon=False)
    fig.suptitle(f"Weak error: {result['game']} ({result['method']}, B = {result['batch_size']}, "
                 f"T = {result['horizon']})")
    return fig


def write_outputs(result: WeakOrderResult, out_dir: Path) -> list[str]:
    """Write the figure (PNG, SVG), the errors as CSV and the whole result as JSON.

    Sets ``result.out`` and ``result.files`` and returns the files.
    """
    out_dir = Path(out_dir)
    files = save_figure(plot_weak_order(result.to_json()), out_dir, "weak_order")
    header = ["scheme", "sde", "covariance", "eta", "error_final", "error_final_ci_low",
              "error_final_ci_high", "error_max", "signed_error_final"]
    files.append(str(write_csv(out_dir / "weak_order.csv", header,
                               ([row[k] for k in header] for row in result.rows()))))
    files.append(str(out_dir / "weak_order.json"))
    result.out, result.files = str(out_dir), files
    write_json(files[-1], result.to_json())
    return files
