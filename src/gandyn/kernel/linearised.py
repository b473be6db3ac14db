"""The local spectrum of kernel GDA by automatic differentiation (any smooth kernel).

Two numerical routes, beside Theorem 1's closed form (:mod:`gandyn.kernel.theory`):

**Linearised map** (:func:`linearised_spectrum`). Around an equilibrium
``X̃*`` (Lemma 2, eq. (7)) the discriminator is ``f* = (1/λ)(K(·, X)p − K(·, X̃*)p̃)``.
A generated point only ever reads the discriminator's gradient at the points,
``v_j = ∇δf(x̃_j*)``, and perturbing the points moves ``δf`` along the features
``∂_y K(·, x̃_k*)``, whose Gram matrix is ``G_{jk} = ∂²K(x, y)/∂x∂y`` at
``(x̃_j*, x̃_k*)``. So ``v`` stays in the range of ``G`` and, with an orthonormal
basis ``U`` of that range, ``v = U c``, the perturbation ``(c, δ)`` obeys
(``q = 1 − λη_d``, ``P = diag(p̃) ⊗ I_d``, ``H = blockdiag ∇²f*(x̃_j*)``)::

    simultaneous:  c' = q c − η_d Uᵀ G P δ,     δ' = δ + η_g P (H δ + U c)
    d-first:       c' = q c − η_d Uᵀ G P δ,     δ' = δ + η_g P (H δ + U c')

Every eigenvalue of this ``(r + Nd)``-dimensional map moves a point (an
eigenvector with ``δ = 0`` forces ``c = 0``); every other discriminator
direction is multiplied by ``q``: the ``a`` mode. ``H`` and ``G`` come from
``jax.hessian``/``jax.jacfwd`` of the kernel, so any smooth kernel works, with
several targets, unequal masses and any number of points.

**Truncated full update map** (:func:`truncated_map_spectrum`). The state is
the whole simulation state of :mod:`gandyn.kernel.dynamics` with a memory of
``L`` steps: the target weight ``A``, the points and their last ``L``
positions. Its Jacobian at the equilibrium (``A = 1/λ``, every stored position
at ``X̃*``) is never formed; the leading eigenvalues come from ARPACK's
implicitly restarted Arnoldi method (``scipy.sparse.linalg.eigs``) on
Jacobian-vector products. The discriminator's memory
shows up as a ring of eigenvalues of modulus about ``|q|`` (the ``a`` mode
spread over the history), and a generator eigenvalue ``ρ`` is reproduced up
to about ``(|q|/|ρ|)^L``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .dynamics import KernelGDA
from .theory import ORDERS

__all__ = ["LinearisedSpectrum", "linearised_spectrum", "linearised_map",
           "truncated_map_spectrum", "equilibrium_residual"]


class LinearisedSpectrum(NamedTuple):
    generator: np.ndarray  # eigenvalues of the modes that move points, largest modulus first
    a: float  # 1 − λη_d, the discriminator-only mode
    residual: float  # max |∇f*(x̃_j*)|: how far X̃* is from an equilibrium (eq. (7))

    @property
    def rho_generator(self) -> float:
        return float(np.max(np.abs(self.generator))) if self.generator.size else 0.0

    @property
    def rho_joint(self) -> float:
        return max(self.rho_generator, abs(self.a))


def _equilibrium_discriminator(game: KernelGDA, x_star, sigma, lam):
    K = game.kernel.fn

    def f_star(u):
        real = jnp.sum(game.p * jax.vmap(lambda x: K(u, x, sigma))(game.targets))
        fake = jnp.sum(game.p_gen * jax.vmap(lambda x: K(u, x, sigma))(x_star))
        return (real - fake) / lam

    return f_star


@eqx.filter_jit
def _residual(game: KernelGDA, x_star, sigma):
    f_star = _equilibrium_discriminator(game, x_star, sigma, 1.0)
    return jnp.max(jnp.abs(jax.vmap(jax.grad(f_star))(x_star)))


def equilibrium_residual(game: KernelGDA, x_star, *, sigma, lam=1.0) -> float:
    """``λ · max_j |∇f*(x̃_j*)|``: zero exactly at an equilibrium (Lemma 2)."""
    dtype = game.targets.dtype
    return float(_residual(game, jnp.asarray(x_star, dtype=dtype), jnp.asarray(sigma, dtype)))


def _default_equilibrium(game: KernelGDA):
    """Every generated point on the first target (built on the host: no device program)."""
    return np.broadcast_to(np.asarray(game.targets[0]), (game.n_gen, game.dim))


@eqx.filter_jit
def _curvatures(game: KernelGDA, x_star, sigma, lam):
    """``H = ∇²f*(x̃_j*)`` per point, ``(N, d, d)``, and the mixed kernel derivatives ``(N, N, d, d)``.

    One compiled program per (kernel, shapes): σ and λ are traced, so a sweep
    over them does not recompile.
    """
    f_star = _equilibrium_discriminator(game, x_star, sigma, lam)
    H = jax.vmap(jax.hessian(f_star))(x_star)
    mixed = jax.jacfwd(game.kernel.grad1, argnums=1)
    G = jax.vmap(lambda x: jax.vmap(lambda y: mixed(x, y, sigma))(x_star))(x_star)
    return H, G


def linearised_map(game: KernelGDA, x_star, *, sigma, lam, eta_d, eta_g,
                   order: str = "simultaneous", rank_tol: float = 1e-10) -> np.ndarray:
    """The matrix of the linearised map on ``(c, δ)`` described in the module docstring."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if not (sigma > 0 and lam > 0 and eta_d > 0 and eta_g > 0):
        raise ValueError("sigma, lam, eta_d and eta_g must be positive")
    dtype = game.targets.dtype
    x_star = jnp.asarray(x_star, dtype=dtype)
    n, d = x_star.shape
    H, G = (np.asarray(a) for a in _curvatures(game, x_star, jnp.asarray(sigma, dtype),
                                                jnp.asarray(lam, dtype)))
    G = G.transpose(0, 2, 1, 3).reshape(n * d, n * d)  # rows (j, m), columns (k, n)
    G = 0.5 * (G + G.T)
    w, V = np.linalg.eigh(G)
    U = V[:, w > rank_tol * max(w.max(), 0.0)]
    P = np.kron(np.diag(np.asarray(game.p_gen)), np.eye(d))
    Hb = np.zeros((n * d, n * d))
    for j in range(n):
        Hb[j * d:(j + 1) * d, j * d:(j + 1) * d] = H[j]
    q = 1.0 - lam * eta_d
    r = U.shape[1]
    top = np.hstack([q * np.eye(r), -eta_d * U.T @ G @ P])
    if order == "simultaneous":
        bottom = np.hstack([eta_g * P @ U, np.eye(n * d) + eta_g * P @ Hb])
    else:
        bottom = np.hstack([eta_g * q * P @ U,
                            np.eye(n * d) + eta_g * P @ Hb - eta_g * eta_d * P @ G @ P])
    return np.vstack([top, bottom])


