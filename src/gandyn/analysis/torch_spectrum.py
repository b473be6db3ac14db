r"""The step spectrum of a PyTorch GAN, through ``torch.func`` (needs ``torch``).

The same maps as :mod:`gandyn.analysis.update_maps` (the very same code:
:func:`~gandyn.analysis.update_maps.apply_step` is written with arithmetic
only, so it runs on tensors), the same operator kind (Jacobian–vector products
of the whole step, ``torch.func.jvp``), the same ARPACK solver
(:func:`gandyn.analysis.step_spectrum.arnoldi`) and the same
:class:`~gandyn.analysis.step_spectrum.Spectrum` results, for a generator and
a discriminator that are ``torch.nn.Module``\ s::

    import torch
    from gandyn.analysis.torch_spectrum import torch_gan_from_state_dicts, torch_step_spectrum
    from gandyn.analysis.update_maps import Adam

    gan = torch_gan_from_state_dicts(G, D, "G.pt", "D.pt", real=x, latent=z,  # checkpoints
                                     loss="vanilla")
    spec = torch_step_spectrum(gan, Adam(2e-4, betas=(0.5, 0.999)), method="arnoldi", k=20,
                               v=gan.second_moment())

The game is ``Φ(θ, ω) = mean_j f(D_ω(x_j)) + mean_i f(−D_ω(G_θ(z_i)))`` with
``f(t) = −log(1 + e^{−t})`` (``vanilla``; ``non-saturating``: θ instead
minimises ``mean_i softplus(−D(G(z_i)))``) or ``f(t) = t`` (``wgan``), on a
fixed batch ``x`` of real samples and ``z`` of latent points (as Berard et al.
2020 do, with 1000 images). ``D`` must treat the samples of a batch
independently (no BatchNorm in training mode; use ``eval()``), so that the
gradient of ``Σ_j D(x_j)`` is every sample's ``∇_x D``. Buffers are held
fixed. Importing this module imports ``torch``; nothing else in gandyn does.

Checkpoints: :func:`load_state_dict` reads a ``torch.save(module.state_dict())``
file into a module after checking it against the module (missing and
unexpected names, shapes), and :func:`torch_gan_from_state_dicts` does so for
both players and builds the :class:`TorchGAN`.
"""

from __future__ import annotations

import pickle
import time
from typing import Optional, Sequence

import numpy as np
import torch
from torch.func import functional_call, jacfwd, jvp, vjp

from ..errors import InputError
from .step_spectrum import WHICH, Spectrum, arnoldi, dense_spectrum
from .update_maps import StepState, apply_step, hyperparameters

__all__ = ["TorchGAN", "torch_training_step", "torch_step_spectrum", "torch_field_spectrum",
           "berard_operator", "load_state_dict", "torch_gan_from_state_dicts"]

LOSSES = ("vanilla", "non-saturating", "wgan")


class _Flat:
    """A module's parameters as one flat vector and back (``named_parameters`` order)."""

    def __init__(self, module: torch.nn.Module):
        self.module = module
        named = [(n, p) for n, p in module.named_parameters()]
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.buffers = {n: b.detach() for n, b in module.named_buffers()}
        self.flat0 = torch.cat([p.detach().reshape(-1) for _, p in named])

    def params(self, flat):
        chunks = torch.split(flat, self.sizes)
        return {n: c.view(s) for n, c, s in zip(self.names, chunks, self.shapes)}

    def __call__(self, flat, *args):
        return functional_call(self.module, (self.params(flat), self.buffers), args)


