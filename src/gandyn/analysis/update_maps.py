r"""Update maps of a whole training step, on the augmented state ``z = (θ, ω, optimiser state)``.

A training step of a GAN is a map ``T: z ↦ z⁺`` on the *augmented* state: both
players' parameters and whatever the optimiser carries between steps (a
momentum buffer, the past point of optimistic GDA). Local stability of
training at a fixed point ``z*`` of ``T`` is the spectrum of its Jacobian
``∂T/∂z(z*)`` (:mod:`gandyn.analysis.step_spectrum`): the iterates converge
locally when the spectral radius is below 1.

Notation. ``F = −b0 = (g_θ, −g_ω)`` is the game's descent–ascent field
(Cao & Guo eq. 9): ``g_θ = ∇_θ Φ_G`` is the generator's gradient (θ descends
it) and ``g_ω = ∇_ω Φ`` the discriminator's (ω ascends it), so every player
*descends* its own component ``d_θ = g_θ``, ``d_ω = −g_ω`` of ``F``. The
rates are ``η_θ = eta`` and ``η_ω = eta_omega`` (two time-scale updates, TTUR;
``eta_omega`` defaults to ``eta``). All gradients are full-batch (the mean
update).

The maps (``P`` is a player; ``order`` and ``n_disc`` as in :mod:`gandyn.sga`:
alternating = ``n_disc`` discriminator updates, then the generator's at the new
ω; simultaneous = ``n_disc − 1`` discriminator updates, then both players from
one evaluation of ``F``):

* :class:`GDA`, gradient descent–ascent: ``P ← P − η_P d_P``.
* :class:`Momentum`, heavy ball in the buffer form of ``torch.optim.SGD`` and
  ``optax.sgd(momentum=β)``: ``m_P ← β m_P + d_P``, ``P ← P − η_P m_P``
  (equivalently ``P⁺ = P − η_P d_P + β (P − P⁻)``, Polyak 1964; any real β,
  negative included, Gidel et al. 2019). State ``(θ, ω, m_θ, m_ω)``.
* :class:`Extragradient` (Korpelevich 1976): ``z½ = z − ηF(z)``,
  ``z⁺ = z − ηF(z½)`` (η per player). Simultaneous only.
* :class:`Optimistic` GDA (Daskalakis et al. 2018): ``z⁺ = z − 2ηF(z) + ηF(z⁻)``
  with the past point ``z⁻`` in the state ``(z, z⁻)``, ``z⁻⁺ = z``.
* :class:`Consensus` optimisation (Mescheder et al. 2017): GDA on the field
  ``F_γ = F + γ ∇(½|F|²) = F + γ J_Fᵀ F`` (a vector–Jacobian product).
* :class:`RMSprop` and :class:`Adam` **linearised with the preconditioner
  frozen at the point**: the second-moment estimate ``v`` is *not* part of the
  state; it is held at its value at the point, ``p_P = 1/(√v_P + ε)``, and
  the map is ``P ← P − η_P p_P ⊙ d_P`` (RMSprop) or ``m_P ← β₁ m_P + (1 − β₁)
  d_P``, ``P ← P − η_P p_P ⊙ m_P`` (Adam, bias corrections at their limit
  1, i.e. late in training). At a stationary point with ``m = 0`` this is the
  exact Jacobian of Adam in ``(z, m)``: ``∂v⁺/∂z = 2(1 − β₂) g ∂g = 0`` there and
  the update's derivative in ``v`` is proportional to ``m = 0``, so the full
  Jacobian in ``(z, m, v)`` is block-triangular and adds only the eigenvalues
  ``β₂`` of the ``v`` block (``tests/test_step_spectrum.py`` checks this against
  ``optax.adam``). Away from a stationary point it is an approximation.
* :class:`OptaxOptimizer`: any ``optax.GradientTransformation`` per player, fed
  the player's descent direction ``d_P`` as its "gradient": ``u, s ← tx.update(
  d_P, s, P)``, ``P ← P + scale · u``. The state is the transformation's state
  (its integer leaves, e.g. Adam's count, are held fixed when linearising).

Gradient penalties (Mescheder, Geiger & Nowozin 2018, eqs. 9–10) regularise the
discriminator only: ``R1(ω) = (γ₁/2) E_{x∼data} |∇_x D_ω(x)|²`` and
``R2(θ, ω) = (γ₂/2) E_z |∇_x D_ω(x)|²_{x=G_θ(z)}``; ω ascends ``Φ − R1 − R2``,
so ``d_ω = −g_ω + ∇_ω R``. ``∇_ω R`` holds ``∇_ω ∇_x D`` and its Jacobian
third derivatives of ``D``: all by automatic differentiation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Literal, NamedTuple, Optional, get_args

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..errors import InputError
from ..games.base import Game

__all__ = ["Order", "ORDERS", "OptimizerKind", "OPTIMIZER_KINDS", "GDA", "Momentum",
           "Extragradient", "Optimistic", "Consensus", "Adam", "RMSprop", "OptaxOptimizer",
           "GradientPenalty", "StepState", "TrainingStep", "training_step", "second_moment",
           "descent_field", "flat_map", "sub_updates", "apply_step", "player_update",
           "with_rates", "hyperparameters", "skeleton"]

#: The two update orders of the players.
Order = Literal["simultaneous", "alternating"]
ORDERS: tuple[str, ...] = get_args(Order)

#: The optimisers of ``[optimizer] kind`` (``gandyn spectrum``).
OptimizerKind = Literal["gda", "momentum", "extragradient", "optimistic", "consensus", "adam",
                        "rmsprop"]
OPTIMIZER_KINDS: tuple[str, ...] = get_args(OptimizerKind)


def _positive(name, value):
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 < value < float("inf")):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")


def _finite(name, value):
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and abs(value) < float("inf")):
        raise InputError(f"{name} must be a finite number, got {value!r}")


def sub_updates(order: str, n_disc: int = 1) -> tuple[str, ...]:
    """The sub-updates of one step: ``"omega"``, ``"theta"`` or ``"both"``, in order.

    Alternating: ``n_disc`` discriminator updates, then the generator's;
    simultaneous: ``n_disc − 1`` discriminator updates, then both players from
    one evaluation (the sequence of :func:`gandyn.sga.sub_steps`).
    """
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if not (isinstance(n_disc, int) and not isinstance(n_disc, bool) and n_disc >= 1):
        raise InputError(f"n_disc must be a positive integer, got {n_disc!r}")
    if order == "alternating":
        return ("omega",) * n_disc + ("theta",)
    return ("omega",) * (n_disc - 1) + ("both",)


# --------------------------------------------------------------------------- optimisers
#
# Each optimiser is a frozen dataclass of plain numbers: equal by value and hashable, so a
# TrainingStep (which holds it as a static field) compiles once per optimiser and the step
# sizes, held as array leaves, can change without recompiling.


@dataclass(frozen=True)
class _Rates:
    """The step sizes ``η_θ = eta`` and ``η_ω = eta_omega`` (default ``eta``)."""

    def _check_rates(self):
        _positive("eta", self.eta)
        if self.eta_omega is not None:
            _positive("eta_omega", self.eta_omega)

    @property
    def rates(self) -> tuple[float, float]:
        return float(self.eta), float(self.eta if self.eta_omega is None else self.eta_omega)


@dataclass(frozen=True)
class GDA(_Rates):
    """Gradient descent–ascent: ``P ← P − η_P d_P`` per player, in ``order``."""

    eta: float
    eta_omega: Optional[float] = None
    order: Order = "simultaneous"
    n_disc: int = 1
    kind: ClassVar[str] = "gda"

    def __post_init__(self):
        self._check_rates()
        sub_updates(self.order, self.n_disc)


@dataclass(frozen=True)
class Momentum(_Rates):
    """Heavy ball: ``m_P ← β m_P + d_P``, ``P ← P − η_P m_P`` (any finite β, negative too)."""

    eta: float
    beta: float
    eta_omega: Optional[float] = None
    order: Order = "simultaneous"
    n_disc: int = 1
    kind: ClassVar[str] = "momentum"

    def __post_init__(self):
        self._check_rates()
        _finite("beta", self.beta)
        sub_updates(self.order, self.n_disc)


@dataclass(frozen=True)
class Extragradient(_Rates):
    """``z½ = z − ηF(z)``, ``z⁺ = z − ηF(z½)``, with ``η = (η_θ, η_ω)`` per player."""

    eta: float
    eta_omega: Optional[float] = None
    kind: ClassVar[str] = "extragradient"
    order: ClassVar[str] = "simultaneous"
    n_disc: ClassVar[int] = 1

    def __post_init__(self):
        self._check_rates()


@dataclass(frozen=True)
class Optimistic(_Rates):
    """Optimistic GDA: ``z⁺ = z − 2ηF(z) + ηF(z⁻)``; state ``(z, z⁻)``."""

    eta: float
    eta_omega: Optional[float] = None
    kind: ClassVar[str] = "optimistic"
    order: ClassVar[str] = "simultaneous"
    n_disc: ClassVar[int] = 1

    def __post_init__(self):
        self._check_rates()


@dataclass(frozen=True)
class Consensus(_Rates):
    """Consensus optimisation: simultaneous GDA on ``F + γ J_Fᵀ F`` (γ ≥ 0)."""

    eta: float
    gamma: float
    eta_omega: Optional[float] = None
    n_disc: int = 1
    kind: ClassVar[str] = "consensus"
    order: ClassVar[str] = "simultaneous"

    def __post_init__(self):
        self._check_rates()
        _finite("gamma", self.gamma)
        if self.gamma < 0:
            raise InputError(f"gamma must be non-negative, got {self.gamma!r}")
        sub_updates(self.order, self.n_disc)


@dataclass(frozen=True)
class RMSprop(_Rates):
    """RMSprop with the preconditioner ``1/(√v + ε)`` frozen at the point (see module docstring)."""

    eta: float
    eps: float = 1e-8
    eta_omega: Optional[float] = None
    order: Order = "simultaneous"
    n_disc: int = 1
    kind: ClassVar[str] = "rmsprop"

    def __post_init__(self):
        self._check_rates()
        _positive("eps", self.eps)
        sub_updates(self.order, self.n_disc)


@dataclass(frozen=True)
class Adam(_Rates):
    """Adam with the preconditioner frozen at the point: ``m ← β₁m + (1 − β₁)d``, ``P ← P − η p ⊙ m``.

    ``betas = (β₁, β₂)``; β₂ only sets how ``v`` is estimated, not the map
    (the frozen ``v`` is not part of the state).
    """

    eta: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    eta_omega: Optional[float] = None
    order: Order = "simultaneous"
    n_disc: int = 1
    kind: ClassVar[str] = "adam"

    def __post_init__(self):
        self._check_rates()
        _positive("eps", self.eps)
        if not (len(self.betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1
                                             for b in self.betas)):
            raise InputError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        sub_updates(self.order, self.n_disc)


@dataclass(frozen=True)
class OptaxOptimizer:
    """Any ``optax.GradientTransformation`` per player: ``P ← P + scale · tx.update(d_P, s, P)``.

    ``omega`` defaults to the same transformation as ``theta``. ``scale``
    multiplies the updates (for a transformation linear in its learning rate,
    that is the learning rate's factor: the step-size scans vary it).
    Two optimisers are equal when they hold the same transformation objects.
    """

    theta: Any
    omega: Any = None
    order: Order = "simultaneous"
    n_disc: int = 1
    scale: float = 1.0
    kind: ClassVar[str] = "optax"

    def __post_init__(self):
        for name in ("theta", "omega"):
            tx = getattr(self, name)
            if tx is not None and not (hasattr(tx, "init") and hasattr(tx, "update")):
                raise InputError(f"{name} must be an optax GradientTransformation, got "
                                 f"{type(tx).__name__}")
        if self.theta is None:
            raise InputError("theta must be an optax GradientTransformation, got None")
        _positive("scale", self.scale)
        sub_updates(self.order, self.n_disc)

    @property
    def rates(self) -> tuple[float, float]:
        return float(self.scale), float(self.scale)

    @property
    def eta(self) -> float:
        return float(self.scale)

    @property
    def eta_omega(self) -> float:
        return float(self.scale)


def with_rates(optimizer, eta_theta, eta_omega):
    """``optimizer`` with the step sizes ``(η_θ, η_ω)`` (the ``scale`` of an optax one)."""
    if isinstance(optimizer, OptaxOptimizer):
        return replace(optimizer, scale=eta_theta)
    return replace(optimizer, eta=eta_theta, eta_omega=eta_omega)


# --------------------------------------------------------------------------- penalties


def _linear_critic(omega, x):
    """Dirac-GAN's discriminator ``D_ω(x) = ω·x``."""
    return omega @ x


def _point_generator(theta, z):
    """Dirac-GAN's generator: the point mass at θ, whatever the latent ``z``."""
    return theta


@dataclass(frozen=True)
class GradientPenalty:
    """R1 / R2 on the discriminator (Mescheder et al. 2018, eqs. 9–10).

    ``critic(omega, x)`` is the discriminator's scalar output ``D_ω(x)`` on
    one sample; ``generator(theta, z)`` a generated sample. R1 averages over
    the data of term ``real_term``, R2 over the generator's outputs on the
    latent points of term ``fake_term``. :meth:`for_game` fills the hooks of
    the built-in Dirac-GAN and MLP GANs.
    """

    r1: float = 0.0
    r2: float = 0.0
    critic: Optional[Callable] = None
    generator: Optional[Callable] = None
    real_term: int = 0
    fake_term: int = 1

    def __post_init__(self):
        for name in ("r1", "r2"):
            v = getattr(self, name)
            _finite(name, v)
            if v < 0:
                raise InputError(f"{name} must be non-negative, got {v!r}")
        if self.r1 or self.r2:
            if self.critic is None:
                raise InputError("r1/r2 need the discriminator: GradientPenalty(critic=...) "
                                 "or GradientPenalty.for_game(game, ...)")
            if self.r2 and self.generator is None:
                raise InputError("r2 needs the generator: GradientPenalty(generator=...)")

    @property
    def active(self) -> bool:
        return bool(self.r1 or self.r2)

    @classmethod
    def for_game(cls, game: Game, r1: float = 0.0, r2: float = 0.0) -> "GradientPenalty":
        """The penalty on a built-in Dirac-GAN or MLP GAN (the discriminator read off the game)."""
        from ..games.dirac import _Real as DiracReal
        from ..games.mlp_gan import _Real as MLPReal

        real = game.terms[0].loss if game.terms else None
        if isinstance(real, DiracReal):
            return cls(r1, r2, _linear_critic, _point_generator)
        if isinstance(real, MLPReal):
            return cls(r1, r2, real.D, real.G)
        if r1 or r2:
            raise InputError(f"r1/r2 need a GAN's discriminator; the game {game.name!r} is not a "
                             "Dirac-GAN or an MLP GAN (pass GradientPenalty(critic=..., "
                             "generator=...) from Python)")
        return cls()

    def value(self, game: Game, theta: Array, omega: Array, r1=None, r2=None) -> Array:
        """``R1(ω) + R2(θ, ω)`` (with the weights ``r1``, ``r2`` in place of the penalty's own:
        a :class:`TrainingStep` passes them as traced leaves)."""
        r1 = self.r1 if r1 is None else r1
        r2 = self.r2 if r2 is None else r2
        grad_x = jax.grad(self.critic, argnums=1)

        def mean_sq(xs):
            g = jax.vmap(grad_x, (None, 0))(omega, xs)
            return jnp.mean(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1))

        total = jnp.zeros((), theta.dtype)
        if self.r1:
            total = total + 0.5 * r1 * mean_sq(game.terms[self.real_term].data)
        if self.r2:
            fake = jax.vmap(self.generator, (None, 0))(theta, game.terms[self.fake_term].data)
            total = total + 0.5 * r2 * mean_sq(fake)
        return total


