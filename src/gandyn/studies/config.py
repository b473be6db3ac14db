"""Typed study configurations: one strict pydantic base, one error formatter, the game tables.

Every study's configuration is a :class:`StrictModel`: unknown fields are
errors, values are not coerced from strings, models are frozen. A config
that does not validate raises :class:`gandyn.errors.ConfigError` with one
line in the user's words (:func:`format_validation_error`), which the command
line turns into exit status 2.

Game tables (``[game]``, chosen by ``kind``):

* ``linear-quadratic``: ``A``, ``C``, ``D``, ``sigma_theta``, ``sigma_omega``,
  optional ``sigma_theta_omega`` (zeros), ``theta0``, ``omega0``. The sigmas
  are the covariance matrices of the per-sample data ``(ξ_k, ζ_k)``.
* ``tanh-wgan``: ``n_latent``, ``n_data``, ``d_z``, ``d_x``, ``theta_star``,
  ``theta0``, ``omega0``, ``seed``, ``weight_decay`` (Cao & Guo §4.2).
* ``dirac``: ``loss`` (vanilla, non-saturating, wgan), ``dim``, ``theta0``,
  ``omega0``, ``reg``, ``data_std``, ``n_data``, ``seed``.
* ``mlp-gan``: ``dataset`` (ring, grid, digits: scikit-learn's 8×8 images as
  vectors of 64 pixels in ``[−1, 1]``, ``n_data`` of them drawn by ``data_seed``),
  ``setting`` (ring: pacgan, wgan-gp),
  ``n_data``, ``data_seed``, ``loss`` (vanilla, non-saturating, wgan, wgan-gp),
  ``latent_dim``, ``hidden``, ``depth``, ``n_latent``, ``gp_weight``,
  ``weight_decay``, ``seed``.
* ``dcgan``: the convolutional GAN on the 8×8 digits (:mod:`gandyn.games.dcgan`):
  ``loss`` (vanilla, non-saturating, wgan, wgan-gp), ``width``, ``latent_dim``,
  ``n_data`` (all 1797 digits when absent), ``n_latent``, ``n_penalty``,
  ``gp_weight``, ``weight_decay``, ``seed``, ``data_seed``.
* ``python``: ``entry = "module:function"``, a callable returning a
  :class:`gandyn.games.Game`, called with the keyword arguments of the
  optional ``options`` table; the module is looked up on the working
  directory and ``sys.path``.
"""

from __future__ import annotations

import difflib
import importlib
import math
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Sequence, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["StrictModel", "Method", "GameConfig", "GAME_KINDS", "LinearQuadraticGame",
           "TanhWGANGame", "DiracGame", "MLPGANGame", "DCGANGame", "PythonGame", "PositiveFloat",
           "check_exact_needs_lq", "format_validation_error", "load_toml", "parse_config", "read_config",
           "tomllib"]

#: How a study computes its expectations: exact moments (linear-quadratic games) or Monte Carlo.
Method = Literal["exact", "monte-carlo"]

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Vector = list[float]
Matrix = list[list[float]]


