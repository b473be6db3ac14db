"""The invariant study: stationary law, Theorem 6's conditions and both FDRs (Cao & Guo §4).

``gandyn invariant`` and the report's second section run this study. Exact
for linear-quadratic games (Lyapunov equations, :mod:`gandyn.analysis.invariant`);
by long Monte Carlo runs otherwise, with intervals, R̂ and effective sample
sizes. Both fluctuation–dissipation relations come with the paper's, the
discrete chain's and the simulated model's right sides
(:mod:`gandyn.analysis.fdr`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import Field, model_validator

from ..analysis.fdr import FDR_FIELDS, FDR_GAPS, FDR_RELATIONS, FDR_TERMS, StationaryModel
from ..errors import ConfigError
from ..io import write_json
from ..sde.coefficients import Covariance
from ..sde.integrate import Integrator
from .config import GameConfig, Method, StrictModel, check_exact_needs_lq
from .executor import (Executor, Task, cached_setup, default_executor,
                       split_runs)
from .executor_config import ExecutorConfig
from .result import StudyResult

__all__ = ["StationaryConfig", "InvariantConfig", "InvariantResult", "run", "write_outputs",
           "QUANTILES", "CHAINS_PER_TASK"]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

#: The Monte Carlo chains are split into tasks of at most this many chains.
CHAINS_PER_TASK = 256


class StationaryConfig(StrictModel):
    scheme: StationaryModel
    eta: float = Field(gt=0, allow_inf_nan=False)
    batch_size: int = Field(ge=1, le=10**7)
    method: Method = "exact"
    covariance: Optional[Covariance] = None
    paths: int = Field(1000, ge=2, le=10**8)
    burn_in: int = Field(500, ge=0, le=10**8)
    steps: int = Field(2000, ge=2, le=10**8)
    n_batches: int = Field(20, ge=2, le=10**5)
    seed: int = 0
    substeps: int = Field(4, ge=1, le=10_000)
    integrator: Integrator = "heun"
    divergence_bound: float = Field(1e6, gt=0)
    # Family-wise level of the drift check behind `converged` (false alarms on stationary runs).
    drift_alpha: float = Field(0.05, gt=0, lt=1)

    @model_validator(mode="after")
    def _steps_cover_batches(self):
        if self.steps < self.n_batches:
            raise ValueError(f"steps ({self.steps}) must be at least n_batches ({self.n_batches})")
        return self


class InvariantConfig(StrictModel):
    game: GameConfig
    stationary: StationaryConfig
    # A weak-order study may share the file; `gandyn invariant` ignores it.
    study: Optional[dict] = None
    # Where the tasks run; never part of the numbers, so left out of dumps.
    executor: Optional[ExecutorConfig] = Field(None, exclude=True)

    @model_validator(mode="after")
    def _exact_needs_lq(self):
        check_exact_needs_lq(self.stationary.method, self.game)
        return self


@dataclass(repr=False)
class InvariantResult(StudyResult):
    """The stationary law, the FDRs and Theorem 6's checks (the ``invariant`` JSON contract).

    Fields that do not apply to the method (the exact covariance under Monte
    Carlo, the chains' diagnostics under the exact route) are ``None`` and
    left out of :meth:`to_json`.
    """

    game: str
    scheme: str
    eta: float
    batch_size: int
    method: str
    covariance: Optional[str]
    rate: Optional[float]
    stationary: bool
    fdr1: Optional[dict]
    fdr2: Optional[dict]
    conditions: dict
    conditions_shells: Any
    elapsed_s: float
    note: Optional[str] = None
    stationary_covariance: Optional[list] = None
    stationary_mean: Optional[list] = None
    stationary_mean_ci: Optional[list] = None
    mean_sq_norm: Optional[float] = None
    mean_sq_norm_ci: Optional[list] = None
    diagnostics: Optional[dict] = None
    paths: Optional[int] = None
    burn_in: Optional[int] = None
    steps: Optional[int] = None
    seed: Optional[int] = None
    marginals: Optional[dict] = None
    generated: Optional[dict] = None
    executor: dict = field(default_factory=lambda: {"kind": "local"})
    out: Optional[str] = None
    files: Optional[list] = None

    _ALWAYS = ("game", "scheme", "eta", "batch_size", "method", "covariance", "rate",
               "stationary", "fdr1", "fdr2", "conditions", "conditions_shells", "elapsed_s",
               "executor", "out", "files")

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name in self._ALWAYS or getattr(self, f.name) is not None}

    def rows(self) -> list[dict]:
        rows = []
        for relation in FDR_RELATIONS:
            block = getattr(self, relation) or {}
            for term in FDR_TERMS:
                if term in block:
                    ci = block.get(f"{term}_ci") or [None, None]
                    rows.append({"relation": relation, "term": term, "value": block[term],
                                 "ci_low": ci[0], "ci_high": ci[1]})
        return rows

    def summary(self) -> str:
        lines = [f"stationary study: {self.game}, {self.scheme} (eta = {self.eta}, "
                 f"B = {self.batch_size}, {self.method})"]
        if self.rate is not None:
            lines.append(f"  rate of convergence: {self.rate:.4g} per unit time")
        for name in FDR_RELATIONS:
            f = getattr(self, name)
            if f:
                lines.append(f"  {name.upper()}: lhs {f['lhs']:.5g}   rhs (paper) {f['rhs']:.5g}   "
                             f"rhs_discrete {f['rhs_discrete']:.5g}   rhs_model {f['rhs_model']:.5g}")
        for k, v in self.conditions.items():
            lines.append(f"  Theorem 6 {k}: {v['verdict']} ({v['detail']})")
        if self.diagnostics:
            d = self.diagnostics
            lines.append(f"  R-hat max {d['rhat_max']:.3f}, ESS min {d['ess_min']:.0f}, "
                         f"{d['n_diverged']} of {self.paths} chains diverged")
            verdict = "yes" if d["converged"] else "no (failed: " + ", ".join(
                d["failed_checks"]) + ")"
            lines.append(f"  converged: {verdict}" + (
                f"; drifting: {', '.join(d['drifting'])}" if d["drifting"] else ""))
        if self.generated:
            g = self.generated
            lines.append(f"  generated distribution: mean {np.round(g['mean'], 4).tolist()} "
                         f"(data {np.round(g['data_mean'], 4).tolist()}), std "
                         f"{np.round(g['std'], 4).tolist()} (data "
                         f"{np.round(g['data_std'], 4).tolist()})")
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)

    __str__ = summary


def _fdr_objects(values: dict, cis: Optional[dict] = None) -> dict:
    """``fdr1``/``fdr2`` blocks from named means (and 95% intervals) of the integrands and gaps."""
    out = {}
    for r in FDR_RELATIONS:
        block = {t: float(values[f"{r}_{t}"]) for t in FDR_TERMS}
        for t in FDR_TERMS[1:]:
            block[f"gap_{t}"] = float(values[f"{r}_gap_{t}"])
        if cis is not None:
            for t in FDR_TERMS:
                block[f"{t}_ci"] = [float(c) for c in cis[f"{r}_{t}"]]
            for t in FDR_TERMS[1:]:
                block[f"gap_{t}_ci"] = [float(c) for c in cis[f"{r}_gap_{t}"]]
        out[r] = block
    return out


def run(config: InvariantConfig, *, executor: Optional[Executor] = None) -> InvariantResult:
    """Run a validated stationary study (float64 throughout for the exact route).

    The Monte Carlo route splits its chains into tasks of at most
    :data:`CHAINS_PER_TASK` chains run by ``executor`` (in process by
    default); chain ``r`` has the key ``fold_in(key(seed), r)`` wherever it
    runs, and the blocks are combined in the chains' order.
    """
    import jax

    executor = default_executor(executor)
    if config.stationary.method == "exact":
        with jax.enable_x64(True):
            result = _run(config, executor)
    else:
        result = _run(config, executor)
    result.executor = executor.to_json()
    return result


def _run(config: InvariantConfig, executor: Executor) -> InvariantResult:
    import jax
    import jax.numpy as jnp

    from ..analysis.conditions import check_theorem6
    from ..analysis.fdr import FDRIntegrands, value_and_hessian
    from ..sde.coefficients import SDE_NAMES, make_sde

    st = config.stationary
    started = time.perf_counter()
    game = config.game.build()
    if not game.zero_sum:
        raise ConfigError("config error: game: the FDRs need a zero-sum game (loss = "
                          "\"vanilla\" or \"wgan\")")
    model = st.scheme
    is_sde = model in SDE_NAMES
    sde_name = model if is_sde else ("alt-sde" if model == "alt" else "sml-sde")
    sde = make_sde(game, sde_name, st.eta, st.batch_size, st.covariance if is_sde else None)
    integrand = FDRIntegrands(game, float(st.eta), st.batch_size, model, sde.covariance)
    fdr_names = FDR_FIELDS + FDR_GAPS
    conditions = check_theorem6(sde, center=game.u0, seed=st.seed)
    common = dict(game=config.game.kind, scheme=model, eta=st.eta, batch_size=st.batch_size,
                  method=st.method, covariance=sde.covariance if is_sde else None,
                  conditions={k: v for k, v in conditions.items() if k != "shells"},
                  conditions_shells=conditions["shells"])

    if st.method == "exact":
        from ..analysis.invariant import exact_stationary_sde, exact_stationary_sga

        spec = config.game.spec()
        if is_sde:
            S, rate = exact_stationary_sde(spec, model, sde.covariance, st.eta, st.batch_size)
        else:
            S, rate = exact_stationary_sga(spec, model, st.eta, st.batch_size)
        if S is None:
            return InvariantResult(**common, rate=rate, stationary=False, fdr1=None, fdr2=None,
                                   note="no stationary law: the linearised dynamics are unstable",
                                   elapsed_s=time.perf_counter() - started)
        # Every integrand is quadratic in u and the law is N(0, S): E f = f(0) + ½ Tr(∇²f(0) S).
        zero = jnp.zeros(game.dim)
        f0, hess = (np.asarray(a) for a in value_and_hessian(integrand, zero))
        values = f0 + 0.5 * np.einsum("kij,ji->k", hess, S)
        return InvariantResult(**common, rate=rate, stationary=True,
                               **_fdr_objects(dict(zip(fdr_names, values))),
                               stationary_covariance=S.tolist(),
                               stationary_mean=[0.0] * game.dim,
                               elapsed_s=time.perf_counter() - started)

    from ..analysis.invariant import combine_chain_blocks

    data = config.model_dump(mode="json")
    setup = _chains_setup(data)
    names, state = setup["names"], setup["state"]
    tasks = [Task(f"chains-{r.start}-{r.stop}", _run_chains, (data, r.start, r.stop),
                  f"chains {r.start}-{r.stop - 1}")
             for r in split_runs(st.paths, CHAINS_PER_TASK)]
    est = combine_chain_blocks(executor.map(tasks), steps=st.steps, burn_in=st.burn_in,
                               rate_indices=np.asarray(state), drift_alpha=st.drift_alpha)
    means = dict(zip(names, est.mean))
    cis = dict(zip(names, est.ci))
    return InvariantResult(
        **common, **_fdr_objects(means, cis),
        stationary=bool(est.n_chains >= 2),
        rate=None if est.rate is None else est.rate / st.eta,
        stationary_mean=est.mean[state].tolist(), stationary_mean_ci=est.ci[state].tolist(),
        mean_sq_norm=float(means["sq_norm"]), mean_sq_norm_ci=cis["sq_norm"].tolist(),
        diagnostics=_diagnostics(est, names),
        paths=st.paths, burn_in=st.burn_in, steps=st.steps, seed=st.seed,
        marginals=_marginals(est.final_states, game.d_theta),
        generated=(_generated_summary(config.game, est.final_states, game.d_theta)
                   if hasattr(config.game, "generator") else None),
        elapsed_s=time.perf_counter() - started)


@cached_setup
def _chains_setup(data: dict) -> dict:
    """The compiled chain simulator of a Monte Carlo study and its observables' names.

    Built from the configuration (a dict) once per process, by the driver and
    by every task (:func:`_run_chains`), so a task is plain data.
    """
    import jax

    from ..analysis.fdr import FDRIntegrands
    from ..analysis.invariant import chain_simulator
    from ..sde.coefficients import SDE_NAMES, make_sde
    from ..sde.integrate import make_sde_step
    from ..sga import SGAConfig, make_sga_step

    config = InvariantConfig.model_validate(data)
    st = config.stationary
    game = config.game.build()
    model = st.scheme
    is_sde = model in SDE_NAMES
    sde_name = model if is_sde else ("alt-sde" if model == "alt" else "sml-sde")
    sde = make_sde(game, sde_name, st.eta, st.batch_size, st.covariance if is_sde else None)
    if is_sde:
        step = make_sde_step(sde, st.substeps, integrator=st.integrator)
    else:
        step = make_sga_step(game, SGAConfig(model, st.eta, st.batch_size))
    names = FDR_FIELDS + FDR_GAPS + tuple(f"u[{i}]" for i in range(game.dim)) + ("sq_norm",)
    index = {name: i for i, name in enumerate(names)}
    observables = FDRIntegrands(game, float(st.eta), st.batch_size, model, sde.covariance,
                                with_state=True)
    simulator = chain_simulator(step, game.u0, observables, burn_in=st.burn_in, steps=st.steps,
                                n_batches=st.n_batches, bound=st.divergence_bound)
    return {"simulator": simulator, "key": jax.random.key(st.seed), "names": names,
            "state": [index[f"u[{i}]"] for i in range(game.dim)]}


def _run_chains(data: dict, start: int, stop: int):
    """One task: chains ``start, ..., stop − 1`` of the study ``data`` (a ChainBlock)."""
    from ..analysis.invariant import simulate_chain_block

    setup = _chains_setup(data)
    return simulate_chain_block(setup["simulator"], setup["key"], range(start, stop))


def _diagnostics(est, names) -> dict:
    """R̂, ESS and the verdict: converged needs every R̂ < 1.05 and no drift between halves."""
    checks = est.diagnostics()
    significant = checks["drift_significant"] or []
    return {"rhat_max": float(np.nanmax(est.rhat)), "ess_min": float(np.nanmin(est.ess)),
            "n_chains": est.n_chains, "n_diverged": est.n_diverged,
            "converged": checks["converged"], "failed_checks": checks["failed_checks"],
            "drifting": [n for n, flag in zip(names, significant) if flag],
            "drift_alpha": checks["drift_alpha"]}


def _marginals(states: np.ndarray, d_theta: int) -> dict:
    """Quantiles of every coordinate of the stationary law (one sample per chain)."""
    names = [f"theta[{i}]" for i in range(d_theta)] + [
        f"omega[{j}]" for j in range(states.shape[1] - d_theta)]
    if states.shape[1] > 50:  # large models: summarise the two players' norms instead
        names = ["|theta|", "|omega|"]
        states = np.stack([np.linalg.norm(states[:, :d_theta], axis=1),
                           np.linalg.norm(states[:, d_theta:], axis=1)], axis=1)
    q = np.quantile(states, QUANTILES, axis=0)
    return {"quantiles": list(QUANTILES),
            "coordinates": {n: q[:, i].tolist() for i, n in enumerate(names)}}


def _generated_summary(game_config, states: np.ndarray, d_theta: int, max_chains: int = 200) -> dict:
    """The generated distribution implied by the stationary generator parameters.

    Pools ``G_θ(z_i)`` over the latent set for up to ``max_chains`` stationary
    ``θ`` samples, and compares its moments with the real data's.
    """
    import jax

    generate, data = game_config.generator()
    thetas = states[:max_chains, :d_theta]
    samples = np.asarray(jax.vmap(generate)(thetas)).reshape(-1, np.asarray(data).shape[1])
    data = np.asarray(data)
    return {"n_samples": int(samples.shape[0]), "mean": samples.mean(0).tolist(),
            "std": samples.std(0).tolist(), "data_mean": data.mean(0).tolist(),
            "data_std": data.std(0).tolist(),
            "quantiles": np.quantile(samples, QUANTILES, axis=0).tolist()}


def write_outputs(result: InvariantResult, out_dir: Path) -> list[str]:
    """Write the whole result as ``invariant.json``; sets ``result.out`` and ``result.files``."""
    path = Path(out_dir) / "invariant.json"
    result.out, result.files = str(out_dir), [str(path)]
    write_json(path, result.to_json())
    return result.files


def plot_fdr_terms(result: dict):
    """Grouped bars: each FDR's left side against its three right sides.

    Every bar carries its value (3 significant figures); Monte Carlo results
    with 95% intervals (``<term>_ci``) get them as error bars. The dashed
    line is the left side, for comparison.
    """
    from ..io import new_figure

    labels = ["lhs", "rhs\n(paper)", "rhs\n(discrete)", "rhs\n(model)"]
    fig = new_figure(figsize=(9, 3.8), constrained_layout=True)
    axes = fig.subplots(1, 2)
    for ax, name in zip(axes, FDR_RELATIONS):
        block = result[name]
        values = np.array([block[k] for k in FDR_TERMS], dtype=float)
        cis = [block.get(f"{k}_ci") for k in FDR_TERMS]
        yerr = None
        if all(ci is not None and None not in ci for ci in cis):
            yerr = np.array([[v - ci[0] for v, ci in zip(values, cis)],
                             [ci[1] - v for v, ci in zip(values, cis)]]).clip(0, None)
        bars = ax.bar(np.arange(4), values, color=["C0", "C1", "C2", "C3"], yerr=yerr,
                      capsize=4 if yerr is not None else 0)
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in values], padding=3, fontsize=9)
        ax.set_xticks(np.arange(4), labels, fontsize=9)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_title(name.upper(), fontsize=11)
        ax.set_xlabel("term of the relation", fontsize=10)
        ax.set_ylabel("stationary expectation", fontsize=10)
        ax.axhline(values[0], color="C0", lw=0.8, ls="--")
        ax.axhline(0.0, color="0.3", lw=0.6)
        ax.margins(y=0.15)  # room for the value labels
    fig.suptitle(f"{result['game']}, {result['scheme']} (η = {result['eta']}, "
                 f"B = {result['batch_size']}, {result['method']})", fontsize=11)
    return fig
