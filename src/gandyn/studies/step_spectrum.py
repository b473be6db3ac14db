"""The step-spectrum study: local stability of a whole training step at a point (``gandyn spectrum``).

Configuration (TOML)::

    [game]            # any game table (a linear-quadratic game with A = D = 0 is the bilinear game)
    [optimizer]
    kind = "gda"      # gda, momentum, extragradient, optimistic, consensus, adam, rmsprop
    order = "simultaneous"   # or "alternating" (gda, momentum, adam, rmsprop)
    eta = 0.1         # η_θ; eta_omega defaults to eta
    # eta_omega, beta (momentum), gamma (consensus), betas, eps (adam; eps also rmsprop),
    # n_disc, r1, r2 (gradient penalties on the discriminator: Dirac-GAN and MLP GANs),
    # second_moment = "per-sample" or "ones" and batch_size (adam, rmsprop: the frozen v)
    [point]
    kind = "equilibrium"     # or "initial", or "checkpoint" (then path), or "along-training"
                             # (then steps, every; optional warm_start, path_points)
    [spectrum]
    method = "dense"         # or "arnoldi" (then k)
    etas = [0.05, 0.1, 0.2]  # optional: the radius at each, and the scan of the stable interval

The point: ``equilibrium`` is exact for linear-quadratic games (``u* = 0``,
where ``b0(u) = Ku`` vanishes) and found by Levenberg–Marquardt on ``|F|²``
from the initial point otherwise (:func:`gandyn.analysis.step_spectrum.find_equilibrium`;
its residual is reported); ``initial`` is the game's initial point;
``checkpoint`` reads ``path``: a ``.npy`` holding the flat vector
``u = (θ, ω)``, a ``.npz`` holding ``theta`` and ``omega`` (or ``u``), or an
equinox file (``eqx.tree_serialise_leaves``, any other suffix) of the pair
``(generator, discriminator)`` for an MLP GAN (the networks of the
``[game]`` table's architecture) or of ``(theta, omega)`` otherwise. A
relative path is read from the working directory.

``along-training`` trains the game from its initial point with the configured
step (full batch: the mean field, no minibatch noise) for ``steps`` steps and
takes the spectrum of the step every ``every`` steps (the ``k`` of largest
modulus, each ARPACK solve warm-started from the previous leading
eigenvector unless ``warm_start = false``;
:func:`gandyn.analysis.step_spectrum.spectrum_along_training`), with the
path-angle (Berard et al. 2020) between every two consecutive checkpoints on
``path_points`` points (default 100) of ``α ∈ [−0.2, 1.2]``
(:func:`~gandyn.analysis.step_spectrum.path_angle`). The point of the other
fields is then the last checkpoint, with its whole augmented state (momentum
buffers, the past point). Adam's and RMSprop's frozen preconditioner is
re-taken at every checkpoint.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from ..analysis.update_maps import OptimizerKind, Order
from ..errors import ConfigError, InputError
from ..io import save_figure, write_csv, write_json
from .config import GameConfig, PositiveFloat, StrictModel
from .result import StudyResult

__all__ = ["OptimizerConfig", "PointConfig", "SpectrumConfig", "StepSpectrumConfig",
           "StepSpectrumResult", "run", "write_outputs", "load_checkpoint", "eigenvalue_objects",
           "closed_form_cases", "closed_form_comparison"]

#: Which optimiser takes which optional field (the others must leave it out).
_ONLY = {"beta": ("momentum",), "gamma": ("consensus",), "betas": ("adam",),
         "eps": ("adam", "rmsprop"), "second_moment": ("adam", "rmsprop"),
         "batch_size": ("adam", "rmsprop")}
_ALTERNATING = ("gda", "momentum", "adam", "rmsprop")


class OptimizerConfig(StrictModel):
    kind: OptimizerKind = "gda"
    order: Order = "simultaneous"
    eta: PositiveFloat
    eta_omega: Optional[PositiveFloat] = None
    beta: Optional[float] = Field(None, gt=-1e6, lt=1e6, allow_inf_nan=False)
    gamma: Optional[float] = Field(None, ge=0, allow_inf_nan=False)
    betas: Optional[list[float]] = None
    eps: Optional[PositiveFloat] = None
    n_disc: int = Field(1, ge=1, le=10_000)
    r1: float = Field(0.0, ge=0, allow_inf_nan=False)
    r2: float = Field(0.0, ge=0, allow_inf_nan=False)
    second_moment: Optional[Literal["per-sample", "ones"]] = None
    batch_size: Optional[int] = Field(None, ge=1, le=10**7)

    @model_validator(mode="after")
    def _fields_of_the_kind(self):
        for name, kinds in _ONLY.items():
            if getattr(self, name) is not None and self.kind not in kinds:
                raise ValueError(f"{name} is only for kind = {' or '.join(repr(k) for k in kinds)} "
                                 f"(kind is {self.kind!r})")
        if self.kind == "momentum" and self.beta is None:
            raise ValueError("kind = 'momentum' needs beta (e.g. beta = -0.5)")
        if self.kind == "consensus" and self.gamma is None:
            raise ValueError("kind = 'consensus' needs gamma (e.g. gamma = 1.0)")
        if self.order == "alternating" and self.kind not in _ALTERNATING:
            raise ValueError(f"order = 'alternating' is for kind = {', '.join(_ALTERNATING)}; "
                             f"{self.kind} is simultaneous")
        if self.n_disc > 1 and self.kind in ("extragradient", "optimistic"):
            raise ValueError(f"n_disc must be 1 for kind = {self.kind!r}")
        if self.betas is not None and not (len(self.betas) == 2 and all(
                0 <= b < 1 for b in self.betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        return self

    def build(self):
        """The optimiser of :mod:`gandyn.analysis.update_maps` this table describes."""
        from ..analysis import update_maps as um

        rates = dict(eta=self.eta, eta_omega=self.eta_omega)
        k = self.kind
        if k == "gda":
            return um.GDA(**rates, order=self.order, n_disc=self.n_disc)
        if k == "momentum":
            return um.Momentum(**rates, beta=self.beta, order=self.order, n_disc=self.n_disc)
        if k == "extragradient":
            return um.Extragradient(**rates)
        if k == "optimistic":
            return um.Optimistic(**rates)
        if k == "consensus":
            return um.Consensus(**rates, gamma=self.gamma, n_disc=self.n_disc)
        extra = {} if self.eps is None else {"eps": self.eps}
        if k == "adam":
            if self.betas is not None:
                extra["betas"] = tuple(self.betas)
            return um.Adam(**rates, **extra, order=self.order, n_disc=self.n_disc)
        return um.RMSprop(**rates, **extra, order=self.order, n_disc=self.n_disc)


#: Most records (spectra) along training one config may ask for: ``steps // every + 1``.
MAX_RECORDS = 1000
_ALONG = ("steps", "every", "warm_start", "path_points")


class PointConfig(StrictModel):
    kind: Literal["equilibrium", "initial", "checkpoint", "along-training"] = "equilibrium"
    path: Optional[str] = None
    tol: float = Field(1e-10, gt=0, allow_inf_nan=False)
    max_iter: int = Field(200, ge=1, le=100_000)
    steps: Optional[int] = Field(None, ge=1, le=10**7)
    every: Optional[int] = Field(None, ge=1, le=10**7)
    warm_start: Optional[bool] = None
    path_points: Optional[int] = Field(None, ge=3, le=100_000)

    @model_validator(mode="after")
    def _path(self):
        if self.kind == "checkpoint" and not self.path:
            raise ValueError("kind = 'checkpoint' needs path (a .npy, .npz or equinox file)")
        if self.kind != "checkpoint" and self.path is not None:
            raise ValueError("path is only for kind = 'checkpoint'")
        if self.kind != "along-training":
            for name in _ALONG:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is only for kind = 'along-training'")
            return self
        if self.steps is None or self.every is None:
            raise ValueError("kind = 'along-training' needs steps (training steps) and every "
                             "(steps between spectra), e.g. steps = 400, every = 100")
        if self.every > self.steps:
            raise ValueError(f"every must be at most steps ({self.every} > {self.steps}): "
                             "along training needs two checkpoints at least")
        if self.steps // self.every + 1 > MAX_RECORDS:
            raise ValueError(f"steps // every + 1 = {self.steps // self.every + 1} spectra is "
                             f"more than {MAX_RECORDS}: raise every")
        return self


class SpectrumConfig(StrictModel):
    method: Literal["dense", "arnoldi"] = "dense"
    k: int = Field(6, ge=1, le=100_000)
    which: list[Literal["LM", "LR", "LI"]] = Field(default_factory=lambda: ["LM", "LR", "LI"])
    etas: Optional[list[PositiveFloat]] = None
    tol: float = Field(1e-10, ge=0, lt=1, allow_inf_nan=False)
    seed: int = 0
    stable_range: bool = True
    scan_points: int = Field(48, ge=4, le=100_000)
    scan_span: list[PositiveFloat] = Field(default_factory=lambda: [1e-3, 1e2])
    nash: bool = True

    @model_validator(mode="after")
    def _check(self):
        if not self.which or self.which[0] != "LM":
            raise ValueError("which must start with 'LM' (it gives the eigenvalues)")
        if len(self.scan_span) != 2 or not self.scan_span[0] < 1 < self.scan_span[1]:
            raise ValueError("scan_span must be [low, high] factors of eta with low < 1 < high")
        return self


class StepSpectrumConfig(StrictModel):
    game: GameConfig
    optimizer: OptimizerConfig
    point: PointConfig = Field(default_factory=PointConfig)
    spectrum: SpectrumConfig = Field(default_factory=SpectrumConfig)

    @model_validator(mode="after")
    def _penalties_need_a_gan(self):
        o = self.optimizer
        if (o.r1 or o.r2) and self.game.kind not in ("dirac", "mlp-gan"):
            raise ValueError(f"r1/r2 penalise a GAN's discriminator: game.kind must be dirac or "
                             f"mlp-gan, got {self.game.kind!r}")
        return self


def eigenvalue_objects(values) -> list[dict]:
    """``[{"re", "im", "abs"}]`` sorted by ``abs`` descending (the JSON contract)."""
    values = np.asarray(values, dtype=complex).ravel()
    order = np.lexsort((-values.imag, -np.abs(values)))
    return [{"re": float(v.real), "im": float(v.imag), "abs": float(abs(v))} for v in values[order]]


@dataclass(repr=False)
class StepSpectrumResult(StudyResult):
    """The ``gandyn spectrum`` JSON contract (README): the step's spectrum and its context."""

    game: str
    optimizer: dict
    point: dict
    method: str
    dim: int
    eigenvalues: list
    largest_real: list
    largest_imag: list
    residual_max: float
    spectral_radius: float
    stable: bool
    margin: float
    stable_eta_range: Optional[list]
    jacobian_eigenvalues: list
    matvecs: int
    seconds: float
    elapsed_s: float
    radius_per_eta: Optional[list] = None
    stable_eta_scan: Optional[dict] = None
    jacobian_matvecs: Optional[int] = None
    nash: Optional[dict] = None
    along_training: Optional[dict] = None
    path_angle: Optional[dict] = None
    notes: list = field(default_factory=list)
    out: Optional[str] = None
    files: Optional[list] = None

    _ALWAYS = ("game", "optimizer", "point", "method", "dim", "eigenvalues", "largest_real",
               "largest_imag", "residual_max", "spectral_radius", "stable", "margin",
               "stable_eta_range", "jacobian_eigenvalues", "matvecs", "seconds", "elapsed_s",
               "notes", "out", "files")

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name in self._ALWAYS or getattr(self, f.name) is not None}

    def rows(self) -> list[dict]:
        return [{"which": "step", "rank": i, **e} for i, e in enumerate(self.eigenvalues)] + [
            {"which": "jacobian", "rank": i, **e} for i, e in enumerate(self.jacobian_eigenvalues)]

    def summary(self) -> str:
        o = self.optimizer
        rates = f"eta = {o['eta']:g}" + (f", eta_omega = {o['eta_omega']:g}"
                                         if o.get("eta_omega") is not None else "")
        lines = [f"step spectrum: {self.game}, {o['kind']} ({o['order']}, {rates}) at the "
                 f"{self.point['kind']} point; {self.method}, state of dimension {self.dim}",
                 f"  spectral radius {self.spectral_radius:.10g}: "
                 + ("stable" if self.stable else "not stable")
                 + f" (margin 1 - rho = {self.margin:.3g})"]
        lead = ", ".join(f"{e['re']:.6g}{e['im']:+.6g}i" for e in self.eigenvalues[:6])
        lines.append(f"  leading eigenvalues: {lead}")
        if self.stable_eta_range is not None:
            lo, hi = self.stable_eta_range
            lines.append(f"  stable for eta in [{lo:.6g}, {hi:.6g}]")
        elif self.stable_eta_scan is not None:
            lines.append("  the configured eta is unstable: no stable interval around it")
        if self.radius_per_eta:
            lines.append("  radius per eta: " + ", ".join(
                f"{r['eta']:g}: {r['radius']:.6g}" for r in self.radius_per_eta))
        jac = ", ".join(f"{e['re']:.4g}{e['im']:+.4g}i" for e in self.jacobian_eigenvalues[:6])
        lines.append(f"  game Jacobian eigenvalues: {jac}")
        if self.nash:
            lines.append(f"  players' Hessians: {self.nash['verdict']} (min eig H_theta "
                         f"{self.nash['theta_hessian_min']:.4g}, max eig H_omega "
                         f"{self.nash['omega_hessian_max']:.4g})")
        lines.append(f"  {self.matvecs} matrix-vector products, {self.seconds:.2f} s, "
                     f"residual <= {self.residual_max:.2g}")
        if self.along_training is not None:
            a = self.along_training
            lines.append(f"  along training ({len(a['steps'])} spectra, "
                         f"{'warm' if a['warm_start'] else 'cold'} starts):")
            lines.append("    step   spectral radius   margin 1 - rho   |F|        matvecs")
            for t, r, m, f, n in zip(a["steps"], a["spectral_radius"], a["margin"],
                                     a["field_norm"], a["matvecs"]):
                lines.append(f"    {t:5d}  {r:.10f}      {m:+.3e}       {f:.3e}  {n:5d}")
            if a["diverged_at"] is not None:
                lines.append(f"    training diverged at step {a['diverged_at']}")
        if self.path_angle is not None:
            for pair in self.path_angle["pairs"]:
                if pair["cosine"] is None:
                    lines.append(f"  path-angle {pair['from']} -> {pair['to']}: the two "
                                 "checkpoints coincide")
                    continue
                cos = np.asarray(pair["cosine"])
                lines.append(f"  path-angle {pair['from']} -> {pair['to']}: cosine from "
                             f"{cos.min():+.3f} to {cos.max():+.3f}, {pair['cosine_at_end']:+.3f} "
                             f"at the later checkpoint")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __str__ = summary