def descent_field(game: Game, penalty: Optional[GradientPenalty] = None, gamma=None,
                  weights: tuple = (None, None)):
    """``(θ, ω) ↦ (d_θ, d_ω)``: the descent–ascent field ``F = (g_θ, −g_ω + ∇_ω R)``.

    With ``gamma`` (not ``None``) the consensus field ``F + γ J_Fᵀ F`` (one VJP
    of ``F``); ``weights = (r1, r2)`` replace the penalty's own weights.
    """

    def field(theta, omega):
        g_theta, g_omega = game.gradients(theta, omega)
        d_omega = -g_omega
        if penalty is not None and penalty.active:
            d_omega = d_omega + jax.grad(lambda om: penalty.value(game, theta, om, *weights))(omega)
        return g_theta, d_omega

    if gamma is None:
        return field

    def consensus(theta, omega):
        (d_theta, d_omega), vjp = jax.vjp(field, theta, omega)
        c_theta, c_omega = vjp((d_theta, d_omega))  # J_Fᵀ F = ∇(½|F|²)
        return d_theta + gamma * c_theta, d_omega + gamma * c_omega

    return consensus


# --------------------------------------------------------------------------- the step


class StepState(NamedTuple):
    """The augmented state: the players and what the optimiser carries for each of them.

    ``extra_theta``/``extra_omega``: ``()`` for GDA, extragradient and
    consensus, ``{"m": …}`` for momentum and Adam, the past point for
    optimistic GDA, the transformation's state for optax.
    """

    theta: Any
    omega: Any
    extra_theta: Any = ()
    extra_omega: Any = ()


