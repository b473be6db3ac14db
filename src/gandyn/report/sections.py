"""The sections of ``gandyn report``: which studies they run and what they show.

Each section calls :mod:`gandyn.studies` in this process with a typed
configuration, writes the study's outputs into the section's folder, and
turns the result into key numbers, tables, figure captions and warnings. No
analysis is done here: the numbers are the studies' own. Each section also
shows the equivalent command line, which prints the same result.
"""

from __future__ import annotations

import copy
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..analysis.fdr import FDR_RELATIONS, FDR_TERMS
from ..studies import invariant as invariant_study
from ..studies import kernel as kernel_study
from ..studies import step_spectrum as step_spectrum_study
from ..studies import svag as svag_study
from ..studies import train as train_study
from ..studies import weak_order as weak_order_study
from ..studies.config import load_toml, parse_config, read_config, tomllib
from .toml_text import dumps_toml

__all__ = ["SECTIONS", "SectionContext", "SectionOutput", "SectionSpec", "INVARIANT_STUDY",
           "DIGITS_ALONG", "digits_along_config",
           "invariant_study_config", "train_study_config", "weak_order_study_config",
           "svag_study_config", "scaling_study_config", "svag_verdicts"]

#: The built-in stationary study: simultaneous SGA on a generic, regularised
#: linear-quadratic game (the same game as ``examples/invariant_lq.toml``).
INVARIANT_STUDY: dict[str, Any] = {
    "game": {
        "kind": "linear-quadratic",
        "A": [[1.0, 0.2], [0.2, 0.5]],
        "C": [[1.0, 0.3], [-0.2, 0.8]],
        "D": [[0.5, 0.0], [0.0, 0.3]],
        "sigma_theta": [[0.3, 0.1], [0.1, 0.2]],
        "sigma_omega": [[0.25, -0.05], [-0.05, 0.15]],
        "sigma_theta_omega": [[0.1, 0.05], [0.0, -0.08]],
        "theta0": [1.0, -0.5],
        "omega0": [0.5, 1.0],
    },
    "stationary": {"scheme": "sml", "eta": 0.1, "batch_size": 2, "method": "exact", "seed": 0},
}

#: Monte Carlo paths of the weak-order study under ``--quick`` (the full study has 40 000).
QUICK_WEAK_ORDER_PATHS = 4000

#: Kernel settings (phase grid cells per axis, convergence steps): full and ``--quick``.
KERNEL_PHASE_GRID = {False: 400, True: 100}
KERNEL_CONVERGENCE_STEPS = {False: 1000, True: 300}


def weak_order_study_config(seed: int, quick: bool, paths: Optional[int] = None) -> dict:
    """The built-in ``gandyn weak-order`` study with the report's seed (fewer paths if quick)."""
    raw = copy.deepcopy(weak_order_study.DEFAULT_STUDY)
    raw["study"]["seed"] = seed
    if paths is not None:
        raw["study"]["paths"] = paths
    elif quick:
        raw["study"]["paths"] = QUICK_WEAK_ORDER_PATHS
    return raw


def invariant_study_config(seed: int) -> dict:
    """The built-in stationary study with the report's seed (used by the Theorem 6 checks)."""
    raw = copy.deepcopy(INVARIANT_STUDY)
    raw["stationary"]["seed"] = seed
    return raw


def train_study_config(seed: int, quick: bool) -> dict:
    """The built-in training study: constant-rate SGD, the FDR schedule and Adam on the ring.

    The full study is ``examples/train_ring.toml`` without step decay; the
    quick one trains smaller networks on less data, for fewer steps and seeds.
    """
    if quick:
        return {"train": {"dataset": "ring", "loss": "vanilla", "optimizers": ["sgd", "fdr"],
                          "seeds": [seed, seed + 1], "steps": 600, "n_evals": 3,
                          "batch_size": 64, "eta": 0.05, "fdr_epsilon": 0.1,
                          "weight_decay": 0.001, "hidden": 32, "n_data": 512, "n_latent": 512,
                          "eval_samples": 500}}
    return {"train": {"dataset": "ring", "loss": "vanilla", "optimizers": ["sgd", "fdr", "adam"],
                      "seeds": [seed, seed + 1, seed + 2], "steps": 8000, "n_evals": 8,
                      "batch_size": 64, "eta": 0.05, "adam_lr": 0.001, "fdr_epsilon": 0.1,
                      "weight_decay": 0.001, "hidden": 64}}


def svag_study_config(seed: int, quick: bool) -> dict:
    """The built-in ``gandyn svag`` study: SVAG-l chains of ALT on the DCGAN of the digits.

    The full study is ``examples/svag_dcgan.toml`` (width 20, 134 322 parameters,
    l ∈ {1, 2, 4, 8}, T = 1); the quick one is a narrower network (width 8, 23 010
    parameters) with l ∈ {1, 2, 4} up to T = 0.5 on fewer latent and evaluation points. Seeds
    ``seed, seed + 1, seed + 2`` (the intervals are over seeds).
    """
    game = {"kind": "dcgan", "loss": "non-saturating", "width": 20, "latent_dim": 16,
            "seed": seed}
    svag = {"scheme": "alt", "eta": 0.05, "batch_size": 32, "horizon": 1.0, "ls": [1, 2, 4, 8],
            "method": "monte-carlo", "seeds": [seed, seed + 1, seed + 2], "seed": seed,
            "n_records": 10, "eval_samples": 500, "test_function": "sq-norm"}
    if quick:
        game.update(width=8, n_latent=512)
        svag.update(horizon=0.5, ls=[1, 2, 4], n_records=5, eval_samples=200)
    return {"game": game, "svag": svag}


def scaling_study_config(seed: int, quick: bool) -> dict:
    """The built-in ``gandyn scaling-rule`` study: SML SGD (linear rule) and Adam (square-root
    rule) on the ring MLP GAN, κ around 1, seeds ``seed, seed + 1, seed + 2``.

    The full study is ``examples/scaling_rule_ring.toml``; the quick one trains one hidden
    layer of width 16 on 512 points for 200 steps at κ ∈ {1/2, 1, 2}.
    """
    game = {"kind": "mlp-gan", "dataset": "ring", "n_data": 2048, "n_latent": 2048,
            "hidden": 32, "depth": 2, "loss": "non-saturating", "weight_decay": 0.001}
    scaling = {"optimizers": ["sgd", "adam"], "scheme": "sml", "eta": 0.05, "adam_lr": 0.001,
               "adam_b1": 0.9, "adam_b2": 0.999, "batch_size": 32,
               "kappas": [0.25, 0.5, 1.0, 2.0, 4.0], "steps": 800, "n_records": 8,
               "seeds": [seed, seed + 1, seed + 2], "eval_samples": 500}
    if quick:
        game.update(n_data=512, n_latent=512, hidden=16, depth=1)
        scaling.update(kappas=[0.5, 1.0, 2.0], steps=200, n_records=4, eval_samples=200)
    return {"game": game, "scaling": scaling}


@dataclass(frozen=True)
class SectionContext:
    """What a section runner needs: its folder, its validated settings, the report's choices."""

    out_dir: Path
    settings: Any
    seed: int
    quick: bool
    progress: bool
    resume: bool = True
    executor: Any = None  # runs the studies' tasks (None: in process)
    executor_argv: tuple = ()  # the options that ask for it, for the equivalent commands


@dataclass
class SectionOutput:
    """What a section shows. Figures are paths relative to the report folder."""

    summary: dict
    results: dict
    headline: str = ""
    commands: list = field(default_factory=list)
    config_text: str = ""
    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)  # one sentence each: what a number means
    seeds: Any = None


