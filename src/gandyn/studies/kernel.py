"""The kernel-GDA studies (Becker et al.): spectrum, local simulation, Figure 2 and Figure 3.

``gandyn kernel spectrum|simulate|phase|convergence`` and the report's kernel
section run these. One target at the origin with mass ``p``, ``N`` generated
points of mass ``p̃`` each, RBF kernel of width ``σ`` unless said otherwise.
The numerics live in :mod:`gandyn.kernel`; this module holds the typed
configurations, the float64 scope of the simulations and the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Optional, Sequence, Union

import numpy as np
from pydantic import Field, model_validator

from ..io import new_figure, save_figure, write_csv, write_json
from .config import PositiveFloat, StrictModel
from .executor import Executor, Task, default_executor, split_runs, task_seed
from .result import StudyResult

__all__ = ["Order", "Convention", "CellClass", "CELL_CLASSES", "CELLS_PER_TASK", "cell_class",
           "KernelGame", "SpectrumConfig", "SimulateConfig", "GridRange",
           "PhaseConfig", "ConvergenceConfig", "KernelResult", "spectrum", "simulate", "phase",
           "convergence", "write_spectrum", "write_simulation", "write_phase",
           "write_convergence"]

#: Update order: eq. (5) as printed, or the discriminator first (Lemma 1, the authors' code).
Order = Literal["simultaneous", "d-first"]
#: Which modes Figure 2 counts: as Theorem 1 says, or as the authors' figure code does.
Convention = Literal["theorem", "paper-figure"]
DiscriminatorStart = Literal["zero", "equilibrium"]


class KernelGame(StrictModel):
    """One target region (Section II-E): widths, rates, masses and sizes."""

    sigma: PositiveFloat = 1.0
    lam: PositiveFloat = 0.1
    eta_d: PositiveFloat = 0.01
    eta_g: PositiveFloat = 0.01
    p: PositiveFloat = 1.0
    p_gen: PositiveFloat = 0.8
    n_gen: int = Field(1, ge=1, le=10**4)
    dim: int = Field(1, ge=1, le=10**4)
    order: Order = "simultaneous"

    @model_validator(mode="after")
    def _meaningful(self):
        self.params()  # ranges where Theorem 1's coefficients do not overflow
        return self

    def params(self, sigma: Optional[float] = None, lam: Optional[float] = None):
        from ..kernel.theory import KernelParams

        return KernelParams(self.sigma if sigma is None else sigma,
                            self.lam if lam is None else lam, self.eta_d, self.eta_g, self.p,
                            self.p_gen, self.n_gen, self.dim)


class SpectrumConfig(KernelGame):
    convention: Convention = "theorem"


class SimulateConfig(KernelGame):
    steps: int = Field(2000, ge=1, le=10**7)
    offset: float = Field(1e-3, gt=0, le=1e6, allow_inf_nan=False)
    mode: Literal["random", "symmetric", "antisymmetric"] = "random"
    kernel: Literal["rbf", "rational_quadratic", "inverse_multiquadric"] = "rbf"
    memory: Optional[Union[Annotated[int, Field(ge=1, le=10**7)], Literal["rounding"]]] = None
    seed: int = 0
    discriminator_start: DiscriminatorStart = "zero"

    @model_validator(mode="after")
    def _antisymmetric_needs_two(self):
        if self.mode == "antisymmetric" and self.n_gen < 2:
            raise ValueError("mode antisymmetric needs n_gen >= 2")
        return self


class GridRange(StrictModel):
    """``count`` values from ``lo`` to ``hi`` (``np.linspace``)."""

    lo: PositiveFloat
    hi: PositiveFloat
    count: int = Field(ge=1, le=4000)

    @model_validator(mode="after")
    def _ordered(self):
        if self.hi < self.lo:
            raise ValueError(f"need lo <= hi, got {self.lo}:{self.hi}")
        if self.count > 1 and self.hi == self.lo:
            raise ValueError("need lo < hi when count > 1")
        return self

    @classmethod
    def parse(cls, text: str) -> dict:
        """``"LO:HI:COUNT"`` as the fields of a range (validated by the model)."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"expected LO:HI:COUNT, got {text!r}")
        try:
            return {"lo": float(parts[0]), "hi": float(parts[1]), "count": int(parts[2])}
        except ValueError:
            raise ValueError(f"expected LO:HI:COUNT with numbers, got {text!r}") from None

    def values(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.count)

    def text(self) -> str:
        return f"{self.lo!r}:{self.hi!r}:{self.count}"