def linearised_spectrum(game: KernelGDA, x_star=None, *, sigma, lam, eta_d, eta_g,
                        order: str = "simultaneous") -> LinearisedSpectrum:
    """Eigenvalues of the linearised update map at ``x_star`` (default: every point on target 0)."""
    if x_star is None:
        x_star = _default_equilibrium(game)
    J = linearised_map(game, x_star, sigma=sigma, lam=lam, eta_d=eta_d, eta_g=eta_g, order=order)
    eig = np.linalg.eigvals(J)
    eig = eig[np.argsort(-np.abs(eig), kind="stable")]
    return LinearisedSpectrum(eig, 1.0 - lam * eta_d,
                              equilibrium_residual(game, x_star, sigma=sigma))


def _full_map(game: KernelGDA, sigma, lam, eta_d, eta_g, order, memory, n, d):
    """The simulation step as a map of one flat state ``(A, x, x_{t−1}, …, x_{t−L})``."""
    q = 1.0 - lam * eta_d
    grad1 = jax.grad(game.kernel.fn, argnums=0)
    pair = jax.vmap(jax.vmap(grad1, (None, 0, None)), (0, None, None))
    decay = eta_d * q ** jnp.arange(memory)

    def force(x, A, hist):
        real = jnp.einsum("jid,i->jd", pair(x, game.targets, sigma), game.p)
        w = (decay[:, None] * game.p_gen[None, :]).reshape(-1)
        fake = jnp.einsum("jcd,c->jd", pair(x, hist.reshape(-1, d), sigma), w)
        return A * real - fake

    def F(state):
        A, x, hist = state[0], state[1:1 + n * d].reshape(n, d), state[1 + n * d:].reshape(memory, n, d)
        new_hist = jnp.concatenate([x[None], hist[:-1]])
        new_A = q * A + eta_d
        grad = force(x, A, hist) if order == "simultaneous" else force(x, new_A, new_hist)
        x_new = x + eta_g * game.p_gen[:, None] * grad
        return jnp.concatenate([new_A[None], x_new.reshape(-1), new_hist.reshape(-1)])

    return F