class TorchGAN:
    """A PyTorch GAN as a game on flat parameter vectors ``θ`` (generator) and ``ω`` (discriminator).

    ``r1``/``r2`` are Mescheder et al.'s gradient penalties on the
    discriminator (see :mod:`gandyn.analysis.update_maps`).
    """

    def __init__(self, generator: torch.nn.Module, discriminator: torch.nn.Module, real, latent,
                 loss: str = "vanilla", r1: float = 0.0, r2: float = 0.0):
        if loss not in LOSSES:
            raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if r1 < 0 or r2 < 0:
            raise InputError("r1 and r2 must be non-negative")
        self.G, self.D = _Flat(generator), _Flat(discriminator)
        self.real, self.latent = torch.as_tensor(real), torch.as_tensor(latent)
        self.loss, self.r1, self.r2 = loss, float(r1), float(r2)
        self.theta0, self.omega0 = self.G.flat0, self.D.flat0

    @property
    def d_theta(self) -> int:
        return int(self.theta0.numel())

    @property
    def d_omega(self) -> int:
        return int(self.omega0.numel())

    def _f(self, t):
        return t if self.loss == "wgan" else -torch.nn.functional.softplus(-t)

    def value(self, theta, omega):
        """``Φ(θ, ω)``, the loss ω ascends."""
        d_real = self.D(omega, self.real).reshape(-1)
        d_fake = self.D(omega, self.G(theta, self.latent)).reshape(-1)
        return self._f(d_real).mean() + self._f(-d_fake).mean()

    def generator_value(self, theta, omega):
        """``Φ_G(θ, ω)``, the loss θ descends (``Φ`` unless the loss is non-saturating)."""
        if self.loss != "non-saturating":
            return self.value(theta, omega)
        d_fake = self.D(omega, self.G(theta, self.latent)).reshape(-1)
        return torch.nn.functional.softplus(-d_fake).mean()

    def penalty(self, theta, omega):
        """``R1 + R2 = (γ₁/2) mean_j |∇_x D(x_j)|² + (γ₂/2) mean_i |∇_x D(G(z_i))|²``."""
        total = torch.zeros((), dtype=self.theta0.dtype)

        def mean_sq(x):
            g = torch.func.grad(lambda y: self.D(omega, y).sum())(x)
            return (g.reshape(g.shape[0], -1) ** 2).sum(1).mean()

        if self.r1:
            total = total + 0.5 * self.r1 * mean_sq(self.real)
        if self.r2:
            total = total + 0.5 * self.r2 * mean_sq(self.G(theta, self.latent))
        return total

    def field(self, theta, omega):
        """``(d_θ, d_ω) = (∇_θ Φ_G, −∇_ω Φ + ∇_ω R)``: the descent–ascent field ``F``."""
        g_theta = torch.func.grad(self.generator_value, argnums=0)(theta, omega)

        def d_loss(om):
            out = -self.value(theta, om)
            if self.r1 or self.r2:
                out = out + self.penalty(theta, om)
            return out

        return g_theta, torch.func.grad(d_loss)(omega)

    def second_moment(self, theta=None, omega=None):
        """``v = g²`` per coordinate at ``(θ, ω)``: the full-batch gradient's square.

        (The minibatch second moment of :func:`gandyn.analysis.update_maps.second_moment`
        needs per-sample gradients; give your own ``v`` for it, e.g. Adam's ``exp_avg_sq``
        from a ``torch.optim.Adam`` state.)
        """
        theta = self.theta0 if theta is None else theta
        omega = self.omega0 if omega is None else omega
        d_theta, d_omega = self.field(theta, omega)
        return d_theta.detach() ** 2, d_omega.detach() ** 2