def _frozen_preconditioner(v, eps):
    return 1.0 / (jnp.sqrt(v) + eps)


def hyperparameters(optimizer) -> dict:
    """The optimiser's numbers other than its rates that enter the map: ``beta``, ``b1``, ``gamma``."""
    kind = optimizer.kind
    if kind == "momentum":
        return {"beta": float(optimizer.beta)}
    if kind == "adam":
        return {"b1": float(optimizer.betas[0])}
    if kind == "consensus":
        return {"gamma": float(optimizer.gamma)}
    return {}


def skeleton(optimizer):
    """``optimizer`` with every number at a canonical value: what the compiled program depends on.

    A :class:`TrainingStep` holds the rates, :func:`hyperparameters` and the
    frozen preconditioner as traced leaves, so two steps that differ only in
    those numbers share their compilations.
    """
    kind = optimizer.kind
    if kind == "optax":
        return replace(optimizer, scale=1.0)
    changes = {"eta": 1.0, "eta_omega": None}
    if kind == "momentum":
        changes["beta"] = 0.0
    elif kind == "consensus":
        changes["gamma"] = 0.0
    elif kind == "adam":
        changes.update(betas=(0.0, 0.0), eps=1.0)
    elif kind == "rmsprop":
        changes["eps"] = 1.0
    return replace(optimizer, **changes)