def load_checkpoint(path: str | Path, game_config, game) -> np.ndarray:
    """The flat point ``u = (θ, ω)`` stored at ``path`` (see the module docstring for formats)."""
    import jax.numpy as jnp

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config error: point.path: no such file: {p}")
    try:
        if p.suffix == ".npy":
            u = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                if "u" in data:
                    u = data["u"]
                elif "theta" in data and "omega" in data:
                    u = np.concatenate([np.ravel(data["theta"]), np.ravel(data["omega"])])
                else:
                    raise ConfigError(f"config error: point.path: {p} must hold 'theta' and "
                                      f"'omega' (or 'u'); it holds {sorted(data.files)}")
        else:
            import equinox as eqx

            if game_config.kind == "mlp-gan":
                gan = game_config.build_gan()
                like = (gan.unravel_generator(game.theta0), gan.unravel_discriminator(game.omega0))
                g, d = eqx.tree_deserialise_leaves(p, like)
                from jax.flatten_util import ravel_pytree

                th = ravel_pytree(eqx.filter(g, eqx.is_inexact_array))[0]
                om = ravel_pytree(eqx.filter(d, eqx.is_inexact_array))[0]
            else:
                th, om = eqx.tree_deserialise_leaves(p, (game.theta0, game.omega0))
            u = np.concatenate([np.asarray(th), np.asarray(om)])
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise ConfigError(f"config error: point.path: cannot read {p}: {type(err).__name__}: "
                          f"{err}") from None
    u = np.asarray(u, dtype=float).ravel()
    if u.shape != (game.dim,) or not np.all(np.isfinite(u)):
        raise ConfigError(f"config error: point.path: {p} holds {u.size} numbers; the game has "
                          f"{game.dim} parameters (theta then omega), all finite")
    return np.asarray(jnp.asarray(u))