@dataclass(frozen=True)
class SectionSpec:
    """A section: its name (folder and anchor), title, one-paragraph description, runner."""

    name: str
    title: str
    description: str
    run: Callable[[SectionContext], SectionOutput]


# --------------------------------------------------------------------------- helpers


def _command(argv: list[str]) -> str:
    return "gandyn " + shlex.join(argv)


def _with_output(argv: list[str], out_dir: Path) -> list[str]:
    return [*argv, "--out", str(out_dir), "--json"]


def _progress(ctx: SectionContext):
    from ..progress import progress_reporter

    return progress_reporter(enabled=ctx.progress)


def _write_config(out_dir: Path, raw: dict) -> tuple[Path, str]:
    """Write a built-in configuration as ``config.toml`` in the section folder."""
    from ..io import atomic_write_text

    text = dumps_toml(raw)
    return atomic_write_text(out_dir / "config.toml", text), text


def _config_file(ctx: SectionContext, built_in: Callable[[], dict]) -> tuple[Path, str]:
    """The section's configuration file: the user's, or the built-in one written out."""
    if ctx.settings.config is not None:
        path = Path(ctx.settings.config)
        return path, path.read_text(encoding="utf-8")
    return _write_config(ctx.out_dir, built_in())


def _g(value) -> str:
    """A number for a headline: 3 significant digits (a dash for a missing value)."""
    from .html import format_value

    return format_value(value)


def _relative(out_dir: Path, name: str) -> str:
    """``<section>/<name>``: a file of the section, relative to the report folder."""
    return f"{out_dir.name}/{name}"


# --------------------------------------------------------------------------- weak order


def _run_weak_order(ctx: SectionContext) -> SectionOutput:
    s = ctx.settings
    seed = ctx.seed if s.seed is None else s.seed
    path, text = _config_file(ctx, lambda: weak_order_study_config(seed, ctx.quick, s.paths))
    argv = ["weak-order", str(path)]
    if s.config is not None:  # the user's file: the section's options go on the command line
        argv += ["--paths", str(s.paths)] if s.paths is not None else []
        argv += ["--seed", str(s.seed)] if s.seed is not None else []
    if not ctx.progress:
        argv.append("--no-progress")
    if not ctx.resume:
        argv.append("--no-resume")
    argv = _with_output(argv, ctx.out_dir) + list(ctx.executor_argv)
    # The user's file: the section's paths and seed override the study's (as --paths, --seed).
    overrides = {} if s.config is None else {("study", "paths"): s.paths, ("study", "seed"): s.seed}
    config = read_config(weak_order_study.WeakOrderConfig, path, overrides)
    checkpoint = weak_order_study.checkpoint_store(ctx.out_dir, config, resume=ctx.resume)
    with _progress(ctx) as progress:
        study = weak_order_study.run(config, executor=ctx.executor, progress=progress,
                                     checkpoint=checkpoint)
    weak_order_study.write_outputs(study, ctx.out_dir)
    result = study.to_json()
    comparisons = result["comparisons"]
    orders = {_comparison_label(c): {
        "expected_order": c["expected_order"], "order_final": c["order_final"],
        "order_final_ci": c.get("order_final_ci"), "order_max": c["order_max"],
        "n_diverged": _weak_order_diverged(c)} for c in comparisons}
    warnings = [f"{label}: {o['n_diverged']} runs diverged and are excluded from the means"
                for label, o in orders.items() if o["n_diverged"]]
    headline = "; ".join(f"{label}: order {_g(o['order_final'])} (expected "
                         f"{o['expected_order']})" for label, o in orders.items())
    verdicts = [_order_verdict(label, o) for label, o in orders.items()]
    return SectionOutput(
        summary={"game": result["game"], "method": result["method"], "paths": result["paths"],
                 "orders": orders},
        headline=headline,
        results={"weak-order": result},
        commands=[_command(argv)],
        config_text=text,
        figures=[{"file": _relative(ctx.out_dir, "weak_order.png"),
                  "caption": "Weak error |E f(SGA) − E f(SDE)|: at the final time against the "
                             "learning rate η (left; fitted slopes dashed, grey reference "
                             "slopes 1 and 2) and at every grid time t = kη, one line per η "
                             "(right). 95% intervals are known only at the final time."}],
        tables=[_orders_table(comparisons), _errors_table(comparisons)],
        notes=[f"{_comparison_label(c)}: {n}" for c in comparisons for n in c["notes"]],
        warnings=warnings, verdicts=verdicts,
        seeds={"monte_carlo": result["seed"]})


def _order_verdict(label: str, o: dict) -> str:
    """One sentence: does the fitted order agree with the theorem's?"""
    order, expected, ci = o["order_final"], o["expected_order"], o.get("order_final_ci")
    if order is None:
        return f"{label}: no order could be fitted (an error is zero or not finite)."
    if ci and None not in ci:
        inside = ci[0] <= expected <= ci[1]
        return (f"{label}: fitted order {_g(order)}, 95% interval [{_g(ci[0])}, {_g(ci[1])}]: "
                + ("consistent with" if inside else "the interval excludes")
                + f" the theorem's order {expected}.")
    close = abs(order - expected) < 0.15
    return (f"{label}: exact order {_g(order)} against the theorem's {expected}: "
            + ("they agree." if close else "they differ (see the notes)."))


def _comparison_label(c: dict) -> str:
    return f"{c['scheme'].upper()} vs {c['sde']} ({c['covariance']})"


def _weak_order_diverged(c: dict) -> int:
    per_eta = c.get("n_diverged") or {}
    return int(sum(v["scheme"] + v["sde"] for v in per_eta.values()))


def _orders_table(comparisons: list) -> dict:
    rows = []
    for c in comparisons:
        ci = c.get("order_final_ci")
        ci_text = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci and None not in ci else "—"
        rows.append([_comparison_label(c), c["expected_order"], c["order_final"], ci_text,
                     c["order_max"], _weak_order_diverged(c)])
    return {"title": "Fitted weak orders",
            "header": ["comparison", "expected order", "order (final time)", "95% interval",
                       "order (max over t)", "diverged runs"],
            "rows": rows}


def _errors_table(comparisons: list) -> dict:
    rows = []
    for c in comparisons:
        cis = c.get("error_final_ci") or [[None, None]] * len(c["etas"])
        for eta, err, ci, err_max in zip(c["etas"], c["error_final"], cis, c["error_max"]):
            rows.append([_comparison_label(c), eta, err, ci[0], ci[1], err_max])
    return {"title": "Weak errors per learning rate",
            "header": ["comparison", "η", "error (final time)", "95% low", "95% high",
                       "error (max over t)"],
            "rows": rows}


# --------------------------------------------------------------------------- invariant