class StrictModel(BaseModel):
    """The base of every configuration: unknown fields are errors, no coercion, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --------------------------------------------------------------------------- games


class LinearQuadraticGame(StrictModel):
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
        from ..games.linear_quadratic import make_spec

        try:
            return make_spec(self.A, self.C, self.D, self.sigma_theta, self.sigma_omega,
                             self.theta0, self.omega0, self.sigma_theta_omega)
        except ValueError as err:
            raise ValueError(str(err)) from None

    def build(self):
        from ..games.linear_quadratic import linear_quadratic

        return linear_quadratic(self.spec())


class TanhWGANGame(StrictModel):
    kind: Literal["tanh-wgan"]
    n_latent: int = Field(32, ge=1, le=10**7)
    n_data: int = Field(32, ge=1, le=10**7)
    d_z: int = Field(1, ge=1, le=10**4)
    d_x: int = Field(1, ge=1, le=10**4)
    theta_star: float = Field(1.5, allow_inf_nan=False)
    theta0: Union[float, Vector] = 0.5
    omega0: Union[float, Vector] = 0.5
    seed: int = 0
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)

    def build(self):
        from ..games.base import with_weight_decay
        from ..games.tanh_wgan import tanh_wgan

        game = tanh_wgan(self.n_latent, self.n_data, self.d_z, self.d_x, self.theta_star,
                         self.theta0, self.omega0, self.seed)
        return with_weight_decay(game, self.weight_decay)

    def generator(self):
        """``(theta -> generated samples over the game's latent set, the real data)``."""
        import jax.numpy as jnp

        game = self.build()
        z, x = game.terms[1].data, game.terms[0].data
        return (lambda theta: jnp.tanh(z @ theta.reshape(self.d_x, self.d_z).T)), x


class DiracGame(StrictModel):
    kind: Literal["dirac"]
    loss: Literal["vanilla", "non-saturating", "wgan"] = "vanilla"
    dim: int = Field(1, ge=1, le=10**6)
    theta0: Union[float, Vector] = 1.0
    omega0: Union[float, Vector] = 1.0
    reg: float = Field(0.0, ge=0, allow_inf_nan=False)
    data_std: float = Field(0.0, ge=0, allow_inf_nan=False)
    n_data: int = Field(16, ge=1, le=10**7)
    seed: int = 0

    def build(self):
        from ..games.dirac import dirac_gan

        return dirac_gan(self.loss, self.dim, self.theta0, self.omega0, self.reg,
                         self.data_std, self.n_data, self.seed)


class MLPGANGame(StrictModel):
    kind: Literal["mlp-gan"]
    dataset: Literal["ring", "grid", "digits"] = "ring"
    setting: Literal["pacgan", "wgan-gp"] = "pacgan"
    n_data: int = Field(256, ge=1, le=10**7)
    data_seed: int = 0
    loss: Literal["vanilla", "non-saturating", "wgan", "wgan-gp"] = "vanilla"
    latent_dim: int = Field(2, ge=1, le=10**4)
    hidden: int = Field(16, ge=1, le=10**5)
    depth: int = Field(2, ge=1, le=100)
    n_latent: int = Field(256, ge=1, le=10**7)
    gp_weight: float = Field(10.0, ge=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    seed: int = 0

    @model_validator(mode="after")
    def _digits_subset(self):
        if self.dataset == "digits" and self.n_data > 1797:
            raise ValueError(f"n_data must be at most 1797 (the digits), got {self.n_data}")
        return self

    def mixture(self):
        from ..datasets import grid, ring

        if self.dataset == "ring":
            return ring(self.n_data, self.data_seed, self.setting)
        return grid(self.n_data, self.data_seed)

    def samples(self):
        """The real samples: the mixture's, or ``n_data`` digits drawn by ``data_seed``."""
        if self.dataset != "digits":
            return self.mixture().samples
        import numpy as np

        from ..datasets import digits

        images, _ = digits()
        return images[np.random.default_rng(self.data_seed).permutation(len(images))[:self.n_data]]

    def build_gan(self):
        from ..games.mlp_gan import mlp_gan

        return mlp_gan(self.samples(), latent_dim=self.latent_dim, hidden=self.hidden,
                       depth=self.depth, loss=self.loss, gp_weight=self.gp_weight,
                       weight_decay=self.weight_decay, n_latent=self.n_latent, seed=self.seed)

    def build(self):
        return self.build_gan().game

    def generator(self):
        gan = self.build_gan()
        z = gan.game.terms[1].data
        return (lambda theta: gan.generate(theta, z)), gan.game.terms[0].data


class DCGANGame(StrictModel):
    kind: Literal["dcgan"]
    loss: Literal["vanilla", "non-saturating", "wgan", "wgan-gp"] = "non-saturating"
    width: int = Field(32, ge=1, le=4096)
    latent_dim: int = Field(16, ge=1, le=10**4)
    n_data: Optional[int] = Field(None, ge=1, le=1797)
    n_latent: int = Field(2048, ge=1, le=10**7)
    n_penalty: int = Field(512, ge=1, le=10**7)
    gp_weight: float = Field(10.0, ge=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    seed: int = 0
    data_seed: int = 0

    def build_gan(self):
        from ..games.dcgan import dcgan

        return dcgan(**self.model_dump(exclude={"kind"}))

    def build(self):
        return self.build_gan().game

    def generator(self):
        gan = self.build_gan()
        z = gan.game.terms[1].data
        return (lambda theta: gan.generate(theta, z)), gan.game.terms[0].data


class PythonGame(StrictModel):
    """A game written in Python: ``entry = "module:function"`` returning a ``Game``."""

    kind: Literal["python"]
    entry: str
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("entry")
    @classmethod
    def _module_and_function(cls, entry):
        module, _, function = entry.partition(":")
        if not (module and function and all(p.isidentifier() for p in module.split("."))
                and function.isidentifier()):
            raise ValueError(f"entry must be 'module:function' (e.g. 'my_games:make_game'), "
                             f"got {entry!r}")
        return entry

    def build(self):
        from ..games.base import Game

        module_name, _, function = self.entry.partition(":")
        cwd = str(Path.cwd())
        added = cwd not in sys.path
        if added:
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(module_name)
        except Exception as err:  # noqa: BLE001 - any failure to import is the user's to fix
            raise ConfigError(f"config error: game.entry: cannot import {module_name!r}: "
                              f"{type(err).__name__}: {err}") from None
        finally:
            if added:
                sys.path.remove(cwd)
        make = getattr(module, function, None)
        if not callable(make):
            raise ConfigError(f"config error: game.entry: module {module_name!r} has no "
                              f"callable {function!r}")
        try:
            game = make(**self.options)
        except TypeError as err:
            raise ConfigError(f"config error: game.options: {self.entry}: {err}") from None
        if not isinstance(game, Game):
            raise ConfigError(f"config error: game.entry: {self.entry} returned "
                              f"{type(game).__name__}, expected a gandyn.games.Game")
        return game


GameConfig = Annotated[Union[LinearQuadraticGame, TanhWGANGame, DiracGame, MLPGANGame,
                             DCGANGame, PythonGame], Field(discriminator="kind")]
GAME_KINDS = tuple(get_args(m.model_fields["kind"].annotation)[0]
                   for m in (LinearQuadraticGame, TanhWGANGame, DiracGame, MLPGANGame, DCGANGame,
                             PythonGame))


def check_exact_needs_lq(method: str, game) -> None:
    """Exact moments exist for linear-quadratic games only."""
    if method == "exact" and game.kind != "linear-quadratic":
        raise ValueError('method = "exact" needs a linear-quadratic game; '
                         'use method = "monte-carlo" for other games')


def distinct(values: Sequence, name: str) -> None:
    """Raise ``ValueError`` naming the first repeated value of ``values`` (a grid, seeds)."""
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{name} must be distinct ({v!r} is repeated)")
        seen.add(v)


def finite_positive(values: Sequence[float], name: str) -> None:
    """A ``ValueError`` naming the first entry of ``values`` that is not positive and finite."""
    for i, v in enumerate(values):
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be positive and finite ({name}[{i}] = {v})")


# --------------------------------------------------------------------------- errors


def _is_union_member(part) -> bool:
    """Parts pydantic adds to a location for union members: tags and type names."""
    return isinstance(part, str) and (part in GAME_KINDS or "[" in part or part in (
        "float", "int", "str", "bool", "list", "dict") or part.startswith("function-"))


def _model_at(model: type[BaseModel], loc: Sequence) -> Optional[type[BaseModel]]:
    """The config model at the raw pydantic location ``loc`` inside ``model``, if one is found.

    A union member is picked by the tag that follows its field in ``loc``.
    """
    current: Any = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [a for a in _flatten(field.annotation)
                      if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(candidates) > 1 and parts:
            tag = parts.pop(0)
            candidates = [c for c in candidates if "kind" in c.model_fields
                          and tag in get_args(c.model_fields["kind"].annotation)]
        current = candidates[0] if len(candidates) == 1 else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _flatten(annotation) -> list:
    args = get_args(annotation)
    if not args:
        return [annotation]
    return [a for arg in args for a in _flatten(arg)]


def _known(choices: Sequence[str]) -> str:
    return ", ".join(choices)


def format_validation_error(err: ValidationError, model: Optional[type[BaseModel]] = None,
                            options: bool = False) -> str:
    """One line for a pydantic error, in the user's words.

    Unknown fields are reported first (even when a required field is missing
    too), then the first other problem, as ``table.field: problem``. Tags and
    type names that pydantic adds to locations are dropped; a wrong game
    ``kind`` lists the kinds there are. With ``options`` the fields are named
    as command-line options (``eta_d`` as ``--eta-d``).
    """
    errors = sorted(err.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    kind = first.get("type")
    loc = [p for p in first.get("loc", ()) if not _is_union_member(p)]
    dotted = ".".join(str(p) for p in loc)
    if options and loc:
        dotted = "--" + str(loc[0]).replace("_", "-") + "".join(f"[{p}]" for p in loc[1:])
    value = first.get("input")
    ctx = first.get("ctx") or {}
    if kind == "extra_forbidden":
        name, parent = str(loc[-1]), loc[:-1]
        raw_parent = [p for p in first["loc"][:-1] if not (isinstance(p, str) and (
            "[" in p or p.startswith("function-")))]
        found = _model_at(model, raw_parent) if model is not None else None
        known = list(found.model_fields) if found is not None else []
        if not parent:
            if isinstance(value, dict):
                return f"unknown section [{name}] (known: {_known(known)})"
            return (f"unknown top-level key {name!r} (settings go in tables: "
                    + ", ".join(f"[{k}]" for k in known) + ")")
        table = ".".join(str(p) for p in parent)
        hint = difflib.get_close_matches(name, known, n=1)
        detail = f"did you mean {hint[0]!r}?" if hint else (
            f"known keys: {_known(known)}" if known else "")
        return f"{dotted}: unknown field (unknown key {name!r} in [{table}]" + (
            f"; {detail})" if detail else ")")
    if kind == "union_tag_invalid":
        return (f"{dotted}.kind must be one of {_known(GAME_KINDS)}; got {ctx.get('tag')!r}")
    if kind == "union_tag_not_found":
        return f"{dotted}.kind is missing: it must be one of {_known(GAME_KINDS)}"
    if kind == "missing":
        return f"{dotted}: missing (this field is required)"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"{dotted} must be one of {expected}; got {value!r}"
    msg = first.get("msg", "invalid value").removeprefix("Value error, ")
    msg = msg.replace("Input should be", "must be")
    if isinstance(value, (int, float, str, bool)) and kind != "value_error":
        msg += f"; got {value!r}"
    return f"{dotted}: {msg}" if dotted else msg


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


def read_config(model: type[BaseModel], path: Optional[str | Path] = None,
                overrides: Optional[dict] = None, default: Optional[dict] = None):
    """Validate the TOML file at ``path`` (or a copy of ``default``) into ``model``.

    ``overrides`` maps ``(table, key)`` to a value that replaces the file's (a
    command-line option, a report setting); ``None`` values are skipped.
    """
    import copy

    raw = copy.deepcopy(default) if path is None else load_toml(path)
    for (table, key), value in (overrides or {}).items():
        if value is None:
            continue
        if not isinstance(raw.get(table), dict):
            raise ConfigError(f"config error: {table}: missing table")
        raw[table][key] = value
    return parse_config(model, raw)


def parse_config(model: type[BaseModel], data: Any, what: str = "config", options: bool = False):
    """Validate ``data`` into ``model``; a problem becomes a one-line :class:`ConfigError`.

    ``what`` names the configuration in the message (``config error: …``,
    ``report config error: …``); ``options`` names fields as command-line
    options (for configs built from arguments).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{what} error: expected a table of settings, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{what} error: {format_validation_error(err, model, options)}") from None
