"""Study configurations: TOML files validated into typed objects.

A bad configuration gets one line naming the field and the problem (raised
as :class:`ConfigError`); the CLI turns it into exit status 2.

Game tables (``[game]``, chosen by ``kind``):

* ``linear-quadratic``: ``A``, ``C``, ``D``, ``sigma_theta``, ``sigma_omega``,
  optional ``sigma_theta_omega`` (zeros), ``theta0``, ``omega0``. The sigmas
  are the covariance matrices of the per-sample data ``(ξ_k, ζ_k)``.
* ``tanh-wgan``: ``n_latent``, ``n_data``, ``d_z``, ``d_x``, ``theta_star``,
  ``theta0``, ``omega0``, ``seed``, ``weight_decay`` (Cao & Guo §4.2).
* ``dirac``: ``loss`` (vanilla, non-saturating, wgan), ``dim``, ``theta0``,
  ``omega0``, ``reg``, ``data_std``, ``n_data``, ``seed``.
* ``mlp-gan``: ``dataset`` (ring, grid), ``setting`` (ring: pacgan, wgan-gp),
  ``n_data``, ``data_seed``, ``loss`` (vanilla, non-saturating, wgan, wgan-gp),
  ``latent_dim``, ``hidden``, ``depth``, ``n_latent``, ``gp_weight``,
  ``weight_decay``, ``seed``.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["ConfigError", "WeakOrderConfig", "InvariantConfig", "StationaryConfig", "TrainConfig", "load_toml", "parse_config", "format_validation_error"]


class ConfigError(ValueError):
    """A configuration problem, phrased as one line naming the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Vector = list[float]
Matrix = list[list[float]]


class LinearQuadraticGame(_Strict):
    kind: Literal["linear-quadratic"]
    A: Matrix
    C: Matrix
    D: Matrix
    sigma_theta: Matrix
    sigma_omega: Matrix
    sigma_theta_omega: Optional[Matrix] = None
    theta0: Vector
    omega0: Vector

    @model_validator(mode="after")
    def _check(self):
        self.spec()  # shapes, symmetry, positive semi-definiteness
        return self

    def spec(self):
        from .games.linear_quadratic import make_spec

        try:
            return make_spec(self.A, self.C, self.D, self.sigma_theta, self.sigma_omega,
                             self.theta0, self.omega0, self.sigma_theta_omega)
        except ValueError as err:
            raise ValueError(str(err)) from None

    def build(self):
        from .games.linear_quadratic import linear_quadratic

        return linear_quadratic(self.spec())


class TanhWGANGame(_Strict):
    kind: Literal["tanh-wgan"]
    n_latent: int = Field(32, ge=1)
    n_data: int = Field(32, ge=1)
    d_z: int = Field(1, ge=1)
    d_x: int = Field(1, ge=1)
    theta_star: float = 1.5
    theta0: Union[float, Vector] = 0.5
    omega0: Union[float, Vector] = 0.5
    seed: int = 0
    weight_decay: float = Field(0.0, ge=0)

    def build(self):
        from .games.base import with_weight_decay
        from .games.tanh_wgan import tanh_wgan

        game = tanh_wgan(self.n_latent, self.n_data, self.d_z, self.d_x, self.theta_star,
                         self.theta0, self.omega0, self.seed)
        return with_weight_decay(game, self.weight_decay)

    def generator(self):
        """``(theta -> generated samples over the game's latent set, the real data)``."""
        import jax.numpy as jnp

        game = self.build()
        z, x = game.terms[1].data, game.terms[0].data
        return (lambda theta: jnp.tanh(z @ theta.reshape(self.d_x, self.d_z).T)), x


class DiracGame(_Strict):
    kind: Literal["dirac"]
    loss: Literal["vanilla", "non-saturating", "wgan"] = "vanilla"
    dim: int = Field(1, ge=1)
    theta0: Union[float, Vector] = 1.0
    omega0: Union[float, Vector] = 1.0
    reg: float = Field(0.0, ge=0)
    data_std: float = Field(0.0, ge=0)
    n_data: int = Field(16, ge=1)
    seed: int = 0

    def build(self):
        from .games.dirac import dirac_gan

        return dirac_gan(self.loss, self.dim, self.theta0, self.omega0, self.reg,
                         self.data_std, self.n_data, self.seed)