def _run_invariant(ctx: SectionContext) -> SectionOutput:
    path, text = _config_file(ctx, lambda: invariant_study_config(ctx.seed))
    argv = _with_output(["invariant", str(path)], ctx.out_dir) + list(ctx.executor_argv)
    study = invariant_study.run(parse_config(invariant_study.InvariantConfig, load_toml(path)),
                                executor=ctx.executor)
    invariant_study.write_outputs(study, ctx.out_dir)
    result = study.to_json()
    figures, warnings = [], []
    if result.get("fdr1"):
        from ..io import save_figure

        save_figure(invariant_study.plot_fdr_terms(result), ctx.out_dir, "fdr")
        figures.append({"file": _relative(ctx.out_dir, "fdr.png"),
                        "caption": "Both fluctuation–dissipation relations: the left side and "
                                   "the three right sides (the paper's continuous form, the "
                                   "discrete chain's, and the one exact for the simulated "
                                   "dynamics); a relation holds when its bars are equal."})
    else:
        warnings.append(result.get("note") or "no stationary law")
    diagnostics = result.get("diagnostics") or {}
    if diagnostics.get("n_diverged"):
        warnings.append(f"{diagnostics['n_diverged']} of {result['paths']} chains diverged")
    if diagnostics and not diagnostics.get("converged", True):
        failed = ", ".join(diagnostics.get("failed_checks", [])) or "R-hat"
        warnings.append(f"chains not converged (failed: {failed}; R-hat max "
                        f"{_g(diagnostics['rhat_max'])}"
                        + (f"; drifting: {', '.join(diagnostics['drifting'])}"
                           if diagnostics.get("drifting") else "") + ")")
    summary = _invariant_summary(result)
    return SectionOutput(
        summary=summary, verdicts=_invariant_verdicts(result),
        headline=_invariant_headline(summary),
        results={"invariant": result},
        commands=[_command(argv)],
        config_text=text,
        figures=figures,
        tables=[t for t in (_fdr_table(result), _conditions_table(result)) if t],
        notes=[result["note"]] if result.get("note") and figures else [],
        warnings=warnings,
        seeds={"stationary": _stationary_seed(text)})


def _stationary_seed(config_text: str) -> int:
    return int(tomllib.loads(config_text).get("stationary", {}).get("seed", 0))


CONDITION_MEANING = {
    ("bounded", "holds"): "the drift and diffusion stop growing far out, as Theorem 6 assumes.",
    ("bounded", "fails"): "the drift keeps growing with |u| (a linear-quadratic game's does), so "
                          "Theorem 6's boundedness assumption is not met; this does not by itself "
                          "rule out a stationary law (the exact one below exists).",
    ("dissipativity", "holds"): "far from the origin the field points inwards, which keeps the "
                                "iterates from escaping.",
    ("dissipativity", "fails"): "the field does not point inwards on every large shell; weight "
                                "decay (see weight_decay_needed) would restore it.",
    ("ellipticity", "holds"): "the noise reaches every direction, so the stationary law is unique.",
    ("ellipticity", "fails"): "the noise misses some direction; the stationary law need not be "
                              "unique.",
}


def _invariant_verdicts(r: dict) -> list:
    lines = [f"Theorem 6, {name}: {c['verdict']}; "
             + CONDITION_MEANING.get((name, c["verdict"]), c.get("detail", ""))
             for name, c in r["conditions"].items()]
    if r["stationary"]:
        lines.append("Stationary law: yes; the chain converges to one law "
                     + (f"at rate {_g(r['rate'])} per unit time." if r.get("rate") else "."))
    else:
        lines.append("Stationary law: no; " + (r.get("note") or "the chains do not settle."))
    for name in FDR_RELATIONS:
        f = r.get(name)
        if f and "gap_rhs_model_ci" not in f:
            scale = max(abs(f["lhs"]), 1e-300)
            lines.append(f"{name.upper()}: the model's right side matches the left to "
                         f"{_g(abs(f['gap_rhs_model']) / scale)} (relative); the paper's "
                         f"continuous form misses by {_g(abs(f['gap_rhs']) / scale)}.")
    return lines


def _invariant_headline(summary: dict) -> str:
    if "fdr1" not in summary:
        return "no stationary law"
    return "; ".join(f"{n.upper()} residual: paper {_g(summary[n]['residual_rhs'])}, discrete "
                     f"{_g(summary[n]['residual_rhs_discrete'])}" for n in ("fdr1", "fdr2"))


def _invariant_summary(r: dict) -> dict:
    summary = {"scheme": r["scheme"], "eta": r["eta"], "method": r["method"],
               "stationary": r["stationary"], "rate": r.get("rate"),
               "conditions": {k: v["verdict"] for k, v in r["conditions"].items()}}
    for name in FDR_RELATIONS:
        f = r.get(name)
        if f:
            summary[name] = {"lhs": f["lhs"], "residual_rhs": f["gap_rhs"],
                             "residual_rhs_discrete": f["gap_rhs_discrete"],
                             "residual_rhs_model": f["gap_rhs_model"]}
    return summary


def _fdr_table(r: dict) -> Optional[dict]:
    if not r.get("fdr1"):
        return None
    rows = []
    for name in FDR_RELATIONS:
        f = r[name]
        rows.append([name.upper(), *(f[t] for t in FDR_TERMS),
                     *(f[f"gap_{t}"] for t in FDR_TERMS[1:])])
    return {"title": "Fluctuation–dissipation relations (residual = lhs − rhs)",
            "header": ["relation", "lhs", "rhs (paper)", "rhs (discrete)", "rhs (model)",
                       "residual (paper)", "residual (discrete)", "residual (model)"],
            "rows": rows}


def _conditions_table(r: dict) -> dict:
    rows = [[f"Theorem 6: {k}", v["verdict"], v.get("detail", "")]
            for k, v in r["conditions"].items()]
    rows.append(["rate of convergence (per unit time)", r.get("rate"), ""])
    return {"title": "Long-run behaviour", "header": ["quantity", "value", "detail"], "rows": rows}


# --------------------------------------------------------------------------- kernel


def _kernel_game_argv(s) -> list[str]:
    return ["--sigma", repr(s.sigma), "--lam", repr(s.lam), "--eta-d", repr(s.eta_d),
            "--eta-g", repr(s.eta_g), "--p", repr(s.p), "--p-gen", repr(s.p_gen),
            "--n-gen", str(s.n_gen), "--dim", str(s.dim), "--order", s.order]


def _run_kernel(ctx: SectionContext) -> SectionOutput:
    s = ctx.settings
    out = SectionOutput(summary={}, results={}, seeds="none (deterministic)")
    if "spectrum" in s.parts:
        _kernel_spectrum(ctx, out)
    if "phase" in s.parts:
        for convention in s.conventions:
            _kernel_phase(ctx, out, convention)
    if "convergence" in s.parts:
        _kernel_convergence(ctx, out)
    out.config_text = "\n".join(out.commands) + "\n"
    out.headline = _kernel_headline(out.summary)
    if "spectrum" in out.summary:
        sp = out.summary["spectrum"]
        out.verdicts.append(
            f"Stable: {'yes' if sp['stable'] else 'no'}; the largest eigenvalue modulus of the "
            f"linearised GDA map is {_g(sp['rho_joint'])} "
            + ("< 1, so the iterates converge locally; the generated points at the rate "
               f"{_g(sp['rho_generator'])} per step." if sp["stable"] else
               "≥ 1, so small perturbations grow."))
        out.verdicts.append(
            f"Largest stable η_d: {_g(sp['eta_d_max'])} from the spectrum against "
            f"{_g(sp['eta_d_max_corollary1'])} from Corollary 1"
            + (": the corollary overstates it." if sp["eta_d_max_corollary1"] >
               1.001 * sp["eta_d_max"] else "."))
    return out


def _kernel_headline(summary: dict) -> str:
    parts = []
    if "spectrum" in summary:
        s = summary["spectrum"]
        parts.append(f"ρ_generator {_g(s['rho_generator'])}, η_d max {_g(s['eta_d_max'])} "
                     f"(Corollary 1: {_g(s['eta_d_max_corollary1'])})")
    for convention, p in summary.get("phase", {}).items():
        parts.append(f"{convention}: unstable fraction {_g(p['unstable_fraction'])}")
    if "convergence" in summary:
        c = summary["convergence"]
        parts.append(f"{c['diverged_runs']} of {c['runs']} convergence runs diverged")
    return "; ".join(parts)