def truncated_map_spectrum(game: KernelGDA, x_star=None, *, sigma, lam, eta_d, eta_g,
                           order: str = "simultaneous", memory: Optional[int] = None,
                           k: int = 6, block: Optional[int] = None, power: int = 64,
                           krylov_blocks: int = 4, tol: float = 1e-9, max_restarts: int = 100,
                           seed: int = 0) -> np.ndarray:
    """The ``k`` leading eigenvalues (with multiplicity) of the full update map, largest modulus first.

    The map is the simulation step of :mod:`gandyn.kernel.dynamics` on the state
    ``(A, x, x_{t−1}, …, x_{t−L})`` with ``L = memory`` (default: the steps after
    which ``q^L < 1e-32``), linearised at the equilibrium by ``jax.linearize``;
    only Jacobian-vector products are used (one jitted JVP per matrix-vector
    product). The eigensolver is ARPACK's implicitly restarted Arnoldi method
    (``scipy.sparse.linalg.eigs``, ``which="LM"``) on the similarity-scaled
    Jacobian ``S J S⁻¹`` (below), with a Krylov space of
    ``ncv = max(block · krylov_blocks, 2k + 1)`` vectors (at most the state's
    dimension), at most ``max_restarts`` restarts and relative accuracy ``tol``
    of the Ritz values, from a start vector drawn with ``seed``. ``block``
    (default ``k + 2``, at least ``k``) and ``krylov_blocks`` only size that
    space; ``power`` is accepted for compatibility and unused.

    Cutting the memory at ``L`` steps moves an eigenvalue ``ρ`` of the
    untruncated dynamics by about ``(|q|/|ρ|)^L`` and adds a ring of ``L``
    eigenvalues of modulus ``|q|(1 + O(1/L))`` (the discriminator's memory:
    the ``a`` mode spread over the stored steps). So this route resolves the
    generator eigenvalues well outside ``|q|``; for those near or inside it
    use :func:`linearised_spectrum`.

    Raises ``ValueError`` unless ``1 ≤ k ≤ dim − 2`` (``dim = 1 + (L + 1)·N·d``,
    ARPACK's limit), ``block ≥ k``, ``krylov_blocks ≥ 1`` and
    ``max_restarts ≥ 1``; ``RuntimeError`` if the ``k`` leading pairs do not
    converge.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if not (sigma > 0 and lam > 0 and eta_d > 0 and eta_g > 0):
        raise ValueError("sigma, lam, eta_d and eta_g must be positive")
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if power < 1 or krylov_blocks < 1 or max_restarts < 1:
        raise ValueError("power, krylov_blocks and max_restarts must be at least 1")
    block = k + 2 if block is None else block
    if block < k:
        raise ValueError(f"block must be at least k = {k}, got {block}")
    q = 1.0 - lam * eta_d
    if memory is None:
        memory = 1 if q == 0 else (int(np.ceil(np.log(1e-32) / np.log(abs(q))))
                                   if abs(q) < 1 else 2000)
    if x_star is None:
        x_star = _default_equilibrium(game)
    x_star = np.asarray(x_star, dtype=game.targets.dtype)
    n, d = x_star.shape
    dim = 1 + (memory + 1) * n * d
    if k > dim - 2:
        raise ValueError(f"k = {k} eigenvalues asked of a map of dimension {dim} "
                         f"(1 + (memory + 1)·N·d with memory = {memory}): need k <= {dim - 2}")
    F = _full_map(game, sigma, lam, eta_d, eta_g, order, memory, n, d)
    dtype = x_star.dtype
    state = np.concatenate([np.array([1.0 / lam], dtype=dtype), np.tile(x_star.reshape(-1), memory + 1)])
    # Similarity S J S⁻¹ with S = |q|^k on the k-th stored position: the memory is a
    # shift register whose eigenvalues rounding would move out to eps^{1/L}; scaled,
    # every entry is O(1) and its ring of eigenvalues stays at radius ≈ |q|.
    scale = (np.concatenate([np.ones(1 + n * d, dtype=dtype),
                             np.repeat(abs(q) ** np.arange(memory, dtype=dtype), n * d)])
             if q else np.ones(dim, dtype=dtype))
    # One compiled JVP (the primal is a constant of the program): linearising eagerly
    # would compile every operation of the map on its own.
    J = jax.jit(lambda v: scale * jax.jvp(F, (state,), (v / scale,))[1])
    op = LinearOperator((dim, dim), dtype=dtype,
                        matvec=lambda v: np.asarray(J(np.ravel(v).astype(dtype))))
    ncv = min(dim, max(block * krylov_blocks, 2 * k + 1))
    v0 = np.random.default_rng(seed).standard_normal(dim).astype(dtype)
    try:
        values = eigs(op, k=k, which="LM", ncv=ncv, v0=v0, tol=tol, maxiter=max_restarts,
                      return_eigenvectors=False)
    except ArpackNoConvergence as err:
        raise RuntimeError(f"the {k} leading eigenvalues did not converge in {max_restarts} "
                           f"restarts ({len(err.eigenvalues)} did)") from None
    return values[np.argsort(-np.abs(values), kind="stable")]