class MLPGANGame(_Strict):
    kind: Literal["mlp-gan"]
    dataset: Literal["ring", "grid"] = "ring"
    setting: Literal["pacgan", "wgan-gp"] = "pacgan"
    n_data: int = Field(256, ge=1)
    data_seed: int = 0
    loss: Literal["vanilla", "non-saturating", "wgan", "wgan-gp"] = "vanilla"
    latent_dim: int = Field(2, ge=1)
    hidden: int = Field(16, ge=1)
    depth: int = Field(2, ge=1)
    n_latent: int = Field(256, ge=1)
    gp_weight: float = Field(10.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 0

    def mixture(self):
        from .datasets import grid, ring

        if self.dataset == "ring":
            return ring(self.n_data, self.data_seed, self.setting)
        return grid(self.n_data, self.data_seed)

    def build_gan(self):
        from .games.mlp_gan import mlp_gan

        return mlp_gan(self.mixture().samples, latent_dim=self.latent_dim, hidden=self.hidden,
                       depth=self.depth, loss=self.loss, gp_weight=self.gp_weight,
                       weight_decay=self.weight_decay, n_latent=self.n_latent, seed=self.seed)

    def build(self):
        return self.build_gan().game

    def generator(self):
        gan = self.build_gan()
        z = gan.game.terms[1].data
        return (lambda theta: gan.generate(theta, z)), gan.game.terms[0].data


GameConfig = Annotated[Union[LinearQuadraticGame, TanhWGANGame, DiracGame, MLPGANGame],
                       Field(discriminator="kind")]


class ComparisonConfig(_Strict):
    scheme: Literal["alt", "sml"]
    sde: Literal["sml-sde", "alt-sde", "sml2-sde"]
    covariance: Optional[Literal["blockdiag", "joint"]] = None


class StudyConfig(_Strict):
    batch_size: int = Field(ge=1)
    horizon: float = Field(gt=0)
    etas: list[float] = Field(min_length=2)
    method: Literal["exact", "monte-carlo"] = "exact"
    paths: int = Field(10_000, ge=2)
    seed: int = 0
    test_function: str = "sq-norm"
    comparisons: list[ComparisonConfig] = Field(min_length=1)
    substeps: Optional[int] = Field(None, ge=1)
    richardson: bool = True
    integrator: Literal["heun", "euler"] = "heun"
    chunk_size: int = Field(8192, ge=1)
    divergence_bound: float = Field(1e6, gt=0)

    @field_validator("etas")
    @classmethod
    def _etas_positive(cls, etas):
        for i, eta in enumerate(etas):
            if not (eta > 0 and math.isfinite(eta)):
                raise ValueError(f"eta must be positive and finite (etas[{i}] = {eta})")
        if len(set(etas)) != len(etas):
            raise ValueError("etas must be distinct")
        return etas

    @model_validator(mode="after")
    def _horizon_covers_etas(self):
        for eta in self.etas:
            if round(self.horizon / eta) < 1:
                raise ValueError(f"horizon {self.horizon} is shorter than eta = {eta}")
        return self


def _check_exact_needs_lq(method: str, game) -> None:
    """Exact moments exist for linear-quadratic games only."""
    if method == "exact" and game.kind != "linear-quadratic":
        raise ValueError('method = "exact" needs a linear-quadratic game; '
                         'use method = "monte-carlo" for other games')


class WeakOrderConfig(_Strict):
    game: GameConfig
    study: StudyConfig
    # `gandyn invariant` reads this table from the same file; weak-order ignores it.
    stationary: Optional[dict] = None

    @model_validator(mode="after")
    def _exact_needs_lq(self):
        _check_exact_needs_lq(self.study.method, self.game)
        return self


class StationaryConfig(_Strict):
    scheme: Literal["alt", "sml", "sml-sde", "alt-sde", "sml2-sde"]
    eta: float = Field(gt=0, allow_inf_nan=False)
    batch_size: int = Field(ge=1)
    method: Literal["exact", "monte-carlo"] = "exact"
    covariance: Optional[Literal["blockdiag", "joint"]] = None
    paths: int = Field(1000, ge=2)
    burn_in: int = Field(500, ge=0)
    steps: int = Field(2000, ge=2)
    n_batches: int = Field(20, ge=2)
    seed: int = 0
    substeps: int = Field(4, ge=1)
    integrator: Literal["heun", "euler"] = "heun"
    divergence_bound: float = Field(1e6, gt=0)

    @model_validator(mode="after")
    def _steps_cover_batches(self):
        if self.steps < self.n_batches:
            raise ValueError(f"steps ({self.steps}) must be at least n_batches ({self.n_batches})")
        return self


class InvariantConfig(_Strict):
    game: GameConfig
    stationary: StationaryConfig
    # A weak-order study may share the file; `gandyn invariant` ignores it.
    study: Optional[dict] = None

    @model_validator(mode="after")
    def _exact_needs_lq(self):
        _check_exact_needs_lq(self.stationary.method, self.game)
        return self


class TrainSettings(_Strict):
    dataset: Literal["ring", "grid", "digits"] = "ring"
    loss: Literal["vanilla", "non-saturating", "wgan", "wgan-gp"] = "vanilla"
    optimizers: list[Literal["sgd", "step-decay", "adam", "fdr"]] = Field(
        default_factory=lambda: ["sgd", "step-decay", "adam", "fdr"], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    steps: int = Field(4000, ge=1)
    n_evals: int = Field(8, ge=1)
    batch_size: int = Field(64, ge=1)
    eta: float = Field(0.05, gt=0, allow_inf_nan=False)
    adam_lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    decay_every: int = Field(1000, ge=1)
    decay_factor: float = Field(0.5, gt=0, le=1)
    fdr_epsilon: float = Field(0.1, gt=0)
    fdr_delta: float = Field(0.5, gt=0, lt=1)
    fdr_test_interval: int = Field(100, ge=1)
    fdr_min_samples: int = Field(400, ge=20)
    weight_decay: float = Field(1e-3, ge=0)
    gp_weight: float = Field(10.0, ge=0)
    latent_dim: int = Field(2, ge=1)
    hidden: int = Field(64, ge=1)
    depth: int = Field(2, ge=1)
    n_data: int = Field(2048, ge=2)
    n_latent: int = Field(2048, ge=1)
    data_seed: int = 0
    eval_samples: int = Field(2000, ge=10)

    @model_validator(mode="after")
    def _checks(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ValueError("optimizers must be distinct")
        if self.n_evals > self.steps:
            raise ValueError(f"n_evals ({self.n_evals}) must not exceed steps ({self.steps})")
        return self


class TrainConfig(_Strict):
    train: TrainSettings


def format_validation_error(err: ValidationError) -> str:
    """The first problem of a pydantic error as ``field.path: message``."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith(("function-",)))
    # Tagged unions add the tag to the path (e.g. game.linear-quadratic.A): drop it.
    parts = [p for p in loc.split(".")
             if p not in ("linear-quadratic", "tanh-wgan", "dirac", "mlp-gan")]
    loc = ".".join(parts)
    msg = first.get("msg", "invalid value")
    msg = msg.removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        msg = "unknown field"
    return f"{loc}: {msg}" if loc else msg


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, with one-line errors for missing, unreadable or invalid files."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}")
    if p.is_dir():
        raise ConfigError(f"config path is a directory, expected a TOML file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {p}: {err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML in {p}: {err}") from None


def parse_config(model: type[BaseModel], data: dict[str, Any]):
    """Validate ``data`` into ``model``; problems become one-line :class:`ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"config error: {format_validation_error(err)}") from None