def _kernel_run(ctx: SectionContext, out: SectionOutput, part: str, argv: list[str], study,
                write, config, tasks: bool = True) -> tuple[dict, Path]:
    """Run one kernel study into ``<section>/<part>``; ``argv`` is its equivalent command.

    ``tasks``: the study runs tasks on the report's executor (the spectrum does not).
    """
    from ..io import prepare_out_dir

    folder = prepare_out_dir(ctx.out_dir / part)
    extra = list(ctx.executor_argv) if tasks else []
    out.commands.append(_command(_with_output(argv, folder) + extra))
    result = study(config, executor=ctx.executor) if tasks else study(config)
    write(result, folder)
    out.results[part] = result.to_json()
    return out.results[part], folder


def _kernel_game(s) -> dict:
    return {name: getattr(s, name) for name in kernel_study.KernelGame.model_fields}


def _kernel_spectrum(ctx: SectionContext, out: SectionOutput) -> None:
    r, _ = _kernel_run(ctx, out, "spectrum", ["kernel", "spectrum", *_kernel_game_argv(ctx.settings)],
                       kernel_study.spectrum, kernel_study.write_spectrum,
                       kernel_study.SpectrumConfig(**_kernel_game(ctx.settings)), tasks=False)
    out.summary["spectrum"] = {k: r[k] for k in ("rho_joint", "rho_generator", "stable",
                                                  "eta_d_max", "eta_d_max_corollary1")}
    out.figures.append({"file": _relative(ctx.out_dir, "spectrum/spectrum.png"),
                        "caption": "Theorem 1's eigenvalues of the linearised GDA map in the "
                                   "complex plane, with the unit circle (stability boundary)."})
    out.tables.append({"title": "Theorem 1 spectrum", "header": ["mode", "Re ρ", "Im ρ", "|ρ|",
                                                                 "multiplicity"],
                       "rows": [[e["mode"], e["re"], e["im"], e["abs"],
                                 "∞" if e["multiplicity"] is None else e["multiplicity"]]
                                for e in r["eigenvalues"]]})
    out.tables.append({"title": "Rates and step-size bounds", "header": ["quantity", "value"],
                       "rows": [["rho_joint (|ρ_max| over all modes)", r["rho_joint"]],
                                ["rho_generator (rate of the generated points)", r["rho_generator"]],
                                ["stable", r["stable"]],
                                ["eta_d_max (from the spectrum)", r["eta_d_max"]],
                                ["eta_d_max (Corollary 1)", r["eta_d_max_corollary1"]]]})
    out.notes += r["disagreements"]


def _kernel_phase(ctx: SectionContext, out: SectionOutput, convention: str) -> None:
    s = ctx.settings
    n = s.phase_grid if s.phase_grid is not None else KERNEL_PHASE_GRID[ctx.quick]
    part = f"phase-{convention}"
    config = kernel_study.PhaseConfig(
        convention=convention, sigma_grid=kernel_study.GridRange(lo=0.05, hi=2.0, count=n),
        lam_grid=kernel_study.GridRange(lo=0.01, hi=1.0, count=n))
    r, _ = _kernel_run(ctx, out, part, ["kernel", "phase", "--convention", convention,
                                        "--sigma", config.sigma_grid.text(),
                                        "--lam", config.lam_grid.text()],
                       kernel_study.phase, kernel_study.write_phase, config)
    out.summary.setdefault("phase", {})[convention] = {
        k: r[k] for k in ("min", "argmin", "unstable_fraction", "median")}
    what = ("as Theorem 1 says" if convention == "theorem"
            else "as the paper's figure code counts the modes (a b mode also for N = 1)")
    out.figures.append({"file": _relative(ctx.out_dir, f"{part}/phase_{convention}_joint.png"),
                        "caption": f"Figure 2, {what}: |ρ_max|² over the (σ, λ) grid "
                                   f"({n} × {n}), the dominant mode, and where the c pair is "
                                   "complex."})
    table = next((t for t in out.tables if t["title"] == "Phase diagrams (Figure 2)"), None)
    if table is None:
        table = {"title": "Phase diagrams (Figure 2)",
                 "header": ["convention", "min |ρ_max|²", "at σ", "at λ", "unstable fraction",
                            "median", "complex fraction"], "rows": []}
        out.tables.append(table)
    table["rows"].append([convention, r["min"], r["argmin"]["sigma"], r["argmin"]["lam"],
                          r["unstable_fraction"], r["median"], r["complex_fraction"]])


def _kernel_convergence(ctx: SectionContext, out: SectionOutput) -> None:
    s = ctx.settings
    steps = (s.convergence_steps if s.convergence_steps is not None
             else KERNEL_CONVERGENCE_STEPS[ctx.quick])
    r, _ = _kernel_run(ctx, out, "convergence", ["kernel", "convergence", "--steps", str(steps)],
                       kernel_study.convergence, kernel_study.write_convergence,
                       kernel_study.ConvergenceConfig(steps=steps))
    runs = r["runs"]
    diverged = [x for x in runs if x["diverged"]]
    out.summary["convergence"] = {"steps": steps, "runs": len(runs), "diverged_runs": len(diverged)}
    out.figures.append({"file": _relative(ctx.out_dir, "convergence/convergence.png"),
                        "caption": f"Figure 3: distance of the generated point to the target "
                                   f"over {steps} steps, simulated (solid) against the "
                                   "linearised prediction (dotted)."})
    out.tables.append({"title": "Convergence runs (Figure 3)",
                       "header": ["λ", "σ", "rate (linearised)", "rate (simulated)",
                                  "final distance", "diverged"],
                       "rows": [[x["lam"], x["sigma"], x["rate_predicted"], x["rate_empirical"],
                                 x["final_distance"], x["diverged"]] for x in runs]})
    out.warnings += [f"convergence run λ = {x['lam']:g}, σ = {x['sigma']:g} diverged"
                     for x in diverged]


# --------------------------------------------------------------------------- train


def _run_train(ctx: SectionContext) -> SectionOutput:
    path, text = _config_file(ctx, lambda: train_study_config(ctx.seed, ctx.quick))
    argv = ["train", str(path)]
    if not ctx.progress:
        argv.append("--no-progress")
    argv = _with_output(argv, ctx.out_dir) + list(ctx.executor_argv)
    with _progress(ctx) as progress:
        study = train_study.run(parse_config(train_study.TrainConfig, load_toml(path)),
                                executor=ctx.executor, progress=progress)
    train_study.write_outputs(study, ctx.out_dir)
    result = study.to_json()
    results = result["results"]
    summary = {"dataset": result["dataset"], "loss": result["loss"], "steps": result["steps"],
               "final": {r["optimizer"]: {m: v["mean"] for m, v in r["final"].items()}
                         for r in results},
               "diverged_seeds": {r["optimizer"]: r["diverged_seeds"] for r in results}}
    fdr = next((r for r in results if r["optimizer"] == "fdr"), None)
    if fdr is not None:
        summary["fdr_drops"] = fdr["n_drops"]
    metric = next(iter(results[0]["final"]))
    headline = f"final {metric}: " + ", ".join(
        f"{r['optimizer']} {_g(r['final'][metric]['mean'])}"
        + (f" ({r['final'][metric]['n_infinite']} ∞)" if r["final"][metric]["n_infinite"] else "")
        for r in results)
    return SectionOutput(
        summary=summary,
        headline=headline,
        results={"train": result},
        commands=[_command(argv)],
        config_text=text,
        figures=[{"file": _relative(ctx.out_dir, "training.png"),
                  "caption": f"Sample-quality scores along training on {result['dataset']} "
                             "(mean over seeds), one curve per optimiser. Constant-rate SGD and "
                             "the FDR schedule coincide until the schedule first lowers η."}],
        tables=[_train_table(results)],
        warnings=_train_warnings(results), verdicts=_train_verdicts(result),
        seeds={"train": result["config"]["seeds"], "data": result["config"]["data_seed"]})