def run(config: StepSpectrumConfig, progress=None) -> StepSpectrumResult:
    """The spectrum of the configured training step at the configured point (float64).

    ``progress(label, done, total)``, when given, hears of every spectrum
    along training.
    """
    import jax

    with jax.enable_x64(True):
        return _run(config, progress)


def _make_step(game, o: OptimizerConfig, optimizer, penalty, theta, omega):
    """The training step, Adam's and RMSprop's preconditioner frozen at ``(θ, ω)``."""
    from ..analysis.update_maps import training_step

    v = None
    if o.kind in ("adam", "rmsprop") and (o.second_moment or "per-sample") == "ones":
        v = (np.ones(game.d_theta), np.ones(game.d_omega))
    try:
        return training_step(game, optimizer, penalty=penalty, v=v, at=(theta, omega),
                             batch_size=o.batch_size or 1)
    except InputError as err:
        raise ConfigError(f"config error: optimizer: {err}") from None


def _check_k(sp: SpectrumConfig, state) -> int:
    """The augmented state's size; ``k`` must be below it minus one for Arnoldi."""
    dim = int(sum(np.size(x) for x in _float_leaves(state)))
    if sp.method == "arnoldi" and not sp.k < dim - 1:
        raise ConfigError(f"config error: spectrum.k: arnoldi needs k < dim - 1 = {dim - 1} "
                          f"(the state has {dim} numbers); use method = \"dense\"")
    return dim


