"""Figures for kernel GDA: Figure 2 (phase diagrams) and Figure 3 (predicted vs simulated)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_phase", "plot_phase_comparison", "plot_convergence"]

_MODE_COLOURS = {"a": "black", "b": "tab:blue", "c": "tab:green"}


def _figure(rows: int, cols: int, **kwargs):
    """A new ``Figure`` (not registered with pyplot) and its grid of axes."""
    from ..io import new_figure

    subplot_kw = {k: kwargs.pop(k) for k in ("sharey", "squeeze") if k in kwargs}
    fig = new_figure(**kwargs)
    return fig, fig.subplots(rows, cols, **subplot_kw)


def _extent(grid):
    s, l = grid["sigma"], grid["lam"]
    return [s[0], s[-1], l[0], l[-1]]


def plot_phase(grid: dict, title: str = ""):
    """Figure 2: ``|ρ_max|²``; dominant-mode regions; complex region with the ``ρ_a = ρ_b`` line.

    Rows of the grid are ``λ`` (vertical axis), columns ``σ`` (horizontal).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    fig, axes = _figure(1, 3, figsize=(15, 4.4), constrained_layout=True)
    rho2 = grid["rho2"]
    unstable = rho2 >= 1.0
    ext = _extent(grid)
    kw = dict(origin="lower", extent=ext, aspect="auto", interpolation="nearest")
    im = axes[0].imshow(np.where(unstable, np.nan, rho2), cmap="viridis", **kw)
    axes[0].imshow(np.where(unstable, 1.0, np.nan), cmap=ListedColormap(["red"]), **kw)
    fig.colorbar(im, ax=axes[0], label=r"$|\rho_{\max}|^2$")
    axes[0].set_title(r"$|\rho_{\max}|^2$ (red: $\geq 1$, unstable)")

    codes = {"a": 0, "b": 1, "c": 2}
    dom = np.vectorize(codes.get)(grid["dominant"]).astype(float)
    dom[unstable] = 3
    cmap = ListedColormap([_MODE_COLOURS["a"], _MODE_COLOURS["b"], _MODE_COLOURS["c"], "red"])
    axes[1].imshow(dom, cmap=cmap, vmin=-0.5, vmax=3.5, **kw)
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in cmap.colors]
    axes[1].legend(handles, [r"$\rho_a$ dominates", r"$\rho_b$ dominates",
                             r"$\rho_c$ dominates", "unstable"], fontsize=7, loc="upper right")
    axes[1].set_title("dominant mode (modes counted: " + ", ".join(grid["modes"]) + ")")

    axes[2].imshow(np.where(grid["complex"], rho2, np.nan), cmap="viridis", **kw)
    line = grid["ab_line_sigma"]
    ok = np.isfinite(line) & (line >= ext[0]) & (line <= ext[1])
    if ok.any():
        axes[2].plot(line[ok], grid["lam"][ok], "w--", lw=1.5, label=r"$\rho_a = \rho_b$")
        axes[2].legend(fontsize=7, loc="upper right")
    axes[2].set_xlim(ext[0], ext[1])
    axes[2].set_ylim(ext[2], ext[3])
    axes[2].set_title(r"complex $\rho_c$ (oscillation): $m^2 < c$")
    for ax in axes:
        ax.set_xlabel(r"kernel width $\sigma$")
        ax.set_ylabel(r"regularisation $\lambda$")
    fig.suptitle(title or f"{grid['convention']} convention, {grid['quantity']} rate, "
                 f"{grid['order']} updates")
    return fig


def plot_phase_comparison(theory: dict, simulated: dict, title: str = ""):
    """Theoretical and simulated ``|ρ|²`` side by side on one colour scale."""
    import matplotlib

    fig, axes = _figure(1, 3, figsize=(15, 4.4), constrained_layout=True)
    ext = _extent(theory)
    kw = dict(origin="lower", extent=ext, aspect="auto", interpolation="nearest", cmap="viridis")
    vmin = float(np.nanmin([np.nanmin(theory["rho2"]), np.nanmin(simulated["rho2"])]))
    vmax = min(1.0, float(np.nanmax([np.nanmax(theory["rho2"]), np.nanmax(simulated["rho2"])])))
    axes[0].imshow(theory["rho2"], vmin=vmin, vmax=vmax, **kw)
    axes[0].set_title(r"Theorem 1: generator $|\rho|^2$")
    im = axes[1].imshow(simulated["rho2"], vmin=vmin, vmax=vmax, **kw)
    start = simulated.get("discriminator_start", "zero")
    axes[1].set_title(f"simulated ({simulated['steps']} steps, f⁰ {'= f*' if start == 'equilibrium' else '= 0'}): "
                      "envelope rate$^2$")
    fig.colorbar(im, ax=axes[:2], label=r"$|\rho|^2$")
    # Compare only where the theory is stable: an unstable cell's |ρ|² can be
    # huge while the nonlinear run saturates, and would flatten the colour scale.
    unstable = theory["rho2"] >= 1.0
    diff = np.where(unstable, np.nan, simulated["rho2"] - theory["rho2"])
    finite = np.abs(diff[np.isfinite(diff)])
    lim = float(np.percentile(finite, 99)) if finite.size else 1.0
    lim = lim or 1.0
    cmap = matplotlib.colormaps["coolwarm"].with_extremes(bad="0.35")
    im2 = axes[2].imshow(diff, vmin=-lim, vmax=lim, **{**kw, "cmap": cmap})
    fig.colorbar(im2, ax=axes[2], label="simulated − theory", extend="both")
    axes[2].set_title("difference (grey: unstable in theory)")
    for ax in axes:
        ax.set_xlabel(r"kernel width $\sigma$")
        ax.set_ylabel(r"regularisation $\lambda$")
    if title:
        fig.suptitle(title)
    return fig


def plot_convergence(runs: list, title: str = ""):
    """Figure 3: simulated distance (solid) against the linearised prediction (dotted).

    ``runs``: dicts with ``lam``, ``sigma``, ``distance`` (simulated, per step)
    and ``predicted`` (the linearised map iterated from the same start);
    one panel per ``λ``, one colour per ``σ``.
    """
    lams = sorted({r["lam"] for r in runs}, reverse=True)
    fig, axes = _figure(1, len(lams), figsize=(4.6 * len(lams), 4), sharey=True,
                        constrained_layout=True, squeeze=False)
    sigmas = sorted({r["sigma"] for r in runs})
    for ax, lam in zip(axes[0], lams):
        for r in (r for r in runs if r["lam"] == lam):
            colour = f"C{sigmas.index(r['sigma'])}"
            t = np.arange(len(r["distance"]))
            ax.semilogy(t, r["distance"], color=colour, label=rf"$\sigma$={r['sigma']:g}")
            ax.semilogy(t, np.abs(r["predicted"]), color=colour, ls=":", lw=2)
        ax.set_title(rf"$\lambda$ = {lam:g}")
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.set_ylim(1e-14, 1.0)
    axes[0][0].set_ylabel(r"$|\tilde x_t - x^*|$ (solid: simulated, dotted: linearised)")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
