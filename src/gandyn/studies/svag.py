"""The SVAG study: does the SDE describe a game's training? (``gandyn svag``)

The SVAG-``l`` chain of a scheme (:mod:`gandyn.sde.svag`: two independent
minibatches per step combined as ``c₊ĝ₁ + c₋ĝ₂``, step ``η/l``, ``l`` times as
many steps) is the training run at ``l = 1`` and converges weakly, at order
1 in ``1/l``, to the limit SDE ``du = b0 dt + (η/B Σ)^{1/2} dW`` with the
scheme's covariance (``blockdiag`` for ALT, ``joint`` for SML). This study
runs the chains for every ``l`` of ``svag.ls`` up to ``t = horizon`` and
measures

    error_final[l] = |E f(chain_l at T) − E f(limit SDE at T)|,

its signed value and the order in ``1/l`` (least-squares slope of
``log error`` on ``log(1/l)``), by one of three routes:

* ``method = "exact"`` (linear-quadratic games): exact moment recursions of
  the chains and the exact OU moments of the limit
  (:mod:`gandyn.analysis.svag`); no statistical error.
* ``method = "monte-carlo"`` on small games (tanh WGAN, Dirac GAN, Python
  games): ``paths`` chains per ``l`` and ``paths`` paths of the per-sample
  SDE (:mod:`gandyn.sde`, Heun with Richardson extrapolation) as the limit;
  95% intervals for the errors and a parametric-bootstrap interval for the
  order.
* ``method = "monte-carlo"`` on network games (``mlp-gan``, ``dcgan``): the
  per-sample SDE is out of reach (that is the point of SVAG), so the limit is
  the Richardson extrapolation in ``1/l`` of the two largest ``l``
  (``limit_kind = "richardson"``). One chain per seed of ``seeds``; along
  the way, at ``n_records`` times ``t = kη``, the minibatch-free losses
  (on a fixed evaluation subset of ``eval_samples`` points per term), the
  image scores (``dcgan``: Fréchet-PCA distance and classifier score of
  :class:`gandyn.studies.train.DigitScorer`) and ``|θ|``, ``|ω|``: the
  ``curves`` per ``l`` and seed, with the distance between successive ``l``
  and a converged-in-``l`` verdict (the answer to "does the SDE describe this
  training?") and the gap between ``l = 1`` and the largest ``l``
  (for ALT, the size of the alternation term on a real network).

``drift = "alt-sde"`` (ALT with ``n_disc = 1``, Monte Carlo routes only)
runs the chains of Cao & Guo's order-2 model instead
(:func:`gandyn.sde.svag.make_svag_step`): their limit is ALT-SDE,
``du = (b0 + η b1) dt + (η/B Σ_blockdiag)^{1/2} dW``, with ``b1`` estimated
from JVPs between independent minibatches. On small games the reference is
then the per-sample ALT-SDE; on networks, again the Richardson limit in ``1/l``.

Every chain is one task (``l``, or ``l`` and seed), its key from
``(seed, task id)``: any executor gives the same numbers, and all ``l``
share one compiled program (``l`` and ``η`` are traced).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..errors import ConfigError
from ..io import new_figure, save_figure, write_csv, write_json
from ..runs import Z95
from ..sde.integrate import Integrator
from ..sde.svag import Drift
from ..sga import Scheme
from .config import GameConfig, Method, StrictModel, check_exact_needs_lq, distinct
from .executor import Executor, Task, cached_setup, default_executor, task_seed
from .executor_config import ExecutorConfig
from .result import StudyResult

__all__ = ["SVAGSettings", "SVAGConfig", "SVAGResult", "run", "write_outputs", "plot_svag",
           "plot_curves", "plot_distances", "NETWORK_GAMES", "CURVE_QUANTITIES",
           "evaluation_tools", "record_row",
           "curve_statistics", "curve_distance"]

#: Game kinds simulated as networks: one chain per seed, curves recorded, Richardson limit.
NETWORK_GAMES = ("mlp-gan", "dcgan")
#: What the curves of a network game record (scores only for images).
CURVE_QUANTITIES = ("loss_d", "loss_g", "theta_norm", "omega_norm", "frechet_pca",
                    "classifier_score")
MAX_STEPS, MAX_L = 10**7, 4096


class SVAGSettings(StrictModel):
    scheme: Scheme = "sml"
    eta: float = Field(gt=0, allow_inf_nan=False)
    batch_size: int = Field(ge=1, le=10**7)
    horizon: float = Field(gt=0, allow_inf_nan=False)
    ls: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16], min_length=2)
    method: Method = "exact"
    paths: int = Field(10_000, ge=2, le=10**9)
    seed: int = 0
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=2)
    test_function: str = "sq-norm"
    n_disc: int = Field(1, ge=1, le=100)
    drift: Drift = "b0"
    substeps: int = Field(8, ge=1, le=10_000)
    richardson: bool = True
    integrator: Integrator = "heun"
    chunk_size: int = Field(8192, ge=1, le=10**6)
    divergence_bound: float = Field(1e6, gt=0)
    n_records: int = Field(10, ge=1, le=10**4)
    eval_samples: int = Field(500, ge=10, le=10**6)

    @field_validator("ls")
    @classmethod
    def _ls(cls, ls):
        for i, l in enumerate(ls):
            if not 1 <= l <= MAX_L:
                raise ValueError(f"every l must be an integer in [1, {MAX_L}] (ls[{i}] = {l})")
        distinct(ls, "ls")
        return ls

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds):
        distinct(seeds, "seeds")
        return seeds

    @model_validator(mode="after")
    def _horizon(self):
        n = self.horizon / self.eta
        if round(n) < 1 or abs(n - round(n)) > 1e-9 * max(1.0, n):
            raise ValueError(f"horizon / eta must be a positive integer (every chain then ends "
                             f"at t = horizon exactly); got {self.horizon} / {self.eta} = {n:.6g}")
        if round(n) * max(self.ls) > MAX_STEPS:
            raise ValueError(f"max(ls) * horizon / eta = {round(n) * max(self.ls)} chain steps: "
                             f"at most {MAX_STEPS:.0e}")
        return self

    @property
    def n_intervals(self) -> int:
        """``N = horizon / eta``: the SVAG-``l`` chain takes ``l·N`` steps of ``eta/l``."""
        return int(round(self.horizon / self.eta))


class SVAGConfig(StrictModel):
    game: GameConfig
    svag: SVAGSettings
    executor: Optional[ExecutorConfig] = Field(None, exclude=True)

    @model_validator(mode="after")
    def _checks(self):
        check_exact_needs_lq(self.svag.method, self.game)
        s = self.svag
        if s.n_disc > 1 and s.method == "exact":
            raise ValueError("svag.n_disc > 1 is for monte-carlo studies")
        if s.drift == "alt-sde":
            # the chain of ALT-SDE moves both players at once with one rate (sde/svag.py)
            if s.scheme != "alt" or s.n_disc != 1:
                raise ValueError('svag.drift = "alt-sde" models ALT with one discriminator '
                                 'step: it needs svag.scheme = "alt" and svag.n_disc = 1')
            if s.method == "exact":
                raise ValueError('svag.drift = "alt-sde" has no exact route (its minibatch b1 '
                                 'adds noise of its own): use svag.method = "monte-carlo"')
        if self.game.kind in NETWORK_GAMES and s.n_intervals % s.n_records:
            raise ValueError(f"svag.n_records = {s.n_records} must divide horizon / eta = "
                             f"{s.n_intervals}")
        return self


@dataclass(repr=False)
class SVAGResult(StudyResult):
    """Errors of the SVAG chains against the limit SDE (the ``svag`` JSON contract)."""

    game: str
    scheme: str
    covariance: str
    method: str
    eta: float
    batch_size: int
    horizon: float
    test_function: str
    ls: list
    n_steps: list
    chain_final: list
    limit_final: float
    limit_kind: str
    error_final: list
    signed_error_final: list
    order_in_l: Optional[float]
    richardson: dict
    elapsed_s: float
    config: dict
    drift: str = "b0"
    chain_final_se: Optional[list] = None
    limit_final_se: Optional[float] = None
    error_final_ci: Optional[list] = None
    order_in_l_ci: Optional[list] = None
    paths: Optional[int] = None
    seed: Optional[int] = None
    n_diverged: Optional[list] = None
    curves: Optional[dict] = None
    convergence: Optional[dict] = None
    notes: list = field(default_factory=list)
    executor: dict = field(default_factory=lambda: {"kind": "local"})
    out: Optional[str] = None
    files: Optional[list] = None

    def to_json(self) -> dict:
        data = {"game": self.game, "scheme": self.scheme, "covariance": self.covariance,
                "drift": self.drift, "method": self.method, "eta": self.eta,
                "batch_size": self.batch_size,
                "horizon": self.horizon, "test_function": self.test_function, "ls": self.ls,
                "n_steps": self.n_steps, "chain_final": self.chain_final,
                "limit_final": self.limit_final, "limit_kind": self.limit_kind,
                "error_final": self.error_final, "signed_error_final": self.signed_error_final,
                "order_in_l": self.order_in_l, "richardson": self.richardson}
        if self.method == "monte-carlo":
            data.update(chain_final_se=self.chain_final_se, limit_final_se=self.limit_final_se,
                        error_final_ci=self.error_final_ci, order_in_l_ci=self.order_in_l_ci,
                        paths=self.paths, seed=self.seed, n_diverged=self.n_diverged)
        if self.curves is not None:
            data.update(curves=self.curves, convergence=self.convergence)
        data.update(notes=self.notes, elapsed_s=self.elapsed_s, config=self.config,
                    executor=self.executor, out=self.out, files=self.files)
        return data

    def rows(self) -> list[dict]:
        cis = self.error_final_ci or [[None, None]] * len(self.ls)
        return [{"l": l, "n_steps": n, "chain_final": c, "error_final": e,
                 "signed_error_final": s, "error_final_ci_low": ci[0],
                 "error_final_ci_high": ci[1], "limit_final": self.limit_final}
                for l, n, c, e, s, ci in zip(self.ls, self.n_steps, self.chain_final,
                                             self.error_final, self.signed_error_final, cis)]

    def summary(self) -> str:
        ci = self.order_in_l_ci
        ci_text = (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and None not in ci
                   and all(math.isfinite(x) for x in ci) else "")
        order = "n/a" if self.order_in_l is None else f"{self.order_in_l:.2f}"
        limit = "ALT-SDE, drift b0 + eta b1" if self.drift == "alt-sde" else "drift b0"
        lines = [f"svag study: {self.game}, {self.scheme.upper()} ({self.covariance} noise, "
                 f"{limit}), eta = {self.eta:g}, B = {self.batch_size}, T = {self.horizon:g}, "
                 f"{self.method}",
                 f"  limit ({self.limit_kind}): E f = {self.limit_final:.6g}",
                 f"  order in 1/l: {order}{ci_text} (expected 1)"]
        for l, e, s in zip(self.ls, self.error_final, self.signed_error_final):
            lines.append(f"      l = {l:<5d} error_final = {_fmt(e)}  (signed {_fmt(s)})")
        r = self.richardson
        limit = r["limit"]
        shown = "n/a" if limit is None or not math.isfinite(limit) else f"{limit:.6g}"
        lines.append(f"  Richardson in 1/l from l = {r['ls']}: E f = {shown}")
        if self.convergence:
            c = self.convergence
            lines.append(f"  converged in l (l = {c['last_pair']}): {c['converged']}")
            if c.get("l1_gap") is not None:
                lines.append("  l = 1 vs largest l, max over t: " + ", ".join(
                    f"{q} {_fmt(v['distance'])}" for q, v in c["l1_gap"].items()))
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.out:
            lines.append(f"figures and data in {self.out}")
        return "\n".join(lines)

    __str__ = summary


def _fmt(x) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3e}"


def _test_function(config: SVAGConfig, game):
    from ..analysis.test_functions import make_test_function

    try:
        return make_test_function(config.svag.test_function, game.d_theta, game.d_omega)
    except ValueError as err:
        raise ConfigError(f"config error: svag.test_function: {err}") from None


#: The test functions of network games: squared norms, computed without a dim × dim matrix.
NETWORK_TEST_FUNCTIONS = ("sq-norm", "theta-sq-norm", "omega-sq-norm")


@dataclass(frozen=True)
class _SquaredNorm:
    """``|u|²``, ``|θ|²`` or ``|ω|²`` of ``u = (θ, ω)`` (``part``: all, theta, omega)."""

    part: str
    d_theta: int

    def __call__(self, u):
        v = {"all": u, "theta": u[: self.d_theta], "omega": u[self.d_theta:]}[self.part]
        return v @ v


def _norm_test_function(name: str, d_theta: int) -> _SquaredNorm:
    if name not in NETWORK_TEST_FUNCTIONS:
        raise ConfigError(f"config error: svag.test_function: network games take "
                          f"{', '.join(NETWORK_TEST_FUNCTIONS)}; got {name!r}")
    part = {"sq-norm": "all", "theta-sq-norm": "theta", "omega-sq-norm": "omega"}[name]
    return _SquaredNorm(part, d_theta)


def _sga_config(s: SVAGSettings):
    from ..sga import SGAConfig

    return SGAConfig(s.scheme, eta_theta=s.eta, batch_size=s.batch_size, n_disc=s.n_disc)


def run(config: SVAGConfig, *, executor: Optional[Executor] = None,
        progress: Optional[Callable[[str, int, int], None]] = None) -> SVAGResult:
    """Run a validated SVAG study (see the module docstring)."""
    from ..sde.svag import svag_covariance

    s = config.svag
    executor = default_executor(executor)
    started = time.perf_counter()
    covariance = svag_covariance(s.scheme)
    n = s.n_intervals
    common = dict(game=config.game.kind, scheme=s.scheme, covariance=covariance,
                  drift=s.drift, method=s.method, eta=s.eta, batch_size=s.batch_size,
                  horizon=s.horizon,
                  test_function=s.test_function, ls=list(s.ls), n_steps=[l * n for l in s.ls],
                  config=config.model_dump(mode="json", exclude_none=True))
    if s.method == "exact":
        from ..analysis.svag import exact_svag_errors

        game = config.game.build()
        r = exact_svag_errors(config.game.spec(), s.scheme, s.eta, s.batch_size, n, s.ls,
                              _test_function(config, game), covariance)
        return SVAGResult(**common, chain_final=r.chain_final, limit_final=r.limit_final,
                          limit_kind="exact-ou", error_final=r.error_final,
                          signed_error_final=r.signed_error_final, order_in_l=r.order_in_l,
                          richardson=r.richardson.to_json(),
                          elapsed_s=time.perf_counter() - started, executor=executor.to_json())
    data = config.model_dump(mode="json")
    if config.game.kind in NETWORK_GAMES:
        _norm_test_function(s.test_function, 1)  # a bad name is bad input before any work
        return _run_network(config, data, common, executor, progress, started)
    return _run_small(config, data, common, executor, progress, started)


# --------------------------------------------------------------------------- small games


def _run_small(config, data, common, executor, progress, started) -> SVAGResult:
    from ..analysis.svag import bootstrap_order_in_l, fit_order_in_l, richardson_in_l

    s = config.svag
    tasks = [Task("limit-sde", _small_task, (data, None), "limit SDE")]
    tasks += [Task(f"svag-l{l}", _small_task, (data, l), f"SVAG l = {l}") for l in s.ls]
    done = 0

    def finished(task, result):
        nonlocal done
        done += 1
        if progress is not None:
            progress("svag chains and limit SDE", done, len(tasks))

    results = executor.map(tasks, finished)
    (limit, limit_se, _), chains = results[0], results[1:]
    values = [c[0] for c in chains]
    ses = [c[1] for c in chains]
    signed = [v - limit for v in values]
    err_se = [math.hypot(se, limit_se) for se in ses]
    errors = [abs(x) for x in signed]
    cis = [[max(0.0, abs(x) - Z95 * e) if abs(x) > Z95 * e else 0.0, abs(x) + Z95 * e]
           for x, e in zip(signed, err_se)]
    notes = []
    if any(abs(x) <= Z95 * e for x, e in zip(signed, err_se)):
        notes.append("some errors are within their 95% interval of 0: the paths used do not "
                     "resolve them (and the fitted order is then not resolved either)")
    return SVAGResult(**common, chain_final=values, limit_final=limit,
                      limit_kind="per-sample-sde", error_final=errors, signed_error_final=signed,
                      order_in_l=fit_order_in_l(s.ls, errors),
                      richardson=richardson_in_l(s.ls, values, ses).to_json(),
                      chain_final_se=ses, limit_final_se=limit_se, error_final_ci=cis,
                      order_in_l_ci=bootstrap_order_in_l(s.ls, signed, err_se, seed=s.seed),
                      paths=s.paths, seed=s.seed, n_diverged=[c[2] for c in chains],
                      notes=notes, elapsed_s=time.perf_counter() - started,
                      executor=executor.to_json())


@cached_setup
def _small_setup(data: dict):
    config = SVAGConfig.model_validate(data)
    game = config.game.build()
    return config, game, _test_function(config, game)


def _small_task(data: dict, l: Optional[int]):
    """``(E f at T, its standard error, runs diverged)`` of the chain ``l`` (or of the limit SDE)."""
    import jax

    from ..sde.coefficients import make_sde
    from ..sde.integrate import simulate_sde
    from ..sde.svag import simulate_svag, svag_covariance

    config, game, f = _small_setup(data)
    s = config.svag
    observe = _Scalar(f)
    options = dict(chunk_size=s.chunk_size, bound=s.divergence_bound, record_every=s.n_intervals)
    if l is None:
        key = jax.random.key(task_seed(s.seed, "limit-sde"))
        # the chains' limit: drift b0 with the scheme's covariance, or ALT-SDE (b0 + η b1)
        name = "alt-sde" if s.drift == "alt-sde" else "sml-sde"
        sde = make_sde(game, name, s.eta, s.batch_size, svag_covariance(s.scheme))
        stats = simulate_sde(sde, s.n_intervals, s.paths, key, observe, substeps=s.substeps,
                             richardson=s.richardson, integrator=s.integrator, **options)
    else:
        key = jax.random.key(task_seed(s.seed, f"svag-l{l}"))
        stats = simulate_svag(game, _sga_config(s), l, s.n_intervals, s.paths, key, observe,
                              drift=s.drift, **options)
    return (float(stats.mean[-1, 0]), float(stats.standard_error[-1, 0]),
            int(stats.n_diverged[-1]))


class _Scalar:
    """``u -> [f(u)]`` (hashable by the test function, so equal studies share compilations)."""

    def __init__(self, f):
        self.f = f

    def __call__(self, u):
        import jax.numpy as jnp

        return jnp.atleast_1d(self.f(u))

    def __eq__(self, other):
        return isinstance(other, _Scalar) and other.f == self.f

    def __hash__(self):
        return hash(("svag-scalar", self.f))


# --------------------------------------------------------------------------- network games


def evaluation_tools(kind: str, gan, seed: int, eval_samples: int, f=None):
    """What a network study records along training, fixed once for every run it compares.

    Returns ``(eval_batch, z, scorer, observe, generate)``: a fixed evaluation
    subset (``eval_samples`` indices per term, from ``seed``), fixed latent
    points for the image scores, the digit scorer (``dcgan`` only, else
    ``None``), ``observe(game, u, batch) -> [loss_d, loss_g, |θ|, |ω|, f(u)]``
    (the losses as the means over the evaluation subset; ``f`` defaults to 0)
    and ``generate(theta, z)``, both compiled.
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    game = gan.game
    key = jax.random.key(task_seed(seed, "evaluation"))
    k_eval, k_z = jax.random.split(key)
    eval_batch = tuple(jax.random.randint(k, (min(eval_samples, t.size),), 0, t.size)
                       for k, t in zip(jax.random.split(k_eval, len(game.terms)), game.terms))
    z = jax.random.normal(k_z, (eval_samples, gan.latent_dim), dtype=game.theta0.dtype)
    scorer = None
    if kind == "dcgan":
        from ..datasets import digits
        from .train import DigitScorer

        images, labels = digits()
        scorer = DigitScorer(images, labels)
    value = (lambda u: jnp.zeros((), u.dtype)) if f is None else f

    @eqx.filter_jit
    def observe(game, u, batch):
        from ..games.base import _take, _term_mean

        theta, omega = game.split(u)
        loss_d = sum(_term_mean(t.loss, _take(t.data, i), theta, omega)
                     for t, i in zip(game.terms, batch))
        loss_g = sum(_term_mean(t.theta_loss(), _take(t.data, i), theta, omega)
                     for t, i in zip(game.terms, batch))
        return jnp.stack([loss_d, loss_g, jnp.linalg.norm(theta), jnp.linalg.norm(omega),
                          value(u)])

    generate = eqx.filter_jit(lambda theta, z: gan.generate(theta, z))
    return eval_batch, z, scorer, observe, generate