def _train_verdicts(result: dict) -> list:
    """What happened to the FDR schedule, in words, and why (from its logged statistic)."""
    fdr = next((r for r in result["results"] if r["optimizer"] == "fdr"), None)
    if fdr is None:
        return []
    eps = result["config"]["fdr_epsilon"]
    ratios = ", ".join(_g(x) for x in fdr["fdr_last_ratio"])
    tested = [x is not None and math.isfinite(x) for x in fdr["fdr_last_ratio"]]
    if not any(fdr["n_drops"]) and not any(tested):
        return [f"The FDR schedule never lowered η: its test never ran, since the "
                f"{result['steps']} steps are fewer than it needs before its first test "
                f"(fdr_min_samples = {result['config']['fdr_min_samples']}). Its run is then "
                "step for step the constant-rate SGD run, and the two curves coincide."]
    trials = fdr.get("n_trials") or [0]
    if not any(fdr["n_drops"]) and any(trials):
        # The cycle check lowered η for a trial and restored it: not SGD's run step for step.
        return [f"The FDR schedule never kept a lower η: its cycle check tried lowering it "
                f"{', '.join(str(t) for t in trials)} times (per seed) and restored it each "
                "time, because the iterates' spread did not shrink with η (a cycle or a drift, "
                "not stationary noise). During those trials its run departs from constant-rate "
                f"SGD. Its test statistic ended at {ratios} (stationary when inside 1 ± {eps:g})."]
    if not any(fdr["n_drops"]):
        line = (f"The FDR schedule never lowered η in any of the {len(fdr['seeds'])} seeds: its run "
                "is then step for step the constant-rate SGD run (same seeds, same batches), so "
                "the two curves coincide. Its test statistic (mean O_L / mean O_R over the last "
                f"window) ended at {ratios}; it lowers η only when the ratio's interval lies "
                f"inside 1 ± {eps:g}, that is once the iterates look stationary, which they did "
                f"not within {result['steps']} steps.")
        sgd = next((r for r in result["results"] if r["optimizer"] == "sgd"), None)
        if sgd is not None and sgd["final_per_seed"] != fdr["final_per_seed"]:
            line += " (Its scores differ from SGD's only by rounding.)"
        return [line]
    return [f"The FDR schedule lowered η {', '.join(str(d) for d in fdr['n_drops'])} times "
            f"(per seed) and ended at η = {', '.join(_g(e) for e in fdr['final_eta'])}; its "
            f"statistic ended at {ratios} (stationary when inside 1 ± {eps:g})."]


def _train_table(results: list) -> dict:
    metrics = list(results[0]["final"])
    rows = []
    for r in results:
        cells = [_mean_std(r["final"][m], len(r["seeds"])) for m in metrics]
        drops = ", ".join(str(d) for d in r["n_drops"]) if "n_drops" in r else "—"
        etas = ", ".join(f"{e:.3g}" for e in r["final_eta"])
        rows.append([r["optimizer"], *cells, etas, drops, r["diverged_seeds"]])
    return {"title": "Final scores (mean ± std over the finite seeds)",
            "header": ["optimizer", *metrics, "final η per seed", "FDR drops per seed",
                       "diverged seeds"],
            "rows": rows}


def _mean_std(v: dict, n: int) -> str:
    """``mean ± std`` over the finite seeds, with the count of infinite ones (JSON: null = ∞)."""
    if v["mean"] is None:
        return f"∞ (all {n} seeds)"
    text = f"{v['mean']:.3g} ± {v['std']:.2g}"
    return text + (f" ({v['n_infinite']} of {n} seeds ∞, mean over the others)"
                   if v["n_infinite"] else f" ({n} seeds)")


def _train_warnings(results: list) -> list:
    warnings = []
    for r in results:
        n = len(r["seeds"])
        if r["diverged_seeds"]:
            warnings.append(f"{r['optimizer']}: {r['diverged_seeds']} of {n} seeds diverged")
        for m, v in r["final"].items():
            if v["n_infinite"]:
                warnings.append(f"{r['optimizer']}: {m} is infinite for {v['n_infinite']} of "
                                f"{n} seeds")
    return warnings


# --------------------------------------------------------------------------- stability


#: The digits GAN of the stability section along training, full and ``--quick``: an MLP GAN
#: (non-saturating loss) on scikit-learn's 8×8 digits trained by alternating GDA, ARPACK's k
#: largest-modulus eigenvalues of the step at every checkpoint.
DIGITS_ALONG = {False: {"hidden": 64, "depth": 2, "latent_dim": 8, "images": 256, "steps": 400,
                        "every": 100, "k": 6},
                True: {"hidden": 16, "depth": 1, "latent_dim": 4, "images": 64, "steps": 40,
                       "every": 20, "k": 4}}


def digits_along_config(settings, quick: bool) -> dict:
    """The ``gandyn spectrum`` config of the digits GAN along training (section settings over
    :data:`DIGITS_ALONG`)."""
    size = dict(DIGITS_ALONG[quick])
    for name in ("hidden", "images", "steps", "every", "k"):
        value = getattr(settings, f"digits_{name}")
        if value is not None:
            size[name] = value
    return {"game": {"kind": "mlp-gan", "dataset": "digits", "n_data": size["images"],
                     "n_latent": size["images"], "loss": "non-saturating",
                     "latent_dim": size["latent_dim"], "hidden": size["hidden"],
                     "depth": size["depth"]},
            "optimizer": {"kind": "gda", "order": "alternating", "eta": settings.digits_eta},
            "point": {"kind": "along-training", "steps": size["steps"],
                      "every": min(size["every"], size["steps"])},
            "spectrum": {"method": "arnoldi", "k": size["k"], "which": ["LM"], "tol": 1e-8,
                         "stable_range": False, "nash": False}}


def _run_stability(ctx: SectionContext) -> SectionOutput:
    """The closed-form cases and the digits GAN along training, as ``parts`` asks."""
    parts = ctx.settings.parts
    outputs = ([_stability_closed_forms(ctx)] if "closed_forms" in parts else []) + (
        [_stability_digits(ctx)] if "digits" in parts else [])
    return _merge_parts(outputs)


def _merge_parts(outputs: list) -> SectionOutput:
    """One section from the outputs of its parts, in order (keys of the summaries distinct)."""
    if len(outputs) == 1:
        return outputs[0]
    seeds = [o.seeds for o in outputs if o.seeds is not None]
    return SectionOutput(
        summary={k: v for o in outputs for k, v in o.summary.items()},
        results={k: v for o in outputs for k, v in o.results.items()},
        headline=" ".join(o.headline for o in outputs if o.headline),
        commands=[c for o in outputs for c in o.commands],
        config_text="\n".join(o.config_text for o in outputs if o.config_text),
        figures=[f for o in outputs for f in o.figures],
        tables=[t for o in outputs for t in o.tables],
        notes=[n for o in outputs for n in o.notes],
        warnings=[w for o in outputs for w in o.warnings],
        verdicts=[v for o in outputs for v in o.verdicts],
        seeds=(seeds[0] if len(seeds) == 1 else seeds) if seeds else None)