def _names(names, limit: int = 5) -> str:
    names = sorted(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(repr(n) for n in names[:limit]) + more


def load_state_dict(module: torch.nn.Module, source, *, key: Optional[str] = None,
                    strip_prefix: Optional[str] = None, what: str = "module") -> torch.nn.Module:
    """Copy a saved ``state_dict`` into ``module``, after checking that it is ``module``'s.

    ``source`` is a file written by ``torch.save(module.state_dict())`` (read
    with ``torch.load(..., map_location="cpu", weights_only=True)``: tensors
    only, no code runs) or the mapping itself. ``key`` picks one entry of a
    file that holds several (``torch.save({"G": G.state_dict(), "D": …})``);
    ``strip_prefix`` is removed from the names that start with it (``"module."``
    in checkpoints of ``DataParallel``/``DistributedDataParallel`` models).

    The names must be exactly those of ``module.state_dict()`` (parameters
    and buffers) and every shape must match: anything else is an
    :class:`~gandyn.errors.InputError` that names ``what``, the file, the
    missing or unexpected names, or the first mismatched shapes. Values are
    cast to the module's dtype and device (``load_state_dict`` copies in
    place). Returns ``module``.
    """
    label = f"{what} checkpoint" + ("" if isinstance(source, dict) else f" {source}")
    if not isinstance(source, dict):
        try:
            source = torch.load(source, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(f"{label}: no such file") from None
        except Exception as err:  # noqa: BLE001 - an unreadable file is the user's to fix
            if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in str(err):
                # weights_only refuses objects other than tensors (and so runs no code)
                raise InputError(f"{label}: holds objects other than tensors (a whole module "
                                 "saved by torch.save(model)?): save module.state_dict() "
                                 "instead") from None
            first = (str(err).strip().splitlines() or [""])[0][:200]
            if isinstance(err, pickle.UnpicklingError):
                first = "not a file that torch.save wrote"  # torch's own text is a page long
            raise InputError(f"{label}: cannot read it as a torch.save file "
                             f"({type(err).__name__}: {first})") from None
    if key is not None:
        if not isinstance(source, dict) or key not in source:
            held = _names(source) if isinstance(source, dict) else type(source).__name__
            raise InputError(f"{label}: no entry {key!r} (it holds {held})")
        source = source[key]
    if not isinstance(source, dict) or not all(isinstance(k, str) for k in source):
        raise InputError(f"{label}: expected a state_dict (names to tensors), got "
                         f"{type(source).__name__}")
    if strip_prefix:
        source = {(k[len(strip_prefix):] if k.startswith(strip_prefix) else k): v
                  for k, v in source.items()}
    expected = module.state_dict()
    missing = set(expected) - set(source)
    unexpected = set(source) - set(expected)
    if missing or unexpected:
        parts = ([f"missing {_names(missing)}"] if missing else []) + (
            [f"unexpected {_names(unexpected)}"] if unexpected else [])
        hint = ""
        if unexpected and all(k.startswith("module.") for k in unexpected):
            hint = " (saved from DataParallel/DDP? pass strip_prefix=\"module.\")"
        elif key is None and unexpected and all(isinstance(v, dict) for v in source.values()):
            hint = " (a file of several state_dicts? pass key=...)"
        raise InputError(f"{label} does not match the {what}: " + "; ".join(parts) + hint)
    wrong = []
    for n, t in expected.items():
        if not isinstance(source[n], torch.Tensor):
            raise InputError(f"{label}: {n!r} is a {type(source[n]).__name__}, not a tensor")
        if source[n].shape != t.shape:
            wrong.append((n, tuple(source[n].shape), tuple(t.shape)))
    if wrong:
        shown = ", ".join(f"{n!r} is {s} in the file, {m} in the {what}" for n, s, m in wrong[:3])
        raise InputError(f"{label}: shapes do not match the {what}: {shown}"
                         + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""))
    module.load_state_dict(source, strict=True)
    return module


def torch_gan_from_state_dicts(generator: torch.nn.Module, discriminator: torch.nn.Module,
                               generator_state, discriminator_state, real, latent, *,
                               key: tuple = (None, None), strip_prefix: Optional[str] = None,
                               **gan_options) -> "TorchGAN":
    """A :class:`TorchGAN` at a checkpoint: both ``state_dict``s loaded (see :func:`load_state_dict`).

    ``generator`` and ``discriminator`` are modules of the saved architecture
    (their current weights are overwritten); ``key = (key_G, key_D)`` for
    files of several entries; ``gan_options`` (``loss``, ``r1``, ``r2``) go to
    :class:`TorchGAN`. Put a discriminator with BatchNorm in ``eval()`` mode
    first (see the module docstring).
    """
    load_state_dict(generator, generator_state, key=key[0], strip_prefix=strip_prefix,
                    what="generator")
    load_state_dict(discriminator, discriminator_state, key=key[1], strip_prefix=strip_prefix,
                    what="discriminator")
    return TorchGAN(generator, discriminator, real, latent, **gan_options)


class _Step:
    """One training step on flat tensors: ``T(x)`` for the flattened augmented state ``x``."""

    def __init__(self, gan: TorchGAN, optimizer, v=None):
        self.gan, self.optimizer = gan, optimizer
        kind = optimizer.kind
        if kind == "optax":
            raise InputError("an optax transformation has no PyTorch counterpart here; use "
                             "GDA, Momentum, Extragradient, Optimistic, Consensus, Adam or RMSprop")
        self.eta_theta, self.eta_omega = optimizer.rates
        self.precond = (None, None)
        if kind in ("adam", "rmsprop"):
            if v is None:
                raise InputError(f"{kind} freezes its preconditioner at a point: give v=(v_theta, "
                                 "v_omega) (e.g. gan.second_moment())")
            v_t, v_o = (torch.as_tensor(a, dtype=gan.theta0.dtype) for a in v)
            self.precond = (1.0 / (v_t.sqrt() + optimizer.eps), 1.0 / (v_o.sqrt() + optimizer.eps))
        self.hyper = hyperparameters(optimizer)
        self.field = self._consensus(optimizer.gamma) if kind == "consensus" else gan.field

    def _consensus(self, gamma):
        def field(theta, omega):
            (d_t, d_o), pull = vjp(self.gan.field, theta, omega)
            c_t, c_o = pull((d_t, d_o))  # J_Fᵀ F
            return d_t + gamma * c_t, d_o + gamma * c_o

        return field

    def init(self, theta, omega) -> StepState:
        kind = self.optimizer.kind
        if kind in ("momentum", "adam"):
            return StepState(theta, omega, {"m": torch.zeros_like(theta)},
                             {"m": torch.zeros_like(omega)})
        if kind == "optimistic":
            return StepState(theta, omega, theta, omega)
        return StepState(theta, omega)

    def _sizes(self):
        dt, do = self.gan.d_theta, self.gan.d_omega
        kind = self.optimizer.kind
        if kind in ("momentum", "adam", "optimistic"):
            return [dt, do, dt, do]
        return [dt, do]

    def flatten(self, state: StepState):
        parts = [state.theta, state.omega]
        for extra in (state.extra_theta, state.extra_omega):
            if isinstance(extra, dict):
                parts.append(extra["m"])
            elif isinstance(extra, torch.Tensor):
                parts.append(extra)
        return torch.cat(parts)

    def unflatten(self, x) -> StepState:
        parts = torch.split(x, self._sizes())
        kind = self.optimizer.kind
        if kind in ("momentum", "adam"):
            return StepState(parts[0], parts[1], {"m": parts[2]}, {"m": parts[3]})
        if kind == "optimistic":
            return StepState(*parts)
        return StepState(parts[0], parts[1])

    def __call__(self, x):
        state = apply_step(self.optimizer, self.field, self.unflatten(x), self.eta_theta,
                           self.eta_omega, self.precond, hyper=self.hyper)
        return self.flatten(state)


def torch_training_step(gan: TorchGAN, optimizer, *, v=None, theta=None, omega=None):
    """``(x0, T)``: the flattened augmented state at ``(θ, ω)`` and the step ``T`` on it.

    The state is ordered as in JAX: ``θ, ω`` then the generator's and the
    discriminator's optimiser state (zero momentum, or the past point equal
    to the point).
    """
    step = _Step(gan, optimizer, v)
    theta = gan.theta0 if theta is None else torch.as_tensor(theta, dtype=gan.theta0.dtype)
    omega = gan.omega0 if omega is None else torch.as_tensor(omega, dtype=gan.omega0.dtype)
    return step.flatten(step.init(theta, omega)).detach(), step


def _spectrum(T, x0, method, k, which, v0, tol, seed, n_residuals) -> Spectrum:
    started = time.perf_counter()
    if method == "dense":
        J = jacfwd(T)(x0).detach().cpu().numpy()
        return dense_spectrum(J, matvecs=J.shape[0], seconds=time.perf_counter() - started)
    if method != "arnoldi":
        raise InputError(f"method must be 'dense' or 'arnoldi', got {method!r}")

    def matvec(v):
        tangent = torch.as_tensor(v, dtype=x0.dtype, device=x0.device)
        return jvp(T, (x0,), (tangent,))[1].detach().cpu().numpy()

    spec = arnoldi(matvec, int(x0.numel()), k, which=which, v0=v0, tol=tol, seed=seed,
                   n_residuals=n_residuals)
    spec.seconds = time.perf_counter() - started
    return spec


def torch_step_spectrum(gan: TorchGAN, optimizer, *, theta=None, omega=None, v=None,
                        method: str = "dense", k: int = 6, which: Sequence[str] = WHICH,
                        v0: Optional[np.ndarray] = None, tol: float = 1e-10, seed: int = 0,
                        n_residuals: Optional[int] = None) -> Spectrum:
    """The spectrum of the training step of ``optimizer`` on ``gan`` (as :func:`~gandyn.analysis.step_spectrum.step_spectrum`)."""
    x0, step = torch_training_step(gan, optimizer, v=v, theta=theta, omega=omega)
    return _spectrum(step, x0, method, k, which, v0, tol, seed, n_residuals)


def torch_field_spectrum(gan: TorchGAN, *, theta=None, omega=None, method: str = "dense",
                         k: int = 6, which: Sequence[str] = WHICH, tol: float = 1e-10,
                         seed: int = 0) -> Spectrum:
    """Eigenvalues of the game Jacobian ``∂F/∂u`` of ``gan`` (forward mode, ``torch.func.jvp``)."""
    theta = gan.theta0 if theta is None else torch.as_tensor(theta, dtype=gan.theta0.dtype)
    omega = gan.omega0 if omega is None else torch.as_tensor(omega, dtype=gan.omega0.dtype)
    dt = gan.d_theta

    def F(u):
        return torch.cat(gan.field(u[:dt], u[dt:]))

    return _spectrum(F, torch.cat([theta, omega]).detach(), method, k, which, None, tol, seed,
                     None)


def berard_operator(gan: TorchGAN, theta=None, omega=None):
    """Berard et al.'s (2020) operator: the game Jacobian by double backpropagation.

    ``F`` is computed once with ``create_graph=True``; each product is then
    ``v ↦ Jᵀv = ∂(F·v)/∂u`` (``torch.autograd.grad`` with ``grad_outputs=v``,
    ``retain_graph=True``), which has the eigenvalues of ``J``. Returns a
    SciPy :class:`~scipy.sparse.linalg.LinearOperator` for ``eigs``, as in
    their code; the product count is ``op.matvecs[0]``.
    """
    from scipy.sparse.linalg import LinearOperator

    theta = (gan.theta0 if theta is None else torch.as_tensor(theta)).detach().clone()
    omega = (gan.omega0 if omega is None else torch.as_tensor(omega)).detach().clone()
    theta.requires_grad_(True)
    omega.requires_grad_(True)
    g_theta = torch.autograd.grad(gan.generator_value(theta, omega), theta, create_graph=True)[0]
    d_loss = -gan.value(theta, omega)
    if gan.r1 or gan.r2:
        d_loss = d_loss + gan.penalty(theta, omega)
    d_omega = torch.autograd.grad(d_loss, omega, create_graph=True)[0]
    field = torch.cat([g_theta, d_omega])
    n = field.numel()
    count = [0]

    def matvec(v):
        count[0] += 1
        w = torch.as_tensor(np.ravel(v), dtype=field.dtype)
        parts = torch.autograd.grad(field, (theta, omega), grad_outputs=w, retain_graph=True,
                                    allow_unused=True)
        parts = [torch.zeros_like(p) if g is None else g for g, p in zip(parts, (theta, omega))]
        return torch.cat(parts).detach().cpu().numpy()

    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    op.matvecs = count
    return op