def record_row(game, u, alive, tools) -> dict:
    """The recorded quantities of one run at one time (NaN once the run has diverged)."""
    eval_batch, z, scorer, observe, generate = tools
    values = [float(x) for x in np.asarray(observe(game, u, eval_batch))]
    if not alive:
        values = [float("nan")] * len(values)
    row = dict(zip(("loss_d", "loss_g", "theta_norm", "omega_norm", "f"), values))
    if scorer is not None:
        row.update(scorer.scores(np.asarray(generate(game.split(u)[0], z), dtype=float))
                   if alive else {"frechet_pca": float("nan"), "classifier_score": float("nan")})
    return row


@cached_setup
def _network_setup(data: dict):
    """The game, its generator, the evaluation tools and the compiled interval loop."""
    import equinox as eqx

    config = SVAGConfig.model_validate(data)
    s = config.svag
    gan = config.game.build_gan()
    f = _norm_test_function(s.test_function, gan.game.d_theta)
    tools = evaluation_tools(config.game.kind, gan, s.seed, s.eval_samples, f)
    return config, gan, tools, eqx.filter_jit(_advance)


def _advance(step, u, key, start, count):
    """``count`` intervals of ``step`` from interval ``start`` (keys ``fold_in(key, t)``)."""
    import jax

    def body(i, u):
        return step(jax.random.fold_in(key, start + i), u)

    return jax.lax.fori_loop(0, count, body, u)