def player_update(optimizer, p, extra, d, eta, precond, hyper):
    """One player's update ``(P, extra) ↦ (P⁺, extra⁺)`` from its direction ``d`` (any backend).

    ``hyper`` holds :func:`hyperparameters`. Written with arithmetic only, so
    the same code runs on JAX arrays and on PyTorch tensors
    (:mod:`gandyn.analysis.torch_spectrum`).
    """
    kind = optimizer.kind
    if kind in ("gda", "consensus"):
        return p - eta * d, extra
    if kind == "momentum":
        m = hyper["beta"] * extra["m"] + d
        return p - eta * m, {"m": m}
    if kind == "rmsprop":
        return p - eta * precond * d, extra
    if kind == "adam":
        b1 = hyper["b1"]
        m = b1 * extra["m"] + (1.0 - b1) * d
        return p - eta * precond * m, {"m": m}
    raise InputError(f"no per-player update for optimizer kind {kind!r}")  # pragma: no cover


def apply_step(optimizer, field, state: StepState, eta_theta, eta_omega, precond=(None, None),
               optax_update=None, hyper=None) -> StepState:
    """One training step of ``optimizer`` on ``state`` with the field ``field(θ, ω)`` (any backend).

    ``optax_update(player, d, s, p) -> (p⁺, s⁺)`` serves the optax optimiser;
    ``hyper`` (default :func:`hyperparameters` of ``optimizer``) its numbers.
    """
    hyper = hyperparameters(optimizer) if hyper is None else hyper
    theta, omega, x_theta, x_omega = state
    kind = optimizer.kind
    if kind == "extragradient":
        d_theta, d_omega = field(theta, omega)
        half_theta, half_omega = theta - eta_theta * d_theta, omega - eta_omega * d_omega
        d_theta, d_omega = field(half_theta, half_omega)
        return StepState(theta - eta_theta * d_theta, omega - eta_omega * d_omega, x_theta, x_omega)
    if kind == "optimistic":
        d_theta, d_omega = field(theta, omega)
        p_theta, p_omega = field(x_theta, x_omega)  # F at the past point z⁻
        return StepState(theta - 2 * eta_theta * d_theta + eta_theta * p_theta,
                         omega - 2 * eta_omega * d_omega + eta_omega * p_omega, theta, omega)
    for who in sub_updates(optimizer.order, optimizer.n_disc):
        d_theta, d_omega = field(theta, omega)
        new_theta, new_x_theta = theta, x_theta
        if who in ("theta", "both"):
            if kind == "optax":
                new_theta, new_x_theta = optax_update("theta", d_theta, x_theta, theta)
            else:
                new_theta, new_x_theta = player_update(optimizer, theta, x_theta, d_theta,
                                                       eta_theta, precond[0], hyper)
        if who in ("omega", "both"):
            if kind == "optax":
                omega, x_omega = optax_update("omega", d_omega, x_omega, omega)
            else:
                omega, x_omega = player_update(optimizer, omega, x_omega, d_omega, eta_omega,
                                               precond[1], hyper)
        theta, x_theta = new_theta, new_x_theta
    return StepState(theta, omega, x_theta, x_omega)


