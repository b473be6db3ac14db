"""Exact simulation of kernel GDA, Becker et al. eq. (5).

The discriminator is held exactly, as kernel centres. With ``f⁰ = 0`` and
``q = 1 − λη_d``, after ``n`` discriminator updates (5a)::

    fⁿ = A_n Σ_i p_i K(·, x_i) − η_d Σ_{s<n} q^{n−1−s} Σ_j p̃_j K(·, x̃_j^s),
    A_{n+1} = q A_n + η_d,   A_0 = 0     (so A_n = (1 − qⁿ)/λ),

and a generator step (5b) moves every point along ``p̃_j ∇fⁿ(x̃_j)``. Two
orders of the two half-steps are offered, and every result names its order:

* ``"simultaneous"``: eq. (5) as written, ``x̃^{t+1} = x̃^t + η_g p̃ ∇f^t(x̃^t)``;
  Theorem 1 is about this one.
* ``"d-first"``: the discriminator steps first, ``x̃^{t+1} = x̃^t + η_g p̃ ∇f^{t+1}(x̃^t)``;
  this is Lemma 1 as printed (sum to ``t``) and the authors' code.

The discriminator starts at ``f⁰ = 0`` (the paper, the authors' code), or,
with ``warm_start=x_star``, at the equilibrium discriminator of points that
had always sat at ``x_star``: ``f⁰ = (1/λ)[Σ_i p_i K(·, x_i) − Σ_j p̃_j K(·, x*_j)]``.
Then ``A_n = 1/λ`` for all ``n`` and the pre-history adds
``−(qⁿ/λ) Σ_j p̃_j K(·, x*_j)`` to ``fⁿ``. From ``f⁰ = 0`` the first
``~1/(λη_d)`` steps are a build-up of the discriminator, which short runs see
instead of the local rate; a warm start measures the local rate at once.

Past generated points are kept in a ring buffer of ``memory`` steps; the
default keeps every step (exact). A finite memory drops centres older than
``memory`` steps, whose weight is at most ``q^memory``: :func:`memory_for`
turns a weight cut-off ``ε`` into ``⌈ln ε / ln q⌉`` steps (the authors' code
uses ``int(ln ε / ln q)``; pass that to reproduce it). Dropping centres
leaves the target term alone, so a cut-off shifts the mass balance of the
equilibrium by at most ``ε N p̃``.

``memory="rounding"`` drops exactly what cannot matter: every centre of age
``a`` weighs ``η_d q^a p̃_j`` and every kernel gradient is at most
``G = max|∇₁K|``, so the whole tail beyond ``L`` steps is at most
``G P̃ q^L / λ`` (``P̃ = Σ_j p̃_j``), while the history term itself is of size up
to ``G P̃ / λ`` and is rounded at ``ε_mach`` of that. With ``q^L ≤ ε_mach / 2``
(:func:`rounding_memory`) the dropped tail is below the exact sum's own
rounding, whatever the kernel: the trajectory equals the exact history's to
rounding, and a step costs ``O(L)`` instead of ``O(t)``.

The buffer is processed in blocks, and only the blocks already written are
visited, so step ``t`` costs ``O(min(t, memory) · N · (N + N_r) · d)``.
All hyperparameters may be arrays of one shape: :func:`simulate` then runs
every configuration in one vmapped, jitted call.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .kernels import Kernel, rbf
from .theory import ORDERS

__all__ = ["KernelGDA", "Trajectory", "simulate", "memory_for", "rounding_memory",
           "nearest_target"]

_BLOCK = 128


class KernelGDA(eqx.Module):
    """The data of the game: targets ``x_i`` with masses ``p_i``, generated masses ``p̃_j``, kernel."""

    targets: jax.Array  # (N_r, d)
    p: jax.Array  # (N_r,)
    p_gen: jax.Array  # (N,)
    kernel: Kernel

    def __init__(self, targets, p=None, p_gen=None, n_gen: Optional[int] = None,
                 kernel: Optional[Kernel] = None):
        # Validated and built in NumPy (no device programs), then moved over once.
        # Floating targets keep their precision (float32 under x64 too); the
        # whole simulation runs in it.
        targets = np.atleast_2d(np.asarray(targets))
        if not np.issubdtype(targets.dtype, np.floating):
            targets = targets.astype(jnp.asarray(0.0).dtype)
        if targets.ndim != 2 or targets.shape[0] < 1:
            raise ValueError("targets must be an (N_r, d) array with N_r >= 1")
        n_r, dtype = targets.shape[0], targets.dtype
        p = np.full((n_r,), 1.0 / n_r, dtype) if p is None else np.broadcast_to(
            np.asarray(p, dtype=dtype), (n_r,))
        if p_gen is None:
            if n_gen is None:
                raise ValueError("give p_gen (masses of the generated points) or n_gen")
            p_gen = np.full((n_gen,), 1.0 / n_gen, dtype)
        else:
            p_gen = np.atleast_1d(np.asarray(p_gen, dtype=dtype))
            if n_gen is not None:
                p_gen = np.broadcast_to(p_gen, (n_gen,))
        if not (np.all(p > 0) and np.all(p_gen > 0)):
            raise ValueError("masses p and p_gen must be positive")
        if not np.all(np.isfinite(targets)):
            raise ValueError("targets must be finite")
        self.targets, self.p, self.p_gen = (jnp.asarray(a) for a in (targets, p, p_gen))
        self.kernel = rbf() if kernel is None else kernel

    @property
    def dim(self) -> int:
        return self.targets.shape[1]

    @property
    def n_gen(self) -> int:
        return self.p_gen.shape[0]


class Trajectory(NamedTuple):
    """What :func:`simulate` returns (leading axes: the configurations' shape)."""

    positions: np.ndarray  # (..., n_records, N, d): x̃ at steps 0, every, 2·every, ...
    steps: np.ndarray  # (n_records,) the step of each record
    order: str
    memory: int
    diverged: np.ndarray  # (...,) bool: a position became non-finite or passed the bound


def memory_for(eps: float, lam: float, eta_d: float) -> int:
    """Steps after which a past centre's weight ``q^age`` falls below ``eps``."""
    q = 1.0 - lam * eta_d
    if not 0 < eps < 1:
        raise ValueError("the weight cut-off eps must lie in (0, 1)")
    if not 0 < abs(q) < 1:
        return 1 if q == 0 else 2**62
    return max(1, math.ceil(math.log(eps) / math.log(abs(q))))


def rounding_memory(lam, eta_d, dtype=jnp.float64) -> int:
    """Steps of history beyond which the kernel force's tail is below ``dtype``'s rounding.

    ``⌈ln(ε/2) / ln|q|⌉`` with ``q = 1 − λη_d`` and ``ε`` the machine epsilon of
    ``dtype`` (see the module docstring); for arrays of ``λ`` and ``η_d``, the
    largest over them. ``2^62`` (keep everything) when some ``|q| ≥ 1``.
    """
    eps = float(jnp.finfo(dtype).eps)
    lams, etas = np.broadcast_arrays(np.asarray(lam, float), np.asarray(eta_d, float))
    return max(memory_for(eps / 2, float(l), float(e)) for l, e in zip(lams.ravel(), etas.ravel()))


def _run_one(game: KernelGDA, sigma, lam, eta_d, eta_g, x0, x_star, *, steps: int, memory: int,
             every: int, order: str, warm: bool):
    n_gen, d = x0.shape
    q = 1.0 - lam * eta_d
    zero = jnp.zeros((), x0.dtype)
    # Warm start: A = 1/λ throughout, and a pre-history of weight W_n = qⁿ/λ at x_star.
    A0, W0 = (1.0 / lam + zero, 1.0 / lam + zero) if warm else (zero, zero)
    n_blocks = -(-memory // _BLOCK)
    buffer = jnp.zeros((n_blocks * _BLOCK, n_gen, d), x0.dtype)
    slots = jnp.arange(n_blocks * _BLOCK)
    target_force = lambda u: game.kernel.force(u, game.targets, game.p, sigma)

    def push(buffer, x, t):
        return buffer.at[t % memory].set(x)

    def force(x, buffer, A, W, n):
        """``∇fⁿ(x̃_j)`` with ``n`` discriminator updates done (newest centre: step n − 1)."""
        age = jnp.mod(n - 1 - slots, memory)
        valid = (slots < memory) & (age < n)
        weights = jnp.where(valid, eta_d * q ** jnp.where(valid, age, 0), 0.0)
        used = jnp.minimum(n_blocks, (jnp.minimum(n, memory) + _BLOCK - 1) // _BLOCK)

        def block(i, acc):
            centres = jax.lax.dynamic_slice_in_dim(buffer, i * _BLOCK, _BLOCK)
            w = jax.lax.dynamic_slice_in_dim(weights, i * _BLOCK, _BLOCK)
            w = (w[:, None] * game.p_gen[None, :]).reshape(-1)
            return acc + game.kernel.force(x, centres.reshape(-1, d), w, sigma)

        history = jax.lax.fori_loop(0, used, block, jnp.zeros_like(x))
        if warm:
            history = history + W * game.kernel.force(x, x_star, game.p_gen, sigma)
        return A * target_force(x) - history

    def step(carry, t):
        x, buffer, A, W = carry
        if order == "simultaneous":
            grad = force(x, buffer, A, W, t)
            buffer, A, W = push(buffer, x, t), q * A + eta_d, q * W
        else:
            buffer, A, W = push(buffer, x, t), q * A + eta_d, q * W
            grad = force(x, buffer, A, W, t + 1)
        x_new = x + eta_g * game.p_gen[:, None] * grad
        return (x_new, buffer, A, W), None

    def record_block(carry, t0):
        carry, _ = jax.lax.scan(step, carry, t0 + jnp.arange(every))
        return carry, carry[0]

    carry = (x0, buffer, A0, W0)
    _, records = jax.lax.scan(record_block, carry, jnp.arange(steps // every) * every)
    positions = jnp.concatenate([x0[None], records])
    return positions, None


@eqx.filter_jit
def _run_batch(game, sigma, lam, eta_d, eta_g, x0, x_star, steps, memory, every, order, warm):
    fn = lambda s, l, ed, eg, x, xs: _run_one(game, s, l, ed, eg, x, xs, steps=steps,
                                              memory=memory, every=every, order=order, warm=warm)
    return jax.vmap(fn)(sigma, lam, eta_d, eta_g, x0, x_star)


def simulate(game: KernelGDA, x0, *, sigma, lam, eta_d, eta_g, steps: int,
             order: str = "simultaneous", memory: Optional[int | str] = None, every: int = 1,
             bound: Optional[float] = None, warm_start=None) -> Trajectory:
    """Run kernel GDA from ``x0`` for ``steps`` steps, for one or many configurations.

    ``sigma, lam, eta_d, eta_g`` are scalars or arrays broadcast to a common
    shape ``S``; ``x0`` is ``(N, d)`` or ``S + (N, d)``. Positions are kept
    every ``every`` steps (``steps`` must be a multiple of it). ``memory``
    (default ``steps``: exact) is the number of past steps whose centres the
    discriminator keeps; ``"rounding"`` keeps the :func:`rounding_memory`
    steps whose centres can still change the force (the exact history to
    rounding, at a fraction of the cost of long runs). ``warm_start`` (``(N, d)`` or one per configuration,
    like ``x0``; needs ``λ > 0``) starts the discriminator at the equilibrium
    of points sitting at ``warm_start`` instead of at ``f⁰ = 0`` (see the
    module docstring). A configuration whose points leave the floats is
    flagged in ``diverged``; the others are unaffected.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if steps < 1 or every < 1 or steps % every:
        raise ValueError("steps and every must be positive and every must divide steps")
    if memory == "rounding":
        memory = rounding_memory(lam, eta_d, game.targets.dtype)
    elif isinstance(memory, str):
        raise ValueError(f"memory must be a number of steps or 'rounding', got {memory!r}")
    memory = steps if memory is None else int(memory)
    if memory < 1:
        raise ValueError("memory must be at least 1 step")
    memory = min(memory, steps)
    dtype = np.dtype(game.targets.dtype)  # inputs prepared in NumPy: no device programs
    arrays = [np.asarray(v, dtype) for v in (sigma, lam, eta_d, eta_g)]
    for name, v in zip(("sigma", "lam", "eta_d", "eta_g"), arrays):
        if not np.all(np.asarray(v) >= 0) or (name in ("sigma", "eta_d") and
                                              not np.all(np.asarray(v) > 0)):
            raise ValueError(f"{name} must be {'positive' if name in ('sigma', 'eta_d') else 'non-negative'}")
    shape = np.broadcast_shapes(*(v.shape for v in arrays))
    x0 = np.asarray(x0, dtype)
    if x0.shape[-2:] != (game.n_gen, game.dim):
        raise ValueError(f"x0 must end in shape (n_gen, d) = {(game.n_gen, game.dim)}, got {x0.shape}")
    x0 = np.broadcast_to(x0, shape + x0.shape[-2:])
    warm = warm_start is not None
    if warm:
        if not np.all(np.asarray(arrays[1]) > 0):
            raise ValueError("warm_start needs lam > 0 (the equilibrium discriminator is 1/λ times the mass gap)")
        x_star = np.asarray(warm_start, dtype)
        if x_star.shape[-2:] != (game.n_gen, game.dim) or not np.all(np.isfinite(np.asarray(x_star))):
            raise ValueError(f"warm_start must be finite and end in shape {(game.n_gen, game.dim)}, "
                             f"got {x_star.shape}")
        x_star = np.broadcast_to(x_star, x0.shape)
    else:
        x_star = x0
    flat = [np.broadcast_to(v, shape).reshape(-1) for v in arrays]
    positions, _ = _run_batch(game, *flat, x0.reshape((-1,) + x0.shape[-2:]),
                              x_star.reshape((-1,) + x0.shape[-2:]), steps, memory, every, order,
                              warm)
    # The rest is on the host, in NumPy: a few reductions are not worth a compilation each.
    positions = np.asarray(positions).reshape(shape + positions.shape[1:])
    if bound is None:
        bound = 1e6 * (1.0 + float(np.max(np.abs(np.asarray(game.targets)))))
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.max(np.abs(positions), axis=(-3, -2, -1))
        diverged = ~np.all(np.isfinite(positions), axis=(-3, -2, -1)) | (size > bound)
    return Trajectory(positions, np.arange(0, steps + 1, every), order, memory, diverged)


def nearest_target(game: KernelGDA, positions) -> tuple:
    """For each point: the index of the nearest target and the distance to it."""
    diff = np.asarray(positions)[..., :, None, :] - np.asarray(game.targets)
    dist = np.sqrt(np.sum(diff * diff, axis=-1))
    return np.argmin(dist, axis=-1), np.min(dist, axis=-1)