def _field_norm(game, penalty, theta, omega) -> float:
    """``|F(θ, ω)|``, the descent–ascent field's norm (with the penalties), compiled once."""
    return float(_jitted_field_norm()(game, penalty if penalty.active else None, theta, omega))


def _field_norm_impl(game, penalty, theta, omega):
    import jax.numpy as jnp

    from ..analysis.update_maps import descent_field

    return jnp.linalg.norm(game.join(*descent_field(game, penalty)(theta, omega)))


@functools.lru_cache(maxsize=None)
def _jitted_field_norm():
    import equinox as eqx

    return eqx.filter_jit(_field_norm_impl)  # one program per game: along training, per point


def _along_training(config: StepSpectrumConfig, game, penalty, optimizer, progress):
    """Train from the game's initial point, a spectrum every ``every`` steps, path-angles.

    Returns the last state, the ``along_training`` and ``path_angle`` JSON
    fields. Each spectrum is ARPACK's (or the dense) largest-modulus
    eigenvalues of the step at the record; the path-angle (Berard et al.
    2020) is taken between every two consecutive records.
    """
    from ..analysis.step_spectrum import is_stable, path_angle, spectrum_along_training

    o, sp, pt = config.optimizer, config.spectrum, config.point
    step = _make_step(game, o, optimizer, penalty, game.theta0, game.omega0)
    state = step.init(game.theta0, game.omega0)
    _check_k(sp, state)
    # Adam/RMSprop: the frozen preconditioner follows training, re-taken at every record.
    step_at = ((lambda s: _make_step(game, o, optimizer, penalty, s.theta, s.omega))
               if o.kind in ("adam", "rmsprop") else None)
    alphas = np.linspace(-0.2, 1.2, pt.path_points or 100)
    total = pt.steps // pt.every + 1
    kept = {"state": None, "u": None, "t": None}
    norms, pairs = [], []

    def record(t, s, spec):
        u = np.asarray(game.join(s.theta, s.omega))
        norms.append(_field_norm(game, penalty, s.theta, s.omega))
        if kept["u"] is not None:
            pair = {"from": kept["t"], "to": t, "distance": float(np.linalg.norm(u - kept["u"])),
                    "cosine": None, "field_norm": None, "cosine_at_end": None}
            if pair["distance"] > 0:  # a run that does not move has no line to look along
                angle = path_angle(game, kept["u"], u, penalty=penalty, alphas=alphas)
                pair.update(cosine=angle["cosine"].tolist(),
                            field_norm=angle["field_norm"].tolist(),
                            cosine_at_end=float(angle["cosine"][np.argmin(np.abs(alphas - 1))]))
            pairs.append(pair)
        kept.update(state=s, u=u, t=t)
        if progress is not None:
            progress("spectra along training", len(norms), total)

    along = spectrum_along_training(step, state, steps=pt.steps, every=pt.every, k=sp.k,
                                    tol=sp.tol, seed=sp.seed, method=sp.method,
                                    warm_start=True if pt.warm_start is None else pt.warm_start,
                                    callback=record, step_at=step_at)
    if progress is not None and len(norms) < total:  # stopped early: close the bar
        progress("spectra along training", total, total)
    along_json = {"steps": list(along.steps), "spectral_radius": list(along.radius),
                  "margin": along.margin.tolist(), "stable": [is_stable(r) for r in along.radius],
                  "eigenvalues": [eigenvalue_objects(v) for v in along.eigenvalues],
                  "matvecs": list(along.matvecs), "seconds": list(along.seconds),
                  "residual_max": list(along.residual_max), "field_norm": norms,
                  "warm_start": True if pt.warm_start is None else pt.warm_start,
                  "diverged_at": along.diverged_at}
    return kept["state"], along_json, {"alphas": alphas.tolist(), "pairs": pairs}