def _network_task(data: dict, l: int, seed: int) -> dict:
    """One chain (``l``, seed) of a network game: its recorded quantities at ``t = kη``."""
    import jax
    import jax.numpy as jnp

    from ..sde.svag import make_svag_step

    config, gan, tools, advance = _network_setup(data)
    s = config.svag
    game = gan.game
    step = make_svag_step(game, _sga_config(s), l, s.drift)
    key = jax.random.key(task_seed(seed, f"svag-l{l}"))
    every = s.n_intervals // s.n_records
    u = game.u0
    rows, alive = [], True
    for r in range(s.n_records + 1):
        if r:
            # start and count traced: one program for every record and every l
            u_new = advance(step, u, key, jnp.asarray((r - 1) * every, jnp.int32),
                            jnp.asarray(every, jnp.int32))
            flat = np.asarray(u_new)
            alive = alive and bool(np.all(np.isfinite(flat))
                                   and np.linalg.norm(flat) <= s.divergence_bound)
            u = u_new if alive else u
        row = record_row(game, u, alive, tools)
        rows.append(row)
    return {"rows": rows, "diverged": not alive}


def curve_statistics(runs: list, q: str):
    """``(mean, standard error, n)`` over the finite runs of quantity ``q`` at every record."""
    a = np.array([[row[q] for row in run["rows"]] for run in runs], dtype=float)
    a = a[np.isfinite(a).all(axis=1)]
    if len(a) < 2:
        n_times = len(runs[0]["rows"])
        return np.full(n_times, np.nan), np.full(n_times, np.nan), int(len(a))
    return a.mean(0), a.std(0, ddof=1) / math.sqrt(len(a)), int(len(a))


