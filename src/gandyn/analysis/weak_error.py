"""Weak error of the SDE approximations and its fitted order (Theorems 1–2).

For each learning rate ``η`` of a grid, with ``N = round(T / η)`` steps,

    e(t) = E f(u_t) − E f(U_{tη}),        t = 1 … N,

between a discrete scheme (ALT or SML) and an SDE; reported are the error at
the final time, ``error_final = |e(N)|``, and over the grid,
``error_max = max_t |e(t)|`` (the left side of eqs. 12–13). The order is the
least-squares slope of ``log error`` on ``log η``.

Two routes:

* exact (linear-quadratic games): both expectations from exact moment
  recursions (:mod:`gandyn.analysis.lq_exact`); no statistical or integrator
  error.
* Monte Carlo (any game): independent SGA runs and SDE paths, streaming
  statistics; every error carries a normal 95% interval from the two
  standard errors, and every slope a parametric-bootstrap interval (errors
  redrawn from their normal sampling laws, the slope refitted). The SDE is
  integrated with Euler–Maruyama and Richardson extrapolation on a shared
  Brownian path; the size of the extrapolation's correction is reported as
  ``integrator_error`` so a user can see it sits below the modelling error.

Honest caveats reported with the results: an SML–SDE comparison of order 1
says nothing about σ (the noiseless ODE is also order 1); a slope whose
errors' intervals contain zero is not resolved by the paths used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..games.base import Game
from ..io import jsonable
from ..games.linear_quadratic import LinearQuadraticSpec
from ..sde.coefficients import COVARIANCES, SDE_TARGET, default_covariance, make_sde
from ..sde.integrate import richardson_observables, simulate_sde
from ..runs import Z95, RunStatistics, record_capacity
from ..sga import SCHEMES, SGAConfig, simulate_sga
from .lq_exact import sde_moments, sga_moments
from .test_functions import QuadraticTestFunction

__all__ = ["Comparison", "ComparisonResult", "fit_order", "bootstrap_order",
           "exact_weak_error", "monte_carlo_weak_error", "monte_carlo_pieces",
           "monte_carlo_results", "run_piece", "StatisticsPiece", "default_substeps"]



@dataclass(frozen=True)
class Comparison:
    """A discrete scheme against an SDE with a named noise covariance."""

    scheme: str
    sde: str
    covariance: Optional[str] = None

    def resolved(self) -> "Comparison":
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.sde not in SDE_TARGET:
            raise ValueError(f"sde must be one of {tuple(SDE_TARGET)}, got {self.sde!r}")
        cov = self.covariance or default_covariance(self.sde)
        if cov not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {cov!r}")
        return Comparison(self.scheme, self.sde, cov)

    @property
    def expected_order(self) -> Optional[int]:
        """The order theory promises, or ``None`` for a mismatched pairing."""
        target, order = SDE_TARGET[self.sde]
        if target != self.scheme:
            return 1  # any of these SDEs is within O(η) of either scheme
        if self.sde == "sml2-sde" and self.covariance == "blockdiag":
            return 1  # the shared batch makes the noise correlated
        return order


@dataclass(repr=False)
class ComparisonResult:
    """Weak errors of one comparison over a grid of learning rates.

    Per ``η`` of ``etas``: ``error_final = |e(N)|``, ``signed_error_final =
    e(N)``, ``error_max = max_{t≥1} |e(t)|`` and ``errors_over_time`` the whole
    ``e(0), …, e(N)`` (``e(0) = 0`` exactly: both start at ``u0``); the
    fitted slopes ``order_final`` and ``order_max`` (NaN with fewer than two
    distinct ``η``). Monte Carlo results add 95% intervals, the integrator's
    Richardson correction and divergence counts. Every number is a plain
    Python ``float``; ``repr`` (and :meth:`summary`) is a short readable
    digest, :meth:`to_json` the full record.
    """

    scheme: str
    sde: str
    covariance: str
    method: str
    test_function: str
    etas: list
    error_final: list
    error_max: list
    order_final: float
    order_max: float
    expected_order: Optional[int]
    signed_error_final: list = field(default_factory=list)
    error_final_ci: Optional[list] = None
    order_final_ci: Optional[list] = None
    order_max_ci: Optional[list] = None
    integrator_error: Optional[list] = None
    n_diverged: Optional[dict] = None
    errors_over_time: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_json(self) -> dict:
        return jsonable(asdict(self))

    def summary(self) -> str:
        """One line: the comparison, ``η``, final errors (3 significant figures) and orders."""
        covariance = f" [{self.covariance}]" if self.covariance else ""
        parts = [f"{self.scheme} vs {self.sde}{covariance}", self.method,
                 f"f={self.test_function}",
                 "etas=[" + ", ".join(f"{float(x):.3g}" for x in self.etas) + "]",
                 "error_final=[" + ", ".join(_sig3(x) for x in self.error_final) + "]",
                 f"order_final={_sig3(self.order_final)}"
                 + (f" (95% [{_sig3(self.order_final_ci[0])}, {_sig3(self.order_final_ci[1])}])"
                    if self.order_final_ci else ""),
                 f"order_max={_sig3(self.order_max)}",
                 f"expected_order={self.expected_order}"]
        if self.notes:
            parts.append(f"{len(self.notes)} note{'s' if len(self.notes) > 1 else ''}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"ComparisonResult({self.summary()})"


def _sig3(x) -> str:
    """``x`` with 3 significant figures (``nan`` for NaN or ``None``)."""
    if x is None:
        return "nan"
    return f"{float(x):.3g}"


def _distinct(etas) -> int:
    return len(np.unique(np.asarray(etas, dtype=float)))


def fit_order(etas: Sequence[float], errors: Sequence[float]) -> float:
    """Least-squares slope of ``log |error|`` on ``log η``.

    NaN, without a warning, when an error is 0 or not finite or when there are
    fewer than two distinct ``η`` (no slope to fit).
    """
    e = np.abs(np.asarray(errors, dtype=float))
    if len(e) < 2 or _distinct(etas) < 2 or np.any(e <= 0) or not np.all(np.isfinite(e)):
        return float("nan")
    return float(np.polyfit(np.log(np.asarray(etas, dtype=float)), np.log(e), 1)[0])


def bootstrap_order(etas, errors, standard_errors, *, draws: int = 4000, seed: int = 0):
    """95% interval of the fitted order when each error is ``N(error, se²)``.

    The errors at different ``η`` come from independent runs, so they are
    redrawn independently; the slope is refitted on ``log|error|``. Returns
    ``[nan, nan]`` (no warning) with fewer than two distinct ``η`` or a
    non-finite error or standard error.
    """
    if (_distinct(etas) < 2 or not np.all(np.isfinite(np.asarray(errors, dtype=float)))
            or not np.all(np.isfinite(np.asarray(standard_errors, dtype=float)))):
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    errors = np.asarray(errors, dtype=float)
    ses = np.asarray(standard_errors, dtype=float)
    sims = errors[None, :] + ses[None, :] * rng.standard_normal((draws, len(errors)))
    x = np.log(np.asarray(etas, dtype=float))
    y = np.log(np.maximum(np.abs(sims), 1e-300))
    xc = x - x.mean()
    slopes = (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    lo, hi = np.percentile(slopes, [2.5, 97.5])
    return [float(lo), float(hi)]


def _n_steps(horizon: float, eta: float) -> int:
    n = int(round(horizon / eta))
    if n < 1:
        raise ValueError(f"horizon {horizon} is shorter than the learning rate {eta}")
    return n


class _AtLeast1d(eqx.Module):
    fn: Callable = eqx.field(static=True)

    def __call__(self, u):
        return jnp.atleast_1d(self.fn(u))


def exact_weak_error(
    spec: LinearQuadraticSpec,
    comparisons: Sequence[Comparison],
    etas: Sequence[float],
    horizon: float,
    batch_size: int,
    test_fn: QuadraticTestFunction,
) -> list[ComparisonResult]:
    """Exact weak errors on a linear-quadratic game (no Monte Carlo)."""
    results = []
    for comp in (c.resolved() for c in comparisons):
        finals, maxes, signed, curves = [], [], [], []
        for eta in etas:
            n = _n_steps(horizon, eta)
            m1, s1 = sga_moments(spec, comp.scheme, eta, n, batch_size)
            m2, s2 = sde_moments(spec, comp.sde, comp.covariance, eta, n, batch_size)
            e = np.array([test_fn.expectation(a, b) - test_fn.expectation(c, d)
                          for a, b, c, d in zip(m1, s1, m2, s2)])
            finals.append(float(abs(e[-1])))
            signed.append(float(e[-1]))
            maxes.append(float(np.max(np.abs(e[1:]))))
            curves.append(e.tolist())
        results.append(ComparisonResult(
            scheme=comp.scheme, sde=comp.sde, covariance=comp.covariance, method="exact",
            test_function=test_fn.name, etas=[float(x) for x in etas], error_final=finals,
            error_max=maxes, signed_error_final=signed, order_final=fit_order(etas, finals),
            order_max=fit_order(etas, maxes), expected_order=comp.expected_order,
            errors_over_time=curves,
            notes=_notes(comp) + _order_notes(comp, fit_order(etas, maxes)) + _grid_notes(etas)))
    return results


def default_substeps(eta: float) -> int:
    """Sub-steps per interval with ``h = η/substeps ≤ η²`` (at least 4)."""
    return max(4, math.ceil(1.0 / eta))


@dataclass(frozen=True)
class StatisticsPiece:
    """One independent batch of Monte Carlo runs of a weak-error study.

    ``id`` names the piece for good (checkpoints, executors); its random key
    derives from the study's seed and the piece's place in the study (scheme,
    comparison and η index), never from when it runs. ``compute(progress)``
    returns its :class:`~gandyn.runs.RunStatistics`; ``progress(done)`` is
    called with the number of runs finished. ``compute(progress, runs)``
    simulates only the runs in the range ``runs`` (the same runs, with the
    same keys, as in the whole batch), so a piece can be split into blocks
    whose statistics merge into the piece's. ``cost`` estimates the work of
    one run (roughly per-sample gradient evaluations), to schedule large
    blocks first.
    """

    id: str
    label: str
    compute: Callable[..., RunStatistics]
    cost: float = 1.0


def sga_piece_id(scheme: str, eta_index: int) -> str:
    return f"sga-{scheme}-eta{eta_index}"


def sde_piece_id(comparison_index: int, comp: "Comparison", eta_index: int) -> str:
    return f"sde-{comparison_index}-{comp.sde}-{comp.covariance}-eta{eta_index}"


def monte_carlo_pieces(
    game: Game,
    comparisons: Sequence[Comparison],
    etas: Sequence[float],
    horizon: float,
    batch_size: int,
    test_fn: Callable,
    *,
    paths: int,
    seed: int = 0,
    substeps: Optional[Callable[[float], int]] = None,
    richardson: bool = True,
    integrator: str = "heun",
    chunk_size: int = 8192,
    bound: float = 1e6,
) -> list[StatisticsPiece]:
    """The independent batches of runs of a Monte Carlo weak-error study, in a fixed order.

    One SGA piece per (scheme, η), shared by the comparisons of that scheme,
    and one SDE piece per (comparison, η).
    """
    if paths < 2:
        raise ValueError("paths must be at least 2")
    substeps = substeps or default_substeps
    key = jax.random.key(seed)
    f = _AtLeast1d(test_fn)
    # One record buffer for the whole η grid: every piece of a scheme (or SDE) shares one program.
    capacity = record_capacity(max(_n_steps(horizon, eta) for eta in etas))
    run_options = dict(chunk_size=chunk_size, bound=bound, capacity=capacity)
    n_samples = sum(t.size for t in game.terms)  # an SDE step is a pass over every sample
    pieces: dict[str, StatisticsPiece] = {}
    for ci, comp in enumerate(c.resolved() for c in comparisons):
        for ei, eta in enumerate(etas):
            n = _n_steps(horizon, eta)
            sga_id = sga_piece_id(comp.scheme, ei)
            if sga_id not in pieces:
                cfg = SGAConfig(comp.scheme, eta_theta=float(eta), batch_size=batch_size)
                scheme_key = jax.random.fold_in(key, 2 * ei + (comp.scheme == "sml"))
                pieces[sga_id] = StatisticsPiece(
                    sga_id, f"{comp.scheme.upper()} eta={eta:g}",
                    lambda progress, runs=None, cfg=cfg, n=n, k=scheme_key: simulate_sga(
                        game, cfg, n, len(_runs(runs, paths)), k, f, progress=progress,
                        first_run=_runs(runs, paths).start, **run_options),
                    cost=n * 2.0 * batch_size * (cfg.n_disc + 1))
            sde = make_sde(game, comp.sde, float(eta), batch_size, comp.covariance)
            sde_key = jax.random.fold_in(jax.random.fold_in(key, 10**6 + ci), ei)
            sde_id = sde_piece_id(ci, comp, ei)
            pieces[sde_id] = StatisticsPiece(
                sde_id, f"{comp.sde} eta={eta:g}",
                lambda progress, runs=None, sde=sde, n=n, k=sde_key, m=substeps(eta):
                    _sde_statistics(sde, n, len(_runs(runs, paths)), k, f, m, richardson,
                                    integrator, progress=progress,
                                    first_run=_runs(runs, paths).start, **run_options),
                cost=n * substeps(eta) * (3.0 if richardson else 1.0) * 2.0 * n_samples)
    return list(pieces.values())


def _runs(runs: Optional[range], paths: int) -> range:
    """The runs of a block (all ``paths`` runs when ``None``), checked."""
    if runs is None:
        return range(paths)
    if runs.step != 1 or runs.start < 0 or runs.stop > paths or len(runs) < 1:
        raise ValueError(f"runs must be a non-empty range within 0..{paths}, got {runs}")
    return runs


def monte_carlo_results(
    statistics: dict[str, RunStatistics],
    comparisons: Sequence[Comparison],
    etas: Sequence[float],
    *,
    seed: int = 0,
    test_function_name: str = "custom",
    richardson: bool = True,
) -> list[ComparisonResult]:
    """Weak errors, intervals and orders from the statistics of every piece (by piece id)."""
    results = []
    for ci, comp in enumerate(c.resolved() for c in comparisons):
        finals, maxes, signed, ses, integ, curves, diverged = [], [], [], [], [], [], {}
        for ei, eta in enumerate(etas):
            disc = statistics[sga_piece_id(comp.scheme, ei)]
            cont = statistics[sde_piece_id(ci, comp, ei)]
            e = disc.mean[:, 0] - cont.mean[:, 0]
            # Both sides start at u0, so E f(u_0) = E f(U_0) = f(u0) exactly; what the two
            # compiled observables give there can differ only by rounding. Subtract it.
            e = e - e[0]
            se = np.sqrt(disc.standard_error[:, 0] ** 2 + cont.standard_error[:, 0] ** 2)
            finals.append(float(abs(e[-1])))
            signed.append(float(e[-1]))
            ses.append(float(se[-1]))
            maxes.append(float(np.max(np.abs(e[1:]))))
            curves.append([float(x) for x in e])
            integ.append(float(abs(cont.mean[-1, 1])))
            diverged[f"{eta:g}"] = {"scheme": int(disc.n_diverged[-1]),
                                    "sde": int(cont.n_diverged[-1])}
        notes = _notes(comp)
        unresolved = [eta for eta, e, s in zip(etas, signed, ses) if abs(e) < Z95 * s]
        if unresolved:
            notes.append("the 95% interval of the final error contains 0 at eta = "
                         + ", ".join(f"{x:g}" for x in unresolved)
                         + ": more paths are needed to resolve the order there")
        if richardson and any(i > 0.2 * e for i, e in zip(integ, finals)):
            notes.append("the integrator's own error (Richardson correction) is not far below "
                         "the modelling error: raise substeps")
        n_div = sum(v["scheme"] + v["sde"] for v in diverged.values())
        if n_div:
            notes.append(f"{n_div} runs diverged and are excluded from the means (see n_diverged)")
        notes += _grid_notes(etas)
        results.append(ComparisonResult(
            scheme=comp.scheme, sde=comp.sde, covariance=comp.covariance, method="monte-carlo",
            test_function=test_function_name, etas=[float(x) for x in etas], error_final=finals,
            error_max=maxes, signed_error_final=signed,
            error_final_ci=[[float(max(abs(e) - Z95 * s, 0.0)), float(abs(e) + Z95 * s)]
                            for e, s in zip(signed, ses)],
            order_final=fit_order(etas, finals), order_max=fit_order(etas, maxes),
            order_final_ci=bootstrap_order(etas, signed, ses, seed=seed),
            expected_order=comp.expected_order,
            integrator_error=integ if richardson else None, n_diverged=diverged,
            errors_over_time=curves, notes=notes))
    return results


def monte_carlo_weak_error(
    game: Game,
    comparisons: Sequence[Comparison],
    etas: Sequence[float],
    horizon: float,
    batch_size: int,
    test_fn: Callable,
    *,
    paths: int,
    seed: int = 0,
    test_function_name: str = "custom",
    substeps: Optional[Callable[[float], int]] = None,
    richardson: bool = True,
    integrator: str = "heun",
    chunk_size: int = 8192,
    bound: float = 1e6,
    progress: Optional[Callable[[str, int, int], None]] = None,
    checkpoint=None,
) -> list[ComparisonResult]:
    """Monte Carlo weak errors on any game (see the module docstring).

    ``paths`` runs of each scheme and paths of each SDE per ``η``. SGA runs
    are shared between comparisons of the same scheme. ``progress(label,
    done, total)`` is called as chunks of runs finish. With a
    :class:`gandyn.checkpoint.CheckpointStore`, every finished batch of runs is
    saved, and saved ones are reused (same numbers: every piece has its own key).
    The pieces run in this process, in order; :mod:`gandyn.studies.weak_order`
    runs the same pieces through an executor.
    """
    pieces = monte_carlo_pieces(game, comparisons, etas, horizon, batch_size, test_fn,
                                paths=paths, seed=seed, substeps=substeps, richardson=richardson,
                                integrator=integrator, chunk_size=chunk_size, bound=bound)
    statistics = {p.id: run_piece(p, paths, progress, checkpoint) for p in pieces}
    return monte_carlo_results(statistics, comparisons, etas, seed=seed,
                               test_function_name=test_function_name, richardson=richardson)


def run_piece(piece: StatisticsPiece, paths: int, progress=None, checkpoint=None) -> RunStatistics:
    """The statistics of ``piece``: loaded from ``checkpoint`` if saved there, else computed."""
    report = None if progress is None else (lambda done: progress(piece.label, done, paths))
    if checkpoint is None:
        return piece.compute(report)
    return RunStatistics.from_arrays(checkpoint.arrays(
        piece.id, lambda: piece.compute(report).to_arrays()))


class _WithZeroCorrection(eqx.Module):
    """``[f(u), 0]``: an SDE solved without Richardson has no correction column."""

    f: Callable = eqx.field(static=True)

    def __call__(self, u):
        return jnp.concatenate([self.f(u), jnp.zeros(1)])


def _sde_statistics(sde, n, paths, key, f, substeps, richardson, integrator, **run_options):
    """SDE statistics with observables ``[estimate of E f, integrator correction]``.

    With Richardson extrapolation the estimate is ``2 f(fine) − f(coarse)`` and
    the correction ``f(fine) − f(coarse)`` estimates the fine solution's own
    integrator error (:func:`gandyn.sde.integrate.richardson_observables`);
    without it the correction column is 0.
    """
    obs = (richardson_observables(f, with_correction=True) if richardson
           else _WithZeroCorrection(f))
    return simulate_sde(sde, n, paths, key, obs, substeps=substeps, richardson=richardson,
                        integrator=integrator, raw_observables=True, **run_options)


def _order_notes(comp: Comparison, order_max: float) -> list:
    expected = comp.expected_order
    if expected is not None and math.isfinite(order_max) and order_max > expected + 0.5:
        return [f"the measured order exceeds the theorem's {expected}: the leading error term "
                "vanishes for this game and test function (e.g. a rotation-invariant game with "
                "f = sq-norm); try a coordinate or another test function"]
    return []


def _grid_notes(etas) -> list:
    if _distinct(etas) < 2:
        return ["a single learning rate: no order can be fitted (order_final and order_max "
                "are NaN); give at least two etas"]
    return []


def _notes(comp: Comparison) -> list:
    notes = []
    if comp.expected_order == 1 and comp.sde == "sml-sde":
        notes.append("weak order 1 holds for the noiseless ODE too: this slope does not "
                     "validate the diffusion coefficient")
    if comp.sde == "sml2-sde" and comp.covariance == "blockdiag":
        notes.append("SML shares one batch between the players; the block-diagonal covariance "
                     "drops their correlation and leaves an O(eta) error in second moments")
    return notes