def _run(config: StepSpectrumConfig, progress=None) -> StepSpectrumResult:
    import jax.numpy as jnp

    from ..analysis.step_spectrum import (field_spectrum, find_equilibrium, is_stable, nash_check,
                                          radius_per_eta, stable_eta_range, step_spectrum)
    from ..analysis.update_maps import GradientPenalty

    started = time.perf_counter()
    o, sp = config.optimizer, config.spectrum
    game = config.game.build()
    penalty = GradientPenalty.for_game(game, o.r1, o.r2)
    optimizer = o.build()
    notes = []
    point = {"kind": config.point.kind}
    state = along_json = angle_json = None
    if config.point.kind == "initial":
        u = np.asarray(game.u0)
    elif config.point.kind == "along-training":
        state, along_json, angle_json = _along_training(config, game, penalty, optimizer,
                                                        progress)
        u = np.asarray(game.join(state.theta, state.omega))
        point.update(steps=config.point.steps, every=config.point.every,
                     final_step=along_json["steps"][-1])
        if along_json["diverged_at"] is not None:
            notes.append(f"training diverged (a NaN or an infinity) at step "
                         f"{along_json['diverged_at']}: the point is the last finite checkpoint, "
                         f"step {along_json['steps'][-1]}")
        if o.kind in ("adam", "rmsprop"):
            notes.append(f"{o.kind} along training: the frozen preconditioner is re-taken at "
                         "every checkpoint and trained with until the next one (a piecewise "
                         "frozen v, not optax's running average)")
    elif config.point.kind == "checkpoint":
        u = load_checkpoint(config.point.path, config.game, game)
        point["path"] = config.point.path
    elif config.game.kind == "linear-quadratic":
        u = np.zeros(game.dim)  # b0(u) = K u vanishes at 0, exactly
        point["exact"] = True
    else:
        found = find_equilibrium(game, game.u0, penalty=penalty, tol=config.point.tol,
                                    max_iter=config.point.max_iter)
        u = found["u"]
        point.update(exact=False, iterations=found["iterations"], converged=found["converged"])
        if not found["converged"]:
            notes.append(f"the equilibrium solver stopped at |F| = {found['residual']:.3g} "
                         f"(tol {config.point.tol:g}): the point is not a zero of the field")
    u = jnp.asarray(u, dtype=jnp.float64)
    theta, omega = game.split(u)
    point["field_norm"] = _field_norm(game, penalty, theta, omega)
    point["u"] = np.asarray(u).tolist() if game.dim <= 20 else None

    if o.kind in ("adam", "rmsprop"):
        rule = o.second_moment or "per-sample"
        notes.append(f"{o.kind}: preconditioner 1/(sqrt(v) + eps) frozen at the point, v = "
                     + ("1" if rule == "ones" else
                        f"E[(g^B)^2] with batch size {o.batch_size or 1} (per-sample gradients)"))
    step = _make_step(game, o, optimizer, penalty, theta, omega)
    # along training: the last checkpoint's whole state (momentum buffers, the past point)
    state = step.init(theta, omega) if state is None else state
    dim = _check_k(sp, state)
    # along training: fresh JVPs per product, the program the solves along the way compiled
    spec = step_spectrum(step, state, method=sp.method, k=sp.k, which=sp.which, tol=sp.tol,
                         seed=sp.seed,
                         operator="jvp" if along_json is not None else "linearize")
    rho = spec.spectral_radius
    jac_k = min(sp.k, game.dim - 2)
    jac_method = sp.method if jac_k >= 1 else "dense"
    jac = field_spectrum(game, u, penalty=penalty, method=jac_method, k=max(jac_k, 1),
                            which=("LM",), tol=sp.tol, seed=sp.seed)
    nash = nash_check(game, u, penalty=penalty, method=sp.method, seed=sp.seed) if sp.nash else None

    per_eta = None
    if sp.etas:
        radii = radius_per_eta(step, state, sp.etas, method=sp.method, k=sp.k, tol=sp.tol)
        per_eta = [{"eta": float(e), "radius": float(r), "stable": is_stable(r)}
                          for e, r in zip(sp.etas, radii)]
    stable_range, scan = None, None
    if sp.stable_range:
        found = stable_eta_range(step, state, etas=sp.etas or (), method=sp.method, k=sp.k,
                                    span=tuple(sp.scan_span), grid=sp.scan_points, tol=sp.tol)
        stable_range = None if found.interval is None else [float(x) for x in found.interval]
        scan = {"etas": found.scan_etas.tolist(), "radius": found.scan_radius.tolist(),
                "low_at_edge": found.low_at_edge, "high_at_edge": found.high_at_edge}
        if found.low_at_edge or found.high_at_edge:
            notes.append("the stable interval reaches the end of the scan at "
                         + " and ".join(n for n, f in (("low", found.low_at_edge),
                                                        ("high", found.high_at_edge)) if f)
                         + " (spectrum.scan_span): it may extend further")
    opt_json = {"kind": o.kind, "order": optimizer.order, "eta": o.eta,
                "eta_omega": o.eta_omega if o.eta_omega is not None else o.eta,
                "n_disc": optimizer.n_disc}
    for name in ("beta", "gamma", "betas", "eps", "second_moment", "batch_size"):
        if getattr(o, name) is not None:
            opt_json[name] = getattr(o, name)
    if o.r1 or o.r2:
        opt_json.update(r1=o.r1, r2=o.r2)
    return StepSpectrumResult(
        game=config.game.kind, optimizer=opt_json, point=point, method=sp.method, dim=dim,
        eigenvalues=eigenvalue_objects(spec.eigenvalues),
        largest_real=eigenvalue_objects(spec.largest_real[:sp.k])
        if "LR" in sp.which or sp.method == "dense" else [],
        largest_imag=eigenvalue_objects(spec.largest_imag[:sp.k])
        if "LI" in sp.which or sp.method == "dense" else [],
        residual_max=float(np.max(spec.residuals)) if spec.residuals.size else 0.0,
        spectral_radius=rho, stable=is_stable(rho), margin=1.0 - rho,
        stable_eta_range=stable_range, stable_eta_scan=scan, radius_per_eta=per_eta,
        jacobian_eigenvalues=eigenvalue_objects(jac.eigenvalues), jacobian_matvecs=jac.matvecs,
        nash=nash, matvecs=spec.matvecs, seconds=spec.seconds,
        elapsed_s=time.perf_counter() - started, along_training=along_json,
        path_angle=angle_json, notes=notes)