def curve_distance(runs_a: list, runs_b: list, quantities, q_t: float) -> dict:
    """Per quantity: the largest distance between two sets' mean curves over the records,
    the largest 95% half-width of that difference (``q_t`` times its standard error), and
    whether the difference stays within its half-width at every record after the start."""
    out = {}
    for q in quantities:
        ma, sa, _ = curve_statistics(runs_a, q)
        mb, sb, _ = curve_statistics(runs_b, q)
        diff = np.abs(ma - mb)
        half = q_t * np.hypot(sa, sb)
        out[q] = {"distance": float(np.nanmax(diff)) if np.isfinite(diff).any() else None,
                  "ci_halfwidth": float(np.nanmax(half)) if np.isfinite(half).any() else None,
                  # (a float tolerance, so a quantity with no spread over seeds can agree)
                  "within_ci": bool(np.all(diff[1:] <= half[1:] + 1e-9 * (1 + np.abs(mb[1:]))))
                  if np.isfinite(diff).all() else False}
    return out


def _run_network(config, data, common, executor, progress, started) -> SVAGResult:
    from scipy.stats import t as student_t

    from ..analysis.svag import bootstrap_order_in_l, fit_order_in_l, richardson_in_l

    s = config.svag
    tasks = [Task(f"svag-l{l}-seed{seed}", _network_task, (data, l, seed),
                  f"SVAG l = {l}, seed {seed}") for l in s.ls for seed in s.seeds]
    done = 0

    def finished(task, result):
        nonlocal done
        done += 1
        if progress is not None:
            progress("svag chains", done, len(tasks))

    results = executor.map(tasks, finished)
    by_l = {l: results[i * len(s.seeds):(i + 1) * len(s.seeds)] for i, l in enumerate(s.ls)}
    quantities = [q for q in CURVE_QUANTITIES if q in results[0]["rows"][0]]
    every = s.n_intervals // s.n_records
    times = [r * every * s.eta for r in range(s.n_records + 1)]
    q_t = float(student_t.ppf(0.975, len(s.seeds) - 1))

    def stats(l, q):
        return curve_statistics(by_l[l], q)

    curves = {"t": times, "quantities": quantities, "seeds": list(s.seeds), "per_l": {}}
    for l in s.ls:
        entry = {"n_finite_seeds": stats(l, quantities[0])[2]}
        for q in quantities + ["f"]:
            mean, se, _ = stats(l, q)
            entry[q] = {"mean": mean.tolist(), "ci_halfwidth": (q_t * se).tolist(),
                        "per_seed": [[row[q] for row in run["rows"]] for run in by_l[l]]}
        curves["per_l"][str(l)] = entry

    def distance(la, lb):
        return curve_distance(by_l[la], by_l[lb], quantities, q_t)

    ordered = sorted(s.ls)
    successive = [{"ls": [a, b], "distances": distance(a, b)}
                  for a, b in zip(ordered, ordered[1:])]
    last = successive[-1]
    converged = all(v["within_ci"] for v in last["distances"].values())
    convergence = {"successive": successive, "last_pair": last["ls"], "converged": converged,
                   "l1_gap": distance(1, ordered[-1]) if 1 in s.ls else None,
                   "verdict": ("the curves of the two largest l agree within their 95% "
                               "intervals over seeds at every recorded time: converged in l, "
                               "the SDE describes this training at this resolution"
                               if converged else
                               "the curves of the two largest l differ beyond their 95% "
                               "intervals: not converged in l at this resolution")}
    values, ses, diverged = [], [], []
    for l in s.ls:
        mean, se, n_ok = stats(l, "f")
        values.append(float(mean[-1]))
        ses.append(float(se[-1]))
        diverged.append(len(s.seeds) - n_ok)
    rich = richardson_in_l(s.ls, values, ses)
    limit, limit_se = rich.limit, rich.standard_error
    signed = [v - limit for v in values]
    err_se = [math.hypot(a, limit_se or 0.0) for a in ses]
    errors = [abs(x) for x in signed]
    cis = [[max(0.0, e - Z95 * se), e + Z95 * se] for e, se in zip(errors, err_se)]
    notes = [f"network game: the limit is the Richardson extrapolation in 1/l of l = "
             f"{list(rich.ls)} (the per-sample SDE is not simulated); errors of those two l "
             f"against it are not independent of it",
             f"intervals over {len(s.seeds)} seeds (Student t, 95%)"]
    if s.drift == "alt-sde":
        notes.append('drift = "alt-sde": the chains converge to ALT-SDE (drift b0 + eta b1); '
                     "their l = 1 is not the ALT training run, so l1_gap is the chain's own "
                     "discretisation error, not the alternation term")
    return SVAGResult(**common, chain_final=values, limit_final=limit, limit_kind="richardson",
                      error_final=errors, signed_error_final=signed,
                      order_in_l=fit_order_in_l(s.ls, errors), richardson=rich.to_json(),
                      chain_final_se=ses, limit_final_se=limit_se, error_final_ci=cis,
                      order_in_l_ci=bootstrap_order_in_l(s.ls, signed, err_se, seed=s.seed),
                      paths=len(s.seeds), seed=s.seed, n_diverged=diverged, curves=curves,
                      convergence=convergence, notes=notes,
                      elapsed_s=time.perf_counter() - started, executor=executor.to_json())


