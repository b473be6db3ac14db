"""Local stability of gradient descent–ascent on any game: spectra of the update map.

The *mean* SGA update (full-batch gradients) is a map ``u ↦ F(u)``:

* ALT: ``n_disc`` times ``ω ← ω + η_ω g_ω(θ, ω)``, then ``θ ← θ − η_θ g_θ(θ, ω)``;
* SML: ``n_disc − 1`` discriminator steps, then ``(θ, ω) ← (θ − η_θ g_θ, ω + η_ω g_ω)``.

At a stationary point ``u*`` (``b0(u*) = 0``) the iterates converge locally
when the spectral radius of the Jacobian ``∂F/∂u(u*)`` is below 1, at the
rate ``−ln ρ`` per step. The Jacobian is formed densely (``jax.jacfwd``) for
small games; for large ones the leading eigenvalues come from Arnoldi
iterations (ARPACK via :func:`scipy.sparse.linalg.eigs`) on Jacobian-vector
products, so the Jacobian is never built.

For the Dirac-GAN of Mescheder et al. (2018) with a WGAN loss and
discriminator weight decay ``γ``, the SML map is ``I + η [[0, 1], [−1, −γ]]``
(stable iff ``η < γ`` when ``γ ≤ 2``; for ``γ > 2`` the eigenvalues of
``[[0, 1], [−1, −γ]]`` are real and the bound is ``η < γ − √(γ² − 4)``, e.g.
0.76 at ``γ = 3``; see docs/stability.md) and the ALT map ``[[1 − η², η(1 − ηγ)], [−η, 1 − ηγ]]``
(trace ``2 − η² − ηγ``, determinant ``1 − ηγ``; by the Jury conditions stable
iff ``η < √(γ² + 4) − γ`` for ``γ > 0``; without weight decay its
eigenvalues sit on the unit circle for ``η < 2``: neutral, no convergence);
the tests check both.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..games.base import Game
from ..sga import apply_sub_steps, sub_steps

__all__ = ["mean_update_map", "update_jacobian", "update_spectrum", "spectral_radius",
           "largest_stable_eta", "plot_spectrum"]


def mean_update_map(game: Game, scheme: str, eta_theta: float, eta_omega: Optional[float] = None,
                    n_disc: int = 1):
    """``u ↦ F(u)``: one full-batch SGA step of ``scheme`` (see module docstring).

    ``F`` is compiled (one program per game structure, scheme and rates), so
    calling it eagerly costs one dispatch; it can be transformed and jitted.
    """
    sub_steps(scheme, n_disc)  # checks the scheme and n_disc
    eta_omega = eta_theta if eta_omega is None else eta_omega

    def F(u):
        return _mean_update(game, u, scheme, eta_theta, eta_omega, n_disc)

    return F


@eqx.filter_jit
def _mean_update(game, u, scheme, eta_theta, eta_omega, n_disc):
    theta, omega = game.split(u)
    theta, omega = apply_sub_steps(theta, omega, lambda i, th, om: game.gradients(th, om),
                                   scheme, eta_theta, eta_omega, n_disc)
    return game.join(theta, omega)


def update_jacobian(game: Game, u_star, scheme: str, eta_theta: float, **kwargs) -> np.ndarray:
    """Dense ``∂F/∂u`` at ``u_star``."""
    return np.asarray(_update_jacobian(game, jnp.asarray(u_star), scheme, eta_theta, **kwargs))


@eqx.filter_jit
def _update_jacobian(game, u_star, scheme, eta_theta, **kwargs):
    # One compiled program (the game is a pytree, the rates are static); without jit,
    # jacfwd dispatches every operation of the map on its own.
    return jax.jacfwd(mean_update_map(game, scheme, eta_theta, **kwargs))(u_star)


def update_spectrum(game: Game, u_star, scheme: str, eta_theta: float, *, method: str = "dense",
                    k: int = 6, **kwargs) -> np.ndarray:
    """Eigenvalues of ``∂F/∂u(u_star)``, largest modulus first.

    ``method="dense"`` returns all of them; ``"arnoldi"`` the ``k`` of largest
    modulus from matrix-free Jacobian-vector products.
    """
    if method == "dense":
        eig = np.linalg.eigvals(update_jacobian(game, u_star, scheme, eta_theta, **kwargs))
    elif method == "arnoldi":
        from scipy.sparse.linalg import LinearOperator, eigs

        F = mean_update_map(game, scheme, eta_theta, **kwargs)
        u_star = jnp.asarray(u_star)
        _, jvp = jax.linearize(F, u_star)
        jvp = jax.jit(jvp)
        n = u_star.shape[0]
        if not 1 <= k < n - 1:
            raise ValueError(f"arnoldi needs 1 <= k < dim - 1 = {n - 1}")
        op = LinearOperator((n, n), matvec=lambda v: np.asarray(jvp(jnp.asarray(v, u_star.dtype))),
                            dtype=np.float64)
        eig = eigs(op, k=k, which="LM", return_eigenvectors=False, tol=1e-12)
    else:
        raise ValueError(f"method must be 'dense' or 'arnoldi', got {method!r}")
    return eig[np.argsort(-np.abs(eig), kind="stable")]


def spectral_radius(game: Game, u_star, scheme: str, eta_theta: float, **kwargs) -> float:
    return float(np.max(np.abs(update_spectrum(game, u_star, scheme, eta_theta, **kwargs))))


def largest_stable_eta(game: Game, u_star, scheme: str, *, ratio: float = 1.0, eta_max: float = 10.0,
                       grid: int = 200, tol: float = 1e-6, **kwargs) -> Optional[float]:
    """Largest ``η_θ`` (with ``η_ω = ratio · η_θ``) below which the spectral radius is < 1.

    Scans a geometric grid from ``eta_max·1e-4`` to ``eta_max`` for the first
    unstable value, then bisects the boundary to ``tol``. ``None`` when even the
    smallest step is unstable (a linearly unstable equilibrium); ``eta_max``
    when no unstable value is found.
    """
    if kwargs.get("method", "dense") == "dense":
        # One compiled Jacobian for every η (η is traced, not baked in): the scan and the
        # bisection then cost an eigenvalue call each instead of a fresh jacfwd trace.
        map_kwargs = {k: v for k, v in kwargs.items() if k != "method"}
        u = jnp.asarray(u_star)
        jacobian = jax.jit(lambda eta: jax.jacfwd(
            mean_update_map(game, scheme, eta, eta_omega=ratio * eta, **map_kwargs))(u))
        rho = lambda eta: float(np.max(np.abs(np.linalg.eigvals(np.asarray(
            jacobian(jnp.asarray(eta, u.dtype)))))))
    else:
        rho = lambda eta: spectral_radius(game, u_star, scheme, eta, eta_omega=ratio * eta,
                                          **kwargs)
    etas = np.geomspace(eta_max * 1e-4, eta_max, grid)
    stable = [rho(e) < 1.0 for e in etas]
    if not stable[0]:
        return None
    if all(stable):
        return float(eta_max)
    first_bad = stable.index(False)
    lo, hi = etas[first_bad - 1], etas[first_bad]
    while hi - lo > tol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rho(mid) < 1.0 else (lo, mid)
    return float(lo)


def plot_spectrum(eigenvalues, title: str = "spectrum of the update map", *,
                  symbol: str = r"\lambda"):
    """The eigenvalues in the complex plane with the unit circle (stability boundary).

    The limits hold every eigenvalue and the whole circle with a margin; the
    legend sits to the right of the axes. When all eigenvalues crowd into a
    spot too small to tell apart (under 15% of the axis), an inset magnifies
    it. ``symbol`` is the mathtext name of an eigenvalue (``r"\rho"`` for the
    kernel game's Theorem 1).
    """
    from ..io import new_figure

    eig = np.asarray(eigenvalues, dtype=complex).ravel()
    eig = eig[np.isfinite(eig)]
    fig = new_figure(figsize=(5.6, 4.2), layout="constrained")
    ax = fig.subplots()
    t = np.linspace(0, 2 * np.pi, 400)
    inside = np.abs(eig) < 1

    def draw(a, marker_size):
        a.plot(np.cos(t), np.sin(t), "k-", lw=0.8, label=rf"unit circle $|{symbol}| = 1$")
        if inside.any():
            a.plot(eig.real[inside], eig.imag[inside], "o", color="C0", ms=marker_size,
                   label=rf"stable ($|{symbol}| < 1$)")
        if (~inside).any():
            a.plot(eig.real[~inside], eig.imag[~inside], "x", color="C3", ms=marker_size + 1,
                   mew=1.8, label=rf"unstable ($|{symbol}| \geq 1$)")

    draw(ax, 6)
    re, im = (np.concatenate([[-1.0, 1.0], eig.real]), np.concatenate([[-1.0, 1.0], eig.imag]))
    half = 0.5 * max(re.max() - re.min(), im.max() - im.min())
    margin = 0.1 * half
    cx, cy = 0.5 * (re.max() + re.min()), 0.5 * (im.max() + im.min())
    ax.set_xlim(cx - half - margin, cx + half + margin)
    ax.set_ylim(cy - half - margin, cy + half + margin)
    ax.set_aspect("equal", adjustable="box")
    # Label the circle itself, at the top-left where eigenvalues of a stable map rarely sit.
    ax.annotate(rf"$|{symbol}| = 1$", (np.cos(2.25), np.sin(2.25)), textcoords="offset points",
                xytext=(-2, 2), ha="right", va="bottom", fontsize=9)
    ax.set_xlabel(rf"$\mathrm{{Re}}\,{symbol}$")
    ax.set_ylabel(rf"$\mathrm{{Im}}\,{symbol}$")
    ax.set_title(title)
    ax.grid(alpha=0.3)

    spread = max(np.ptp(eig.real), np.ptp(eig.imag)) if eig.size else 0.0
    width = 2 * (half + margin)
    if eig.size > 1 and 0 < spread < 0.15 * width:
        # Magnify the crowd, in the half of the axes away from it.
        zx, zy = float(np.mean(eig.real)), float(np.mean(eig.imag))
        fx = (zx - (cx - half - margin)) / width
        fy = (zy - (cy - half - margin)) / width
        size = 0.38  # room inside the axes for the inset's own tick labels
        x0 = float(np.clip(1 - fx - size / 2, 0.17, 0.95 - size))
        y0 = float(np.clip(1 - fy - size / 2, 0.15, 0.9 - size))
        ins = ax.inset_axes([x0, y0, size, size])
        draw(ins, 5)
        r = 0.75 * spread
        ins.set_xlim(zx - r, zx + r)
        ins.set_ylim(zy - r, zy + r)
        ins.set_aspect("equal", adjustable="box")
        from matplotlib.ticker import MaxNLocator

        ins.tick_params(labelsize=7)
        ins.xaxis.set_major_locator(MaxNLocator(3))
        ins.yaxis.set_major_locator(MaxNLocator(3))
        ins.set_title("magnified", fontsize=8)
        ins.grid(alpha=0.3)
        ax.indicate_inset_zoom(ins, edgecolor="0.4")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.03, 1.0), borderaxespad=0,
              frameon=False)
    return fig