class TrainingStep(eqx.Module):
    """``T: StepState → StepState``, one training step of ``optimizer`` on ``game``.

    Build it with :func:`training_step`. The step sizes, the frozen
    preconditioner, β, β₁, γ and the penalty weights are array leaves (traced);
    what is static is the optimiser's and the penalty's :func:`skeleton`: so
    :meth:`with_eta`, and any step that differs in those numbers only, runs
    the same compiled programs.
    """

    game: Game
    eta_theta: Array
    eta_omega: Array
    precond_theta: Optional[Array]
    precond_omega: Optional[Array]
    hyper: dict
    optimizer: Any = eqx.field(static=True)
    penalty: Optional[GradientPenalty] = eqx.field(static=True, default=None)

    def field(self, theta, omega):
        """The field this step follows: ``F``, with the penalty and the consensus term."""
        gamma = self.hyper["gamma"] if self.optimizer.kind == "consensus" else None
        return descent_field(self.game, self.penalty, gamma,
                             (self.hyper.get("r1"), self.hyper.get("r2")))(theta, omega)

    def init(self, theta=None, omega=None, opt_state=None) -> StepState:
        """The augmented state at ``(θ, ω)`` (default the game's initial point).

        The optimiser's state starts as at a fixed point: zero momentum, the
        past point equal to the point, optax's ``init`` (or ``opt_state =
        (state_θ, state_ω)``, e.g. from a training run).
        """
        theta = self.game.theta0 if theta is None else jnp.asarray(theta)
        omega = self.game.omega0 if omega is None else jnp.asarray(omega)
        kind = self.optimizer.kind
        if kind in ("momentum", "adam"):
            return StepState(theta, omega, {"m": jnp.zeros_like(theta)},
                             {"m": jnp.zeros_like(omega)})
        if kind == "optimistic":
            return StepState(theta, omega, theta, omega)
        if kind == "optax":
            if opt_state is None:
                opt_state = (self.optimizer.theta.init(theta), self._omega_tx().init(omega))
            return StepState(theta, omega, *opt_state)
        return StepState(theta, omega)

    def _omega_tx(self):
        return self.optimizer.omega if self.optimizer.omega is not None else self.optimizer.theta

    def __call__(self, state: StepState) -> StepState:
        def optax_update(player, d, s, p):
            tx = self.optimizer.theta if player == "theta" else self._omega_tx()
            scale = self.eta_theta if player == "theta" else self.eta_omega
            updates, s = tx.update(d, s, p)
            return p + scale * updates, s

        return apply_step(self.optimizer, self.field, state, self.eta_theta, self.eta_omega,
                          (self.precond_theta, self.precond_omega), optax_update, self.hyper)

    @property
    def eta(self) -> float:
        return float(self.eta_theta)

    @property
    def ratio(self) -> float:
        """``η_ω / η_θ``, kept by :meth:`with_eta`."""
        return float(self.eta_omega / self.eta_theta)

    def with_eta(self, eta) -> "TrainingStep":
        """The same step at ``η_θ = eta``, ``η_ω = ratio · eta`` (no recompilation)."""
        eta = jnp.asarray(eta, self.eta_theta.dtype)
        ratio = self.eta_omega / self.eta_theta
        return eqx.tree_at(lambda s: (s.eta_theta, s.eta_omega), self, (eta, ratio * eta))