# --------------------------------------------------------------------------- outputs


def plot_svag(result: dict):
    """``error_final`` against ``1/l`` (log–log) with its 95% intervals and a slope-1 line.

    The fitted slope is dashed through the points; the grey reference line of
    slope 1 ends below the smallest error. ``result`` is :meth:`SVAGResult.to_json`.
    """
    fig = new_figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.subplots()
    x = 1.0 / np.asarray(result["ls"], dtype=float)
    e = np.asarray([np.nan if v is None else v for v in result["error_final"]], dtype=float)
    good = np.isfinite(e) & (e > 0)
    floor = float(e[good].min()) / 10 if good.any() else 1e-6
    shown = np.clip(np.nan_to_num(e, nan=floor), floor, None)
    ci = result.get("error_final_ci")
    label = f"{result['scheme'].upper()} SVAG-l vs limit ({result['covariance']})"
    if ci:
        lo = np.asarray([floor if c[0] is None or c[0] <= floor else c[0] for c in ci])
        hi = np.asarray([shown[i] if c[1] is None else c[1] for i, c in enumerate(ci)])
        ax.errorbar(x, shown, yerr=[shown - np.minimum(lo, shown), np.maximum(hi, shown) - shown],
                    fmt="o", capsize=3, label=label + " (95% interval)")
    else:
        ax.plot(x, shown, "o", label=label)
    order = result.get("order_in_l")
    if order is not None and good.sum() >= 2:
        x0, y0 = np.exp(np.mean(np.log(x[good]))), np.exp(np.mean(np.log(e[good])))
        xs = np.array([x[good].min(), x[good].max()])
        ax.plot(xs, y0 * (xs / x0) ** order, "--", color="C0", lw=1,
                label=f"fitted slope {order:.2f}")
    if good.any():
        xs = np.array([x.min(), x.max()])
        ref = 0.5 * float(e[good].min()) * xs / xs.min()
        ax.plot(xs, ref, color="0.5", lw=0.9, ls=(0, (6, 2)), label="reference: slope 1")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("1 / l")
    ax.set_ylabel(f"|E f(chain_l) − E f(limit)| at T,  f = {result['test_function']}")
    ax.set_title(f"SVAG on {result['game']}: η = {result['eta']:g}, B = {result['batch_size']}, "
                 f"T = {result['horizon']:g} ({result['limit_kind']} limit)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def plot_curves(result: dict):
    """Network games: every recorded quantity against ``t = kη/l`` per ``l``, bands over seeds."""
    curves = result["curves"]
    qs = curves["quantities"]
    cols = min(3, len(qs))
    rows = -(-len(qs) // cols)
    fig = new_figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    t = np.asarray(curves["t"])
    for ax, q in zip(axes, qs):
        for i, l in enumerate(result["ls"]):
            entry = curves["per_l"][str(l)][q]
            m = np.asarray(entry["mean"], dtype=float)
            h = np.asarray(entry["ci_halfwidth"], dtype=float)
            ax.plot(t, m, color=f"C{i}", label=f"l = {l}")
            ax.fill_between(t, m - h, m + h, color=f"C{i}", alpha=0.2)
        ax.set_title(q)
        ax.set_xlabel("t = kη/l")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(qs):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    verdict = "converged in l" if result["convergence"]["converged"] else "not converged in l"
    fig.suptitle(f"SVAG-l chains of {result['scheme'].upper()} on {result['game']}: "
                 f"95% bands over {len(curves['seeds'])} seeds ({verdict})")
    return fig


def plot_distances(result: dict):
    """Network games: per quantity, the distance between the mean curves of successive ``l``.

    The distance is the largest over the recorded times of ``|mean_a(t) − mean_b(t)|``
    (:func:`curve_distance`), drawn against the pair ``(l_a, l_b)`` beside the largest 95%
    half-width of that difference; a filled marker is a difference beyond its interval at some
    time. The last point of each panel (grey) is ``l = 1`` against the largest ``l``.
    """
    conv = result["convergence"]
    qs = result["curves"]["quantities"]
    pairs = [(f"{p['ls'][0]}→{p['ls'][1]}", p["distances"]) for p in conv["successive"]]
    if conv.get("l1_gap") is not None:
        pairs.append((f"1 vs {conv['last_pair'][1]}", conv["l1_gap"]))
    cols = min(3, len(qs))
    rows = -(-len(qs) // cols)
    fig = new_figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    x = np.arange(len(pairs))
    n_successive = len(conv["successive"])
    for ax, q in zip(axes, qs):
        d = np.array([np.nan if p[1][q]["distance"] is None else p[1][q]["distance"]
                      for p in pairs])
        h = np.array([np.nan if p[1][q]["ci_halfwidth"] is None else p[1][q]["ci_halfwidth"]
                      for p in pairs])
        inside = np.array([p[1][q]["within_ci"] for p in pairs])
        colour = ["C0"] * n_successive + ["0.4"] * (len(pairs) - n_successive)
        for i in range(len(pairs)):
            ax.plot(x[i], d[i], "o", color=colour[i], mfc="white" if inside[i] else colour[i])
        ax.plot(x, h, "_", color="C3", ms=14, mew=2, label="95% half-width")
        ax.plot(x[:n_successive], d[:n_successive], color="C0", lw=1)
        ax.set_xticks(x, [p[0] for p in pairs])
        positive = np.concatenate([d[np.isfinite(d) & (d > 0)], h[np.isfinite(h) & (h > 0)]])
        if positive.size:
            ax.set_yscale("log")
        ax.set_title(q)
        ax.set_xlabel("pair of l")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(qs):]:
        ax.set_visible(False)
    axes[0].set_ylabel("max over t of |mean_a − mean_b|")
    axes[0].legend(fontsize=8)
    fig.suptitle("Distance between the curves of successive l (filled: beyond its 95% interval "
                 "at some time)")
    return fig


def write_outputs(result: SVAGResult, out_dir: Path) -> list[str]:
    """The figures (PNG, SVG), the errors as CSV and the whole result as JSON.

    Sets ``result.out`` and ``result.files`` and returns the files.
    """
    out_dir = Path(out_dir)
    data = result.to_json()
    files = save_figure(plot_svag(data), out_dir, "svag")
    if result.curves is not None:
        files += save_figure(plot_curves(data), out_dir, "svag_curves")
        files += save_figure(plot_distances(data), out_dir, "svag_distances")
    header = ["l", "n_steps", "chain_final", "error_final", "signed_error_final",
              "error_final_ci_low", "error_final_ci_high", "limit_final"]
    files.append(str(write_csv(out_dir / "svag.csv", header,
                               ([row[k] for k in header] for row in result.rows()))))
    files.append(str(out_dir / "svag.json"))
    result.out, result.files = str(out_dir), files
    write_json(files[-1], result.to_json())
    return files