def _stability_digits(ctx: SectionContext) -> SectionOutput:
    """The digits GAN's stability margin and path-angles along training (``gandyn spectrum``)."""
    from ..io import atomic_write_text

    raw = digits_along_config(ctx.settings, ctx.quick)
    folder = ctx.out_dir / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    path = atomic_write_text(ctx.out_dir / "digits.toml", dumps_toml(raw))
    config = parse_config(step_spectrum_study.StepSpectrumConfig, raw)
    with _progress(ctx) as progress:
        result = step_spectrum_study.run(config, progress=progress)
    step_spectrum_study.write_outputs(result, folder)
    a = result.along_training
    n_params = result.dim  # alternating GDA: the state is the parameters
    margins = a["margin"]
    contracting = sum(m > 0 for m in margins)
    rows = [[t, f"{r:.8f}", f"{m:+.3e}", f"{f:.3g}", n, f"{sec:.2f}", f"{res:.1e}"]
            for t, r, m, f, n, sec, res in zip(a["steps"], a["spectral_radius"], margins,
                                                a["field_norm"], a["matvecs"], a["seconds"],
                                                a["residual_max"])]
    warnings = [f"digits GAN: training diverged at step {a['diverged_at']}"] if a[
        "diverged_at"] is not None else []
    warnings += [f"digits GAN, step {t}: ARPACK residual {res:.1e} (tol 1e-8)"
                 for t, res in zip(a["steps"], a["residual_max"]) if res > 1e-6]
    g = raw["game"]
    summary = {"digits_parameters": n_params, "digits_steps": a["steps"],
               "digits_spectral_radius": a["spectral_radius"], "digits_margin": margins,
               "digits_contracting_checkpoints": contracting}
    return SectionOutput(
        summary=summary, results={"digits_along_training": result.to_json()},
        headline=f"The digits GAN ({n_params} parameters) is locally contracting at "
                 f"{contracting} of {len(margins)} checkpoints (margin 1 − ρ from "
                 f"{_g(min(margins))} to {_g(max(margins))}).",
        verdicts=[f"Alternating GDA (η = {_g(ctx.settings.digits_eta)}) on the digits MLP GAN: "
                  "a negative margin is an eigenvalue of the step outside the unit circle, a "
                  "direction in which training moves away from where it is."],
        commands=[_command(["spectrum", str(path), "--json", "--out", str(folder)])],
        figures=[{"file": _relative(ctx.out_dir, "digits/along_training.png"),
                  "caption": f"The digits GAN (MLP {g['hidden']} wide, {g['depth']} hidden "
                             f"layer{'s' if g['depth'] > 1 else ''}, {g['n_data']} images): the "
                             "stability margin 1 − ρ of the training step every "
                             f"{raw['point']['every']} steps, and the path-angle (Berard et al. "
                             "2020) between consecutive checkpoints."}],
        tables=[{"title": "The digits GAN along training (ARPACK, largest modulus, warm starts)",
                 "header": ["step", "ρ", "margin 1 − ρ", "|F|", "matvecs", "seconds",
                            "max residual"],
                 "rows": rows}],
        notes=["Full-batch training (the mean field), every spectrum the k largest-modulus "
               f"eigenvalues (k = {raw['spectrum']['k']}) of the step's Jacobian by ARPACK on "
               "Jacobian–vector products, each solve warm-started from the previous leading "
               "eigenvector."],
        warnings=warnings)


def _stability_closed_forms(ctx: SectionContext) -> SectionOutput:
    """The bilinear game and the Dirac-GAN with R1 under each optimiser, beside the closed forms."""
    from ..io import atomic_write_text, write_json

    st = ctx.settings
    rows = step_spectrum_study.closed_form_comparison(st.eta, st.sigma, st.gamma, st.beta)
    commands, table_rows, warnings = [], [], []
    for i, row in enumerate(rows):
        path = ctx.out_dir / f"case{i}.toml"
        atomic_write_text(path, dumps_toml(row["config"]))
        commands.append(_command(["spectrum", str(path), "--json"]))
        found = row["stable_eta_range"]
        closed = row["stable_eta_max_closed"]
        if closed is None and "heavy ball" not in row["label"]:
            closed_text = "none stable"
        else:
            closed_text = "—" if closed is None else _g(closed)
        gap = abs(row["spectral_radius"] - row["spectral_radius_closed"])
        if gap > 1e-9:
            warnings.append(f"{row['label']}: the spectrum's radius differs from the closed form "
                            f"by {gap:.2g}")
        table_rows.append([row["label"], f"{row['spectral_radius']:.10f}",
                           f"{row['spectral_radius_closed']:.10f}",
                           "yes" if row["stable"] else "no",
                           "none" if found is None else f"{found[1]:.6g}", closed_text])
    write_json(ctx.out_dir / "stability.json", rows)
    best = next(r for r in rows if "optimistic" in r["label"])
    dirac = next(r for r in rows if "Dirac" in r["label"] and "simultaneous" in r["label"])
    result = step_spectrum_study.run(parse_config(step_spectrum_study.StepSpectrumConfig,
                                                  dirac["config"]))
    step_spectrum_study.write_outputs(result, ctx.out_dir)
    figures = [{"file": _relative(ctx.out_dir, "spectrum.png"),
                "caption": f"{dirac['label']}, η = {st.eta:g}: the step's eigenvalues inside the "
                           "unit circle."},
               {"file": _relative(ctx.out_dir, "radius_eta.png"),
                "caption": "Its spectral radius against η; stable (shaded) up to γ/a² = "
                           f"{_g(dirac['stable_eta_max_closed'])}."}]
    n_agree = sum(abs(r["spectral_radius"] - r["spectral_radius_closed"]) <= 1e-9 for r in rows)
    summary = {"cases": len(rows), "radius_matches_closed_form": n_agree,
               "optimistic_stable_eta_max": None if best["stable_eta_range"] is None
               else best["stable_eta_range"][1]}
    return SectionOutput(
        summary=summary, results={"stability": rows},
        headline=f"{n_agree} of {len(rows)} spectral radii equal their closed forms "
                 f"(η = {st.eta:g}, σ = {st.sigma:g}, γ = {st.gamma:g}).",
        verdicts=[f"Optimistic GDA on the bilinear game is stable for ησ < 1/√3: the scan finds "
                  f"η < {_g(summary['optimistic_stable_eta_max'])} at σ = {st.sigma:g}."],
        commands=commands,
        figures=figures,
        tables=[{"title": "Spectral radius of the training step and the largest stable η",
                 "header": ["case", "ρ (spectrum)", "ρ (closed form)", "stable", "η max (scan)",
                            "η max (closed form)"],
                 "rows": table_rows}],
        notes=["Alternating GDA on the bilinear game is neutral (|λ| = 1): not stable, no "
               "convergence. Heavy ball has no simple closed stable bound; its radius is the "
               "largest root of (λ − 1)²(λ − β)² + η²σ²λ² (λ³ when alternating)."],
        warnings=warnings)


# --------------------------------------------------------------------------- svag


def _run_svag(ctx: SectionContext) -> SectionOutput:
    """SVAG-l chains of a network game and the scaling rules, as ``parts`` asks."""
    parts = ctx.settings.parts
    return _merge_parts(([_svag_chains(ctx)] if "svag" in parts else [])
                        + ([_scaling_rules(ctx)] if "scaling" in parts else []))