def second_moment(game: Game, theta, omega, batch_size: int = 1) -> tuple[Array, Array]:
    """``v = E[(g^B)²]`` per coordinate: Adam's and RMSprop's second moment at a point.

    For minibatches of ``B`` samples per term, drawn i.i.d.,
    ``E[(g^B)²] = g² + Σ_terms Var_k(∇J_term,k)/B`` (per coordinate), from
    one pass over every term's samples (memory ``O(dim)``).
    """
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return _second_moment(game, jnp.asarray(theta), jnp.asarray(omega), batch_size)


@eqx.filter_jit
def _second_moment(game, theta, omega, batch_size):
    g_theta, g_omega = game.gradients(theta, omega)
    var_theta, var_omega = jnp.zeros_like(theta), jnp.zeros_like(omega)
    for term in game.terms:
        gt = jax.grad(term.theta_loss(), 0)
        go = jax.grad(term.loss, 1)
        n = term.size

        def body(i, acc, term=term, gt=gt, go=go):
            s = jax.tree_util.tree_map(lambda a: a[i], term.data)
            a, b = gt(theta, omega, s), go(theta, omega, s)
            return (acc[0] + a, acc[1] + a * a, acc[2] + b, acc[3] + b * b)

        zero_t, zero_o = jnp.zeros_like(theta), jnp.zeros_like(omega)
        st, sst, so, sso = jax.lax.fori_loop(0, n, body, (zero_t, zero_t, zero_o, zero_o))
        var_theta = var_theta + jnp.clip(sst / n - (st / n) ** 2, 0.0, None)
        var_omega = var_omega + jnp.clip(sso / n - (so / n) ** 2, 0.0, None)
    return g_theta ** 2 + var_theta / batch_size, g_omega ** 2 + var_omega / batch_size