def _float_leaves(state):
    import equinox as eqx
    import jax

    return jax.tree_util.tree_leaves(eqx.filter(state, eqx.is_inexact_array))


def write_outputs(result: StepSpectrumResult, out_dir: Path) -> list[str]:
    """``step_spectrum.json``, ``eigenvalues.csv``, the spectrum with the unit circle
    (``spectrum.png``/``.svg``), with a scan ``radius_eta.png``/``.svg`` and, along
    training, ``along_training.png``/``.svg`` (the margin and the path-angles),
    ``along_training.csv`` and ``path_angle.csv``.

    Sets ``result.out`` and ``result.files``.
    """
    from ..analysis.game_spectrum import plot_spectrum
    from ..analysis.step_spectrum import plot_along_training, plot_radius_per_eta

    out = Path(out_dir)
    files = [str(write_csv(out / "eigenvalues.csv", ["which", "rank", "re", "im", "abs"],
                           ([r["which"], r["rank"], r["re"], r["im"], r["abs"]]
                            for r in result.rows())))]
    values = [complex(e["re"], e["im"]) for e in result.eigenvalues]
    o = result.optimizer
    files += save_figure(plot_spectrum(values, f"{o['kind']} ({o['order']}), η = {o['eta']:g}: "
                                               "spectrum of the step"), out, "spectrum")
    if result.stable_eta_scan is not None or result.radius_per_eta:
        etas, radius = [], []
        if result.stable_eta_scan is not None:
            etas += result.stable_eta_scan["etas"]
            radius += result.stable_eta_scan["radius"]
        for r in result.radius_per_eta or []:
            etas.append(r["eta"])
            radius.append(r["radius"])
        files += save_figure(plot_radius_per_eta(etas, radius, eta=o["eta"],
                                                 interval=result.stable_eta_range), out,
                             "radius_eta")
    a = result.along_training
    if a is not None:
        files.append(str(write_csv(
            out / "along_training.csv", ["step", "spectral_radius", "margin", "stable",
                                         "field_norm", "matvecs", "seconds", "residual_max"],
            zip(a["steps"], a["spectral_radius"], a["margin"], a["stable"], a["field_norm"],
                a["matvecs"], a["seconds"], a["residual_max"]))))
        pa = result.path_angle
        drawn = [q for q in pa["pairs"] if q["cosine"] is not None]
        files.append(str(write_csv(
            out / "path_angle.csv", ["from", "to", "alpha", "cosine", "field_norm"],
            ([q["from"], q["to"], al, c, f] for q in drawn
             for al, c, f in zip(pa["alphas"], q["cosine"], q["field_norm"])))))
        files += save_figure(plot_along_training(
            a["steps"], a["margin"], pa["alphas"], [q["cosine"] for q in drawn],
            [f"{q['from']} → {q['to']}" for q in drawn],
            title=f"{result.game}, {o['kind']} ({o['order']}), η = {o['eta']:g}"), out,
            "along_training")
    path = out / "step_spectrum.json"
    result.out, result.files = str(out), files + [str(path)]
    write_json(path, result.to_json())
    return result.files