def _scaling_rules(ctx: SectionContext) -> SectionOutput:
    """``gandyn scaling-rule``: does (κη, κB) follow the curves of (η, B) in t = kη?"""
    from ..io import atomic_write_text
    from ..studies import scaling_rule as scaling_study

    folder = ctx.out_dir / "scaling"
    folder.mkdir(parents=True, exist_ok=True)
    if ctx.settings.scaling_config is not None:
        path = Path(ctx.settings.scaling_config)
        text = path.read_text(encoding="utf-8")
    else:
        text = dumps_toml(scaling_study_config(ctx.seed, ctx.quick))
        path = atomic_write_text(folder / "config.toml", text)
    argv = ["scaling-rule", str(path)] + ([] if ctx.progress else ["--no-progress"])
    argv = _with_output(argv, folder) + list(ctx.executor_argv)
    config = read_config(scaling_study.ScalingRuleConfig, path)
    with _progress(ctx) as progress:
        study = scaling_study.run(config, executor=ctx.executor, progress=progress)
    scaling_study.write_outputs(study, folder)
    result = study.to_json()
    rows, verdicts, holds = [], [], {}
    for r in result["results"]:
        broken = [k for k in r["per_kappa"] if not k["holds"]]
        holds[r["optimizer"]] = [k["kappa"] for k in r["per_kappa"] if k["holds"]]
        for k in r["per_kappa"]:
            nsr = k["nsr_final"]
            rows.append([r["optimizer"], r["rule"], f"{k['kappa']:g}",
                         "holds" if k["holds"] else f"breaks at s = {k['first_break']:g}",
                         _g(nsr["theta"]), _g(nsr["omega"])])
        name = f"{r['optimizer']} ({r['rule']} rule)"
        if not broken:
            verdicts.append(f"{name}: the curves of every κ follow those of κ = 1 within their "
                            "95% intervals over seeds.")
        else:
            kept = ", ".join(format(k, "g") for k in holds[r["optimizer"]]) or "none"
            lost = ", ".join(format(k["kappa"], "g") for k in broken)
            when = ", ".join(format(k["first_break"], "g") for k in broken)
            verdicts.append(f"{name}: holds at κ = {kept}; breaks at κ = {lost} (first outside "
                            f"the intervals at step s = {when} of the κ = 1 run).")
    n_seeds = len(config.scaling.seeds)
    headline = "Scaling rules: " + "; ".join(
        f"{opt} holds at {len(ks)} of {len(result['kappas'])} κ" for opt, ks in holds.items())
    return SectionOutput(
        summary={"scaling_game": result["game"], "scaling_kappas": result["kappas"],
                 "scaling_holds": holds},
        results={"scaling-rule": result}, headline=headline, commands=[_command(argv)],
        config_text=text,
        figures=[{"file": f"{ctx.out_dir.name}/scaling/scaling_rule.png",
                  "caption": "Training curves for each κ against the κ = 1 run's steps "
                             "s = kκ (SGD with (κη, κB), Adam with the square-root rule; the "
                             "same time t for every κ), 95% bands over "
                             f"{n_seeds} seeds, and each player's gradient noise-to-signal "
                             "ratio along training (what predicts where linear scaling "
                             "breaks)."}],
        tables=[{"title": "Scaling rules against κ = 1",
                 "header": ["optimizer", "rule", "κ", "against κ = 1", "final NSR θ",
                            "final NSR ω"], "rows": rows}],
        verdicts=verdicts, seeds={"scaling_seeds": list(config.scaling.seeds)})


def _svag_chains(ctx: SectionContext) -> SectionOutput:
    """SVAG-l chains of a network game: curves per l, convergence in l and the l = 1 gap."""
    path, text = _config_file(ctx, lambda: svag_study_config(ctx.seed, ctx.quick))
    argv = ["svag", str(path)]
    if not ctx.progress:
        argv.append("--no-progress")
    argv = _with_output(argv, ctx.out_dir) + list(ctx.executor_argv)
    config = read_config(svag_study.SVAGConfig, path)
    with _progress(ctx) as progress:
        study = svag_study.run(config, executor=ctx.executor, progress=progress)
    svag_study.write_outputs(study, ctx.out_dir)
    result = study.to_json()
    conv = result.get("convergence")
    summary = {"game": result["game"], "scheme": result["scheme"],
               "covariance": result["covariance"], "drift": result["drift"],
               "method": result["method"], "ls": result["ls"],
               "order_in_l": result["order_in_l"], "order_in_l_ci": result.get("order_in_l_ci"),
               "n_diverged": result.get("n_diverged")}
    figures = []
    if conv is not None:
        gap = conv["l1_gap"]
        summary.update(seeds=result["curves"]["seeds"], converged=conv["converged"],
                       last_pair=conv["last_pair"], l1_gap=gap,
                       gap_resolved=None if gap is None else
                       [q for q, v in gap.items() if not v["within_ci"]])
        n_seeds = len(result["curves"]["seeds"])
        figures += [
            {"file": _relative(ctx.out_dir, "svag_curves.png"),
             "caption": "Every recorded quantity (the losses on a fixed evaluation subset, the "
                        "image scores for the DCGAN, |θ| and |ω|) against the effective time "
                        f"t = kη/l, one colour per l, with 95% bands over {n_seeds} seeds "
                        "(Student t). l = 1 is the training run; large l approaches its SDE."},
            {"file": _relative(ctx.out_dir, "svag_distances.png"),
             "caption": "Distance between the mean curves of successive l (largest over the "
                        "recorded times) beside the largest 95% half-width of that difference "
                        "(red); filled markers differ beyond their interval at some time. The "
                        "grey point is l = 1 against the largest l."}]
    figures.append({"file": _relative(ctx.out_dir, "svag.png"),
                    "caption": f"|E f(chain_l) − E f(limit)| at T = {result['horizon']:g} "
                               f"against 1/l (f = {result['test_function']}, limit: "
                               f"{result['limit_kind']}), with a slope-1 reference line."})
    warnings = []
    unit = "seeds" if conv is not None else "runs"
    for l, n in zip(result["ls"], result.get("n_diverged") or []):
        if n:
            warnings.append(f"l = {l}: {n} {unit} diverged and are excluded from the means")
    if conv is not None:
        a, b = conv["last_pair"]
        headline = (f"l = {a} vs {b}: {'converged' if conv['converged'] else 'not converged'} "
                    "in l")
        if summary["gap_resolved"] is not None:
            headline += (f"; l = 1 vs {b}: beyond the 95% intervals in "
                         f"{len(summary['gap_resolved'])} of {len(conv['l1_gap'])} quantities")
        seeds = {"seeds": result["curves"]["seeds"], "evaluation": result["seed"]}
    else:
        headline = f"order in 1/l {_g(result['order_in_l'])} (expected 1)"
        seeds = {"monte_carlo": result.get("seed")} if result["method"] != "exact" else None
    return SectionOutput(
        summary=summary, results={"svag": result}, headline=headline,
        commands=[_command(argv)], config_text=text, figures=figures,
        tables=([_svag_distance_table(conv)] if conv is not None else []) + [_svag_table(result)],
        notes=list(result["notes"]), warnings=warnings, verdicts=svag_verdicts(result),
        seeds=seeds)


def _distance_text(q: str, v: dict) -> str:
    """Both maxima over t; ``within_ci`` compares them time by time, so they may cross."""
    return (f"{q} (largest distance over t {_g(v['distance'])}, largest 95% half-width "
            f"{_g(v['ci_halfwidth'])})")