#: What a simulated cell does: ``|ρ|²`` below ``1 − tol``, within ``tol`` of 1, or above (or the
#: run left the floats).
CellClass = Literal["converge", "oscillate", "diverge"]
CELL_CLASSES: tuple[str, ...] = ("converge", "oscillate", "diverge")

#: A simulated phase diagram is split into tasks of at most this many cells.
CELLS_PER_TASK = 256


class PhaseConfig(KernelGame):
    """Figure 2 over a ``(σ, λ)`` grid; with ``simulate``, every cell simulated as well.

    ``paths`` runs per cell from independent random offsets (default 1: the
    offsets of seed 0, for every cell; 4 with ``adaptive``). With
    ``adaptive``, a cell whose 95% interval of the simulated ``|ρ|²``
    straddles a class boundary (``1 ± boundary_tol``: converge, oscillate,
    diverge) gets as many paths again, round after round, up to
    ``max_paths``.
    """

    sigma_grid: GridRange = GridRange(lo=0.05, hi=2.0, count=400)
    lam_grid: GridRange = GridRange(lo=0.01, hi=1.0, count=400)
    convention: Convention = "theorem"
    quantity: Literal["joint", "generator"] = "joint"
    simulate: Optional[int] = Field(None, ge=1, le=10**6)
    discriminator_start: DiscriminatorStart = "equilibrium"
    paths: Optional[int] = Field(None, ge=1, le=10**4)
    adaptive: bool = False
    max_paths: int = Field(32, ge=2, le=10**4)
    boundary_tol: float = Field(0.01, gt=0, lt=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _corners(self):
        for s in (self.sigma_grid.lo, self.sigma_grid.hi):
            for l in (self.lam_grid.lo, self.lam_grid.hi):
                self.params(sigma=s, lam=l)  # every corner: no overflow
        return self

    @model_validator(mode="after")
    def _paths_need_simulate(self):
        if self.simulate is None and (self.paths is not None or self.adaptive):
            raise ValueError("paths and adaptive need simulate (steps of the simulated runs)")
        if self.adaptive and self.base_paths < 2:
            raise ValueError("adaptive needs paths >= 2 (an interval per cell)")
        if self.adaptive and self.max_paths < self.base_paths:
            raise ValueError(f"max_paths ({self.max_paths}) must be at least paths "
                             f"({self.base_paths})")
        return self

    @property
    def base_paths(self) -> int:
        """Paths per cell in the first pass."""
        return self.paths if self.paths is not None else (4 if self.adaptive else 1)


class ConvergenceConfig(StrictModel):
    eta_d: PositiveFloat = 0.1
    eta_g: PositiveFloat = 0.01
    lams: list[PositiveFloat] = Field(default_factory=lambda: [1.0, 0.1, 0.01], min_length=1)
    sigmas: list[PositiveFloat] = Field(default_factory=lambda: [0.1, 1.0, 10.0], min_length=1)
    steps: int = Field(1000, ge=1, le=10**7)
    offset: float = Field(0.1, gt=0, le=1e6, allow_inf_nan=False)
    discriminator_start: DiscriminatorStart = "zero"
    order: Order = "simultaneous"

    @model_validator(mode="after")
    def _meaningful(self):
        from ..kernel.theory import KernelParams

        for lam in self.lams:  # the figure's runs: one point of mass 1 at a target of mass 1
            for sigma in self.sigmas:
                KernelParams(sigma, lam, self.eta_d, self.eta_g, 1.0, 1.0, 1, 1)
        return self


@dataclass(repr=False)
class KernelResult(StudyResult):
    """One kernel study's result: ``part`` names it; ``data`` holds its JSON fields.

    The fields of each part are the README's contract for ``gandyn kernel
    PART --json``; ``arrays`` holds what the figures and data files need
    (curves and grids) and is not printed.
    """

    part: str
    data: dict
    arrays: dict = field(default_factory=dict)
    out: Optional[str] = None
    files: Optional[list] = None

    def to_json(self) -> dict:
        return {**self.data, "out": self.out, "files": self.files}

    def __getitem__(self, name):
        return self.data[name]

    def rows(self) -> list[dict]:
        if self.part == "spectrum":
            return list(self.data["eigenvalues"])
        if self.part == "convergence":
            return list(self.data["runs"])
        if self.part == "simulate":
            return [{"step": i, "distance": float(d)}
                    for i, d in enumerate(self.arrays["distance_curve"])]
        grid = self.arrays["grid"]
        return [{"sigma": float(s), "lam": float(l), "rho_max_sq": float(grid["rho2"][i, j]),
                 "dominant": str(grid["dominant"][i, j]), "complex": bool(grid["complex"][i, j])}
                for i, l in enumerate(grid["lam"]) for j, s in enumerate(grid["sigma"])]

    def summary(self) -> str:
        """Readable lines (``--json`` prints :meth:`to_json` instead)."""
        r = self.data
        if self.part == "simulate":
            return (f"simulated {r['steps']} steps ({r['order']}, {r['kernel']} kernel, "
                    f"discriminator from {r['discriminator_start']}): empirical rate "
                    f"{_g(r['rate_empirical'])}, generator rate {_g(r['rate_generator'])}, joint "
                    f"rate {_g(r['rate_joint'])} ({r['rates_from']}); final distance "
                    f"{_g(r['final_distance'])}" + (" (diverged)" if r["diverged"] else ""))
        if self.part == "phase":
            lines = [f"Figure 2 ({r['convention']} convention, {r['quantity']} rate, "
                     f"{r['order']} updates) on {r['grid']['sigma'][2]} x {r['grid']['lam'][2]} "
                     f"cells: min |rho|^2 {_g(r['min'])} at sigma = {_g(r['argmin']['sigma'])}, "
                     f"lambda = {_g(r['argmin']['lam'])}; median {_g(r['median'])}; unstable "
                     f"fraction {_g(r['unstable_fraction'])}; complex fraction "
                     f"{_g(r['complex_fraction'])}"]
            if "simulated" in r:
                sim = r["simulated"]
                lines.append(f"simulated ({sim['steps']} steps): median |difference| "
                             f"{_g(sim['median_abs_difference'])}, diverged fraction "
                             f"{_g(sim['diverged_fraction'])}")
            return "\n".join(lines)
        if self.part == "convergence":
            lines = [f"Figure 3: {r['steps']} steps, eta_d = {r['eta_d']:g}, eta_g = "
                     f"{r['eta_g']:g}, {r['order']} updates"]
            lines += [f"  lambda = {x['lam']:<6g} sigma = {x['sigma']:<6g} rate linearised "
                      f"{_g(x['rate_predicted'])}, simulated {_g(x['rate_empirical'])}, final "
                      f"distance {_g(x['final_distance'])}" + (" (diverged)" if x["diverged"]
                                                                else "")
                      for x in r["runs"]]
            return "\n".join(lines)
        lines = [f"{e['mode']:>3}: ρ = {e['re']:+.6f}{e['im']:+.6f}i  |ρ| = {e['abs']:.6f}  "
                 f"multiplicity {e['multiplicity'] if e['multiplicity'] is not None else '∞'}"
                 for e in r["eigenvalues"]]
        lines += [f"rho_joint {r['rho_joint']:.6f}, rho_generator {r['rho_generator']:.6f}, "
                  f"{'stable' if r['stable'] else 'UNSTABLE'}",
                  f"eta_d_max {r['eta_d_max']:.6g} (Corollary 1: {r['eta_d_max_corollary1']:.6g})"]
        lines += [f"note: {n}" for n in r["disagreements"]]
        return "\n".join(lines)

    __str__ = summary


def _g(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _x64():
    import jax

    return jax.enable_x64(True)


def spectrum(config: SpectrumConfig) -> KernelResult:
    """Theorem 1's eigenvalues, both rates, the verdict and the step-size bounds."""
    from ..kernel.study import spectrum_report

    return KernelResult("spectrum", spectrum_report(config.params(), order=config.order,
                                                    convention=config.convention))


def simulate(config: SimulateConfig) -> KernelResult:
    """The exact dynamics from a small offset (float64), with the empirical and predicted rates."""
    from ..kernel.kernels import kernel_by_name
    from ..kernel.study import simulate_local

    with _x64():
        data = simulate_local(config.params(), steps=config.steps, order=config.order,
                              offset=config.offset, mode=config.mode, seed=config.seed,
                              kernel=kernel_by_name(config.kernel), memory=config.memory,
                              warm=config.discriminator_start == "equilibrium")
    curve = np.asarray(data.pop("distance_curve"))
    return KernelResult("simulate", data, {"distance_curve": curve})


def phase(config: PhaseConfig, *, executor: Optional[Executor] = None) -> KernelResult:
    """Figure 2 over the ``(σ, λ)`` grid; with ``simulate``, every cell simulated too (float64).

    The simulated cells are tasks of at most :data:`CELLS_PER_TASK` cells per
    path, run by ``executor`` (see :func:`_simulate_cells`).
    """
    from ..kernel.study import phase_grid, summarise_phase

    executor = default_executor(executor)

    sigmas, lams = config.sigma_grid.values(), config.lam_grid.values()
    kwargs = dict(eta_d=config.eta_d, eta_g=config.eta_g, p=config.p, p_gen=config.p_gen,
                  n_gen=config.n_gen)
    grid = phase_grid(sigmas, lams, convention=config.convention, quantity=config.quantity,
                      order=config.order, **kwargs)
    data = {"convention": config.convention, "quantity": config.quantity, "order": config.order,
            "grid": {"sigma": [float(sigmas[0]), float(sigmas[-1]), int(sigmas.size)],
                     "lam": [float(lams[0]), float(lams[-1]), int(lams.size)]},
            **summarise_phase(grid),
            "complex_fraction": float(np.mean(grid["complex"])),
            "dominant_fraction": {m: float(np.mean(grid["dominant"] == m)) for m in grid["modes"]}}
    arrays = {"grid": grid}
    if config.simulate:
        simulated, adaptive = _simulate_cells(config, executor)
        theory_gen = phase_grid(sigmas, lams, convention="theorem", quantity="generator",
                                order=config.order, **kwargs)
        diff = simulated["rho2"] - theory_gen["rho2"]
        data["simulated"] = {"steps": config.simulate,
                             "discriminator_start": simulated["discriminator_start"],
                             "max_abs_difference": float(np.nanmax(np.abs(diff))),
                             "median_abs_difference": float(np.nanmedian(np.abs(diff))),
                             "diverged_fraction": simulated["diverged_fraction"]}
        if config.paths is not None or config.adaptive:
            data["simulated"]["paths"] = config.base_paths
        if adaptive is not None:
            data["simulated"]["adaptive"] = adaptive
        arrays.update(simulated=simulated, theory_generator=theory_gen)
    data["executor"] = executor.to_json()
    return KernelResult("phase", data, arrays)


def _path_seed(path: int) -> int:
    """The seed of the offsets of path ``path`` of every cell (path 0: seed 0, as one path)."""
    return 0 if path == 0 else task_seed(0, f"phase-path-{path}")


def _phase_cells(data: dict, path: int, cells: tuple, size: int) -> dict:
    """One task: path ``path`` of the cells ``cells`` (flat indices, λ-major) of the study ``data``.

    The cells are padded to ``size`` (copies of the first), so every task of
    a study has one shape and one compiled program; the padding is dropped.
    """
    from ..kernel.study import simulated_cell_rates

    config = PhaseConfig.model_validate(data)
    sigmas, lams = config.sigma_grid.values(), config.lam_grid.values()
    idx = np.asarray(cells, dtype=int)
    padded = np.concatenate([idx, np.full(size - idx.size, idx[0])])
    i, j = np.divmod(padded, sigmas.size)
    with _x64():
        rho2, diverged = simulated_cell_rates(
            sigmas[j], lams[i], eta_d=config.eta_d, eta_g=config.eta_g, p=config.p,
            p_gen=config.p_gen, n_gen=config.n_gen, dim=config.dim, steps=config.simulate,
            order=config.order, seed=_path_seed(path),
            warm=config.discriminator_start == "equilibrium")
    return {"rho2": rho2[: idx.size], "diverged": diverged[: idx.size]}


def cell_class(rho2: Sequence[float], diverged: Sequence[bool], tol: float) -> Optional[str]:
    """The class of a cell from its paths, or ``None`` when its interval straddles a boundary.

    ``diverge`` when every path left the floats; ``None`` when only some did,
    or when fewer than two paths have a finite rate. Otherwise the 95%
    t interval of the mean ``|ρ|²`` over the paths: ``converge`` when it
    lies below ``1 − tol``, ``oscillate`` within ``[1 − tol, 1 + tol]``,
    ``diverge`` above ``1 + tol``; ``None`` when it crosses one of them.
    """
    from scipy.stats import t as student_t

    gone = np.asarray(diverged, dtype=bool)
    if gone.all():
        return "diverge"
    if gone.any():
        return None
    values = np.asarray(rho2, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return None
    half = (float(student_t.ppf(0.975, values.size - 1)) * values.std(ddof=1)
            / np.sqrt(values.size))
    lo, hi = values.mean() - half, values.mean() + half
    for name, (a, b) in zip(CELL_CLASSES, ((-np.inf, 1 - tol), (1 - tol, 1 + tol),
                                           (1 + tol, np.inf))):
        if a <= lo and hi <= b:
            return name
    return None


def _simulate_cells(config: PhaseConfig, executor: Executor) -> tuple[dict, Optional[dict]]:
    """Every cell's simulated ``|ρ|²``: ``paths`` paths each, then adaptive rounds if asked.

    Tasks are (path, block of cells); their identities (and so their
    offsets) do not depend on the executor, and each cell's paths are kept
    by path index, so every layout gives the same numbers. A cell's ``rho2``
    is the mean over its paths with a finite rate (one path: that path's).
    """
    sigmas, lams = config.sigma_grid.values(), config.lam_grid.values()
    n_cells = sigmas.size * lams.size
    data = config.model_dump(mode="json")
    blocks = split_runs(n_cells, CELLS_PER_TASK)
    size = max(len(b) for b in blocks)
    rho2 = [dict() for _ in range(n_cells)]  # per cell: path -> rate²
    gone = [dict() for _ in range(n_cells)]

    def run(requests: list[tuple[int, list[int]]]) -> None:
        """Simulate ``(path, cells)`` requests in tasks of at most ``size`` cells."""
        tasks = []
        for path, cells in requests:
            for block in split_runs(len(cells), size):
                part = tuple(int(c) for c in cells[block.start:block.stop])
                tasks.append(Task(f"path{path}-cells{part[0]}-{part[-1]}-n{len(part)}",
                                  _phase_cells, (data, path, part, size),
                                  f"phase path {path}"))
        for task, out in zip(tasks, executor.map(tasks)):
            path, part = task.args[1], task.args[2]
            for c, r, d in zip(part, out["rho2"], out["diverged"]):
                rho2[c][path], gone[c][path] = float(r), bool(d)

    def by_path(values: dict) -> list:
        return [values[k] for k in sorted(values)]

    def classify(c: int) -> Optional[str]:
        return cell_class(by_path(rho2[c]), by_path(gone[c]), config.boundary_tol)

    run([(path, list(range(n_cells))) for path in range(config.base_paths)])
    adaptive = None
    if config.adaptive:
        classes = [classify(c) for c in range(n_cells)]
        open_cells = [c for c in range(n_cells) if classes[c] is None]
        rounds, refined = 0, set()
        while True:
            by_count: dict[int, list[int]] = {}  # cells to refine, by their paths so far
            for c in open_cells:
                if len(rho2[c]) < config.max_paths:
                    by_count.setdefault(len(rho2[c]), []).append(c)
            if not by_count:
                break
            rounds += 1
            requests = []
            for n, cells in sorted(by_count.items()):  # n more paths each, up to max_paths
                refined.update(cells)
                requests += [(path, cells) for path in range(n, min(2 * n, config.max_paths))]
            run(requests)
            for c in open_cells:
                classes[c] = classify(c)
            open_cells = [c for c in open_cells if classes[c] is None]
        names = [k or "undecided" for k in classes]
        total = sum(len(r) for r in rho2)
        adaptive = {"boundaries": [1 - config.boundary_tol, 1 + config.boundary_tol],
                    "base_paths": config.base_paths, "max_paths": config.max_paths,
                    "rounds": rounds, "refined_cells": len(refined),
                    "extra_paths": int(total - config.base_paths * n_cells),
                    "total_paths": int(total), "undecided_cells": names.count("undecided"),
                    "class_fraction": {k: names.count(k) / n_cells
                                       for k in CELL_CLASSES + ("undecided",)}}
    shape = (lams.size, sigmas.size)
    with np.errstate(invalid="ignore"):
        mean = np.array([np.mean([v for v in by_path(r) if np.isfinite(v)] or [np.nan])
                         for r in rho2])
    every_path = [d for g in gone for d in g.values()]
    simulated = {"sigma": sigmas, "lam": lams, "rho2": mean.reshape(shape),
                 "steps": config.simulate, "order": config.order,
                 "discriminator_start": config.discriminator_start,
                 "diverged": np.array([all(g.values()) for g in gone]).reshape(shape),
                 "diverged_fraction": float(np.mean(every_path)),
                 "paths": np.array([len(r) for r in rho2]).reshape(shape)}
    if adaptive is not None:
        simulated["class"] = np.array(names).reshape(shape)
    return simulated, adaptive


def convergence(config: ConvergenceConfig, *, executor: Optional[Executor] = None) -> KernelResult:
    """Figure 3: simulated against linearised convergence, one task per ``λ`` (float64)."""
    executor = default_executor(executor)
    data = config.model_dump(mode="json")
    tasks = [Task(f"lam-{i}", _convergence_lam, (data, i), f"lambda={lam:g}")
             for i, lam in enumerate(config.lams)]
    runs = [r for part in executor.map(tasks) for r in part]
    data = {"order": config.order, "eta_d": config.eta_d, "eta_g": config.eta_g,
            "steps": config.steps, "discriminator_start": config.discriminator_start,
            "runs": [{k: r[k] for k in ("lam", "sigma", "rate_predicted", "rate_empirical",
                                        "diverged")} | {"final_distance": float(r["distance"][-1])}
                     for r in runs],
            "executor": executor.to_json()}
    return KernelResult("convergence", data, {"runs": runs})


def _convergence_lam(data: dict, index: int) -> list:
    """One task: the runs of every ``σ`` at the ``index``-th ``λ`` of the study ``data``."""
    from ..kernel.study import convergence_study

    config = ConvergenceConfig.model_validate(data)
    with _x64():
        return convergence_study(eta_d=config.eta_d, eta_g=config.eta_g,
                                 lams=[config.lams[index]], sigmas=config.sigmas,
                                 steps=config.steps, offset=config.offset, order=config.order,
                                 warm=config.discriminator_start == "equilibrium")


# --------------------------------------------------------------------------- outputs


def _finish(result: KernelResult, out: Path, files: list, name: str, **extra) -> list[str]:
    """Record ``files`` and ``out/name.json`` on ``result``, then write that JSON.

    The JSON is :meth:`KernelResult.to_json` plus ``extra`` (curves and grids
    for the data files), so it lists itself among the files.
    """
    path = out / f"{name}.json"
    result.out, result.files = str(out), [str(f) for f in files] + [str(path)]
    write_json(path, {**result.to_json(), **extra})
    return result.files


def write_spectrum(result: KernelResult, out: Path) -> list[str]:
    from ..analysis.game_spectrum import plot_spectrum

    out = Path(out)
    values = [complex(e["re"], e["im"]) for e in result["eigenvalues"]]
    files = save_figure(plot_spectrum(values, "Theorem 1 spectrum", symbol=r"\rho"), out, "spectrum")
    return _finish(result, out, files, "spectrum")


def write_simulation(result: KernelResult, out: Path) -> list[str]:
    out = Path(out)
    curve = result.arrays["distance_curve"]
    files = [write_csv(out / "distance.csv", ["step", "distance"], enumerate(curve.tolist()))]
    fig = new_figure(figsize=(5, 3.5))
    ax = fig.subplots()
    t = np.arange(curve.size)
    ax.semilogy(t, curve, label="simulated")
    ax.semilogy(t, curve[0] * result["rate_generator"] ** t, ":", label="rho_generator^t")
    ax.set_xlabel("step")
    ax.set_ylabel("distance to the target")
    ax.legend()
    files += save_figure(fig, out, "distance")
    return _finish(result, out, files, "simulate")


def write_phase(result: KernelResult, out: Path) -> list[str]:
    from ..kernel.plots import plot_phase, plot_phase_comparison

    out = Path(out)
    grid = result.arrays["grid"]
    rows = ([r["sigma"], r["lam"], r["rho_max_sq"], r["dominant"], r["complex"]]
            for r in result.rows())
    files = [write_csv(out / "phase.csv", ["sigma", "lam", "rho_max_sq", "dominant", "complex"],
                       rows)]
    files += save_figure(plot_phase(grid), out, f"phase_{result['convention']}_{result['quantity']}")
    if "simulated" in result.arrays:
        simulated = result.arrays["simulated"]
        extra = {}
        if "paths" in result["simulated"]:  # paths or adaptive asked for: what each cell got
            extra["paths"] = simulated["paths"]
        if "class" in simulated:
            extra["class"] = simulated["class"]
        files.append(write_json(out / "phase_simulated.json",
                                {"sigma": simulated["sigma"], "lam": simulated["lam"],
                                 "rate_sq": simulated["rho2"], **extra}))
        files += save_figure(plot_phase_comparison(result.arrays["theory_generator"], simulated),
                             out, "phase_simulated")
    return _finish(result, out, files, "phase", sigma=grid["sigma"], lam=grid["lam"],
                   rho_max_sq=grid["rho2"], ab_line_sigma=grid["ab_line_sigma"])


def write_convergence(result: KernelResult, out: Path) -> list[str]:
    from ..kernel.plots import plot_convergence

    out = Path(out)
    r = result.data
    start = (r"the equilibrium ($f^0 = f^*$)" if r["discriminator_start"] == "equilibrium"
             else r"$f^0 = 0$")
    files = save_figure(plot_convergence(result.arrays["runs"],
                                         rf"$\eta_d$ = {r['eta_d']:g}, $\eta_g$ = {r['eta_g']:g}, "
                                         f"{r['order']} updates, discriminator from {start}",
                                         discriminator_start=r["discriminator_start"]),
                        out, "convergence")
    return _finish(result, out, files, "convergence", curves=[
        {"lam": x["lam"], "sigma": x["sigma"], "simulated": x["distance"],
         "linearised": x["predicted"]} for x in result.arrays["runs"]])