def training_step(game: Game, optimizer, *, penalty: Optional[GradientPenalty] = None,
                  v: Optional[tuple] = None, at: Optional[tuple] = None,
                  batch_size: int = 1) -> TrainingStep:
    """The training step of ``optimizer`` on ``game`` (see the module docstring for the maps).

    Adam and RMSprop freeze their preconditioner ``1/(√v + ε)``: give
    ``v = (v_θ, v_ω)``, or ``at = (θ, ω)`` to use :func:`second_moment` there
    (with ``batch_size``).
    """
    if not hasattr(optimizer, "kind"):
        raise InputError(f"optimizer must be one of gandyn's optimisers or OptaxOptimizer, got "
                         f"{type(optimizer).__name__}")
    eta_theta, eta_omega = optimizer.rates
    dtype = game.theta0.dtype
    precond = (None, None)
    if optimizer.kind in ("adam", "rmsprop"):
        if v is None:
            if at is None:
                raise InputError(f"{optimizer.kind} freezes its preconditioner at a point: give "
                                 "v=(v_theta, v_omega) or at=(theta, omega)")
            v = second_moment(game, *at, batch_size=batch_size)
        v_theta, v_omega = (jnp.asarray(a, dtype) for a in v)
        if v_theta.shape != game.theta0.shape or v_omega.shape != game.omega0.shape:
            raise InputError("v must have the players' shapes "
                             f"({game.d_theta},) and ({game.d_omega},)")
        precond = (_frozen_preconditioner(v_theta, optimizer.eps),
                   _frozen_preconditioner(v_omega, optimizer.eps))
    hyper = {k: jnp.asarray(v, dtype) for k, v in hyperparameters(optimizer).items()}
    if penalty is not None and not penalty.active:
        penalty = None
    if penalty is not None:
        hyper.update(r1=jnp.asarray(penalty.r1, dtype), r2=jnp.asarray(penalty.r2, dtype))
        penalty = replace(penalty, r1=float(bool(penalty.r1)), r2=float(bool(penalty.r2)))
    return TrainingStep(game, jnp.asarray(eta_theta, dtype), jnp.asarray(eta_omega, dtype),
                        precond[0], precond[1], hyper, skeleton(optimizer), penalty)


def flat_map(step: TrainingStep, state: StepState):
    """``(x0, T_flat)``: the state's floating-point leaves as one vector and the step on it.

    Integer leaves (an optax count) are held at their value at the point;
    ``T_flat(x)`` is the flattened float part of ``T(state with x)``.
    """
    from jax.flatten_util import ravel_pytree

    params, static = eqx.partition(state, eqx.is_inexact_array)
    x0, unravel = ravel_pytree(params)

    def T(x):
        new = step(eqx.combine(unravel(x), static))
        return ravel_pytree(eqx.filter(new, eqx.is_inexact_array))[0]

    return x0, T