def svag_verdicts(result: dict) -> list:
    """In words, from an :class:`~gandyn.studies.svag.SVAGResult`'s JSON: did the curves
    converge in ``l``, and how large is the gap between ``l = 1`` and the largest ``l``?"""
    conv = result.get("convergence")
    if conv is None:
        order, ci = result["order_in_l"], result.get("order_in_l_ci")
        if order is None:
            return ["No order in 1/l could be fitted (an error is zero or not finite)."]
        if ci and None not in ci:
            inside = ci[0] <= 1 <= ci[1]
            return [f"Fitted order in 1/l {_g(order)}, 95% interval [{_g(ci[0])}, {_g(ci[1])}]: "
                    + ("consistent with" if inside else "the interval excludes")
                    + " the order 1 of the SVAG limit theorem."]
        return [f"Exact order in 1/l {_g(order)} against the theorem's 1 (the slope is 1 "
                "asymptotically; the smallest l pull a fit over all of them)."]
    a, b = conv["last_pair"]
    n = len(result["curves"]["seeds"])
    last = next(p["distances"] for p in conv["successive"] if p["ls"] == [a, b])
    apart = [q for q, v in last.items() if not v["within_ci"]]
    horizon = f"t = {result['horizon']:g}"
    if conv["converged"]:
        lines = [f"The curves of l = {a} and l = {b} agree within their 95% intervals over {n} "
                 f"seeds at every recorded time, for every quantity ({', '.join(last)}): "
                 f"converged in l, so at this resolution the SDE describes this training up "
                 f"to {horizon}."]
    else:
        lines = [f"The curves of l = {a} and l = {b} differ beyond their 95% intervals over {n} "
                 f"seeds in {', '.join(_distance_text(q, last[q]) for q in apart)}: not "
                 f"converged in l at this resolution, so these chains do not show "
                 f"the SDE describing this training up to {horizon}."]
    gap = conv.get("l1_gap")
    if gap is not None:
        resolved = [q for q, v in gap.items() if not v["within_ci"]]
        if result["drift"] == "alt-sde":
            who, meaning = ("The ALT-SDE chain at l = 1 (not the training run)",
                            "the chain's own discretisation error")
        elif result["scheme"] == "alt":
            who, meaning = ("The ALT training run (l = 1)",
                            "the size of Cao & Guo's alternation term (with the O(η) "
                            "discretisation of the step) on this network")
        else:
            who, meaning = ("The SML training run (l = 1)",
                            "the discretisation gap between the training run and its SDE "
                            "(SML has no alternation term)")
        if resolved:
            lines.append(f"{who} against l = {b}: {len(resolved)} of {len(gap)} quantities "
                         f"differ beyond their 95% intervals, "
                         f"{', '.join(_distance_text(q, gap[q]) for q in resolved)}: "
                         f"{meaning}.")
        else:
            largest = max(gap, key=lambda q: (gap[q]["distance"] or 0.0)
                          / (gap[q]["ci_halfwidth"] or float("inf")))
            lines.append(f"{who} against l = {b}: every quantity stays within its 95% interval "
                         f"(closest to its bound: {_distance_text(largest, gap[largest])}), so "
                         f"{meaning.split(' (')[0]} is not resolved with {n} seeds.")
    return lines


def _svag_distance_table(conv: dict) -> dict:
    rows = [[f"{p['ls'][0]} → {p['ls'][1]}", q, v["distance"], v["ci_halfwidth"],
             v["within_ci"]] for p in conv["successive"] for q, v in p["distances"].items()]
    if conv.get("l1_gap") is not None:
        rows += [[f"1 vs {conv['last_pair'][1]} (l = 1 against the largest l)", q,
                  v["distance"], v["ci_halfwidth"], v["within_ci"]]
                 for q, v in conv["l1_gap"].items()]
    return {"title": "Distance between the curves of successive l (largest over t)",
            "header": ["pair of l", "quantity", "distance", "95% half-width",
                       "within the interval at every t"],
            "rows": rows}


def _svag_table(result: dict) -> dict:
    cis = result.get("error_final_ci") or [[None, None]] * len(result["ls"])
    ses = result.get("chain_final_se") or [None] * len(result["ls"])
    diverged = result.get("n_diverged") or [None] * len(result["ls"])
    rows = [[l, n, c, se, e, ci[0], ci[1], d]
            for l, n, c, se, e, ci, d in zip(result["ls"], result["n_steps"],
                                             result["chain_final"], ses, result["error_final"],
                                             cis, diverged)]
    return {"title": f"E f at T = {result['horizon']:g} per l, f = {result['test_function']} "
                     f"(limit {_g(result['limit_final'])}, {result['limit_kind']})",
            "header": ["l", "chain steps", "E f at T", "standard error", "error vs limit",
                       "95% low", "95% high", "diverged"],
            "rows": rows}


SECTIONS: dict[str, SectionSpec] = {spec.name: spec for spec in (
    SectionSpec("weak_order", "Weak error of the SDE approximations",
                "How far stochastic gradient descent–ascent is from its SDE approximation, "
                "measured over a grid of learning rates, and the fitted weak order (Cao & Guo, "
                "Theorems 1–2: order 2 for ALT vs ALT-SDE, order 1 for SML vs SML-SDE).",
                _run_weak_order),
    SectionSpec("invariant", "Long-run behaviour and the FDRs",
                "The stationary law of SGA on a regularised game, the conditions of Theorem 6 "
                "checked numerically, the rate of convergence, and both fluctuation–dissipation "
                "relations with the paper's, the discrete chain's and the exact right sides.",
                _run_invariant),
    SectionSpec("kernel", "Kernel-discriminator GDA",
                "Local convergence of GDA with a kernel discriminator (Becker et al.): Theorem 1's "
                "spectrum on the Corollary-1 counterexample, Figure 2's phase diagrams in both "
                "conventions, and Figure 3's simulated against linearised convergence.",
                _run_kernel),
    SectionSpec("train", "The FDR schedule in GAN training",
                "MLP GANs on the 8-Gaussian ring trained with constant-rate SGD and with the FDR "
                "learning-rate schedule (and Adam), several seeds each, scored by modes covered, "
                "sample quality, reverse KL and MMD.",
                _run_train),
    SectionSpec("stability", "Stability of the training step",
                "The spectrum of one training step on the augmented state (parameters and "
                "optimiser state) for GDA in both orders, extragradient, optimistic GDA, "
                "consensus and heavy ball on the bilinear game, and GDA on the Dirac-GAN with "
                "R1, each beside its closed form; and the stability margin of an MLP GAN on "
                "the digits along training, with the path-angle between its checkpoints "
                "(docs/stability.md).",
                _run_stability),
    SectionSpec("svag", "SDE at network scale",
                "Does the SDE describe a network's training? SVAG-l chains (two independent "
                "minibatches per step, noise amplified l times, step η/l; l = 1 is the "
                "training run, l → ∞ its SDE) of ALT on the DCGAN of the 8×8 digits, several "
                "seeds each: the losses, image scores and |θ|, |ω| against t = kη/l, the "
                "distance between the curves of successive l, and the gap between l = 1 and "
                "the largest l (docs/svag.md). Then the scaling rules: SGD with (κη, κB) and "
                "Adam under the square-root rule against κ = 1 on the ring MLP GAN, with each "
                "player's gradient noise-to-signal ratio.",
                _run_svag),
)}