# --------------------------------------------------------------------------- closed forms


def closed_form_cases(eta: float = 0.2, sigma: float = 1.0, gamma: float = 0.5,
                      beta: float = -0.5) -> list[dict]:
    """The configurations of :func:`closed_form_comparison`: ``{"label", "config", "closed"}``.

    The bilinear game ``σxy`` under every optimiser with a closed form, and
    the vanilla Dirac-GAN with R1 (γ) under both orders of GDA
    (:mod:`gandyn.analysis.closed_forms`).
    """
    from ..analysis import closed_forms as cf

    bilinear = {"kind": "linear-quadratic", "A": [[0.0]], "C": [[sigma]], "D": [[0.0]],
                "sigma_theta": [[0.0]], "sigma_omega": [[0.0]], "theta0": [1.0],
                "omega0": [1.0]}
    dirac = {"kind": "dirac", "loss": "vanilla"}
    a = cf.DIRAC_SLOPE["vanilla"]
    cases = []

    def add(label, game, optimizer, rho, high):
        cases.append({"label": label, "config": {"game": game, "optimizer": optimizer,
                                                 "spectrum": {"method": "dense", "nash": False,
                                                              "scan_points": 24}},
                      "closed": {"spectral_radius": rho, "stable_eta_max": high}})

    for order in ("simultaneous", "alternating"):
        add(f"bilinear, GDA {order}", bilinear, {"kind": "gda", "order": order, "eta": eta},
            cf.bilinear_radius("gda", eta, sigma, order=order), None)
    for kind in ("extragradient", "optimistic"):
        add(f"bilinear, {kind}", bilinear, {"kind": kind, "eta": eta},
            cf.bilinear_radius(kind, eta, sigma), cf.bilinear_stable_eta(kind, sigma))
    add(f"bilinear, consensus γ = {gamma:g}", bilinear,
        {"kind": "consensus", "eta": eta, "gamma": gamma},
        cf.bilinear_radius("consensus", eta, sigma, gamma=gamma),
        cf.bilinear_stable_eta("consensus", sigma, gamma=gamma))
    for order in ("simultaneous", "alternating"):
        add(f"bilinear, heavy ball β = {beta:g} {order}", bilinear,
            {"kind": "momentum", "order": order, "eta": eta, "beta": beta},
            cf.bilinear_radius("momentum", eta, sigma, order=order, beta=beta), None)
    for order in ("simultaneous", "alternating"):
        add(f"Dirac-GAN + R1 γ = {gamma:g}, GDA {order}", dirac,
            {"kind": "gda", "order": order, "eta": eta, "r1": gamma},
            cf.dirac_r1_radius(order, eta, gamma, a), cf.dirac_r1_stable_eta(order, gamma, a))
    return cases


def closed_form_comparison(eta: float = 0.2, sigma: float = 1.0, gamma: float = 0.5,
                           beta: float = -0.5) -> list[dict]:
    """Each case of :func:`closed_form_cases` run as a study, beside its closed form.

    Rows: ``label``, ``spectral_radius`` and ``spectral_radius_closed``,
    ``stable``, ``stable_eta_range`` (the scan's), ``stable_eta_max_closed``
    (``None`` where no η is stable, or where the closed form is not a simple
    number), ``command`` (the config as TOML, for ``gandyn spectrum``).
    """
    from .config import parse_config

    rows = []
    for case in closed_form_cases(eta, sigma, gamma, beta):
        result = run(parse_config(StepSpectrumConfig, case["config"]))
        rows.append({"label": case["label"], "config": case["config"],
                     "spectral_radius": result.spectral_radius,
                     "spectral_radius_closed": case["closed"]["spectral_radius"],
                     "stable": result.stable, "stable_eta_range": result.stable_eta_range,
                     "stable_eta_max_closed": case["closed"]["stable_eta_max"]})
    return rows
