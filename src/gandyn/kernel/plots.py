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


#: Page width of the report's figures (inches): shown about 1000 px wide, so that these
#: font sizes (points) read as they are.
_PAGE_WIDTH = 10.4
_TITLE, _LABEL, _TICK = 10.5, 10, 9


def _style(fig, axes, colorbars=()):
    """Axis labels and readable fonts on every panel and colour bar."""
    for ax in axes:
        ax.set_xlabel(r"kernel width $\sigma$", fontsize=_LABEL)
        ax.set_ylabel(r"regularisation $\lambda$", fontsize=_LABEL)
        ax.tick_params(labelsize=_TICK)
        ax.title.set_fontsize(_TITLE)
    for cb in colorbars:
        cb.ax.tick_params(labelsize=_TICK)
        cb.ax.yaxis.label.set_fontsize(_LABEL)


def plot_phase(grid: dict, title: str = ""):
    """Figure 2: ``|ρ_max|²``; dominant-mode regions; complex region with the ``ρ_a = ρ_b`` line.

    Rows of the grid are ``λ`` (vertical axis), columns ``σ`` (horizontal).
    Both heat maps share one colour scale over the stable cells, each with
    its colour bar; unstable cells (``|ρ|² ≥ 1``) are red. The dominant-mode
    panel's legend lists only the modes the convention counts
    (``grid["modes"]``), and "unstable" only if a cell is. In the complex
    panel, white cells are those where the ``c`` pair is real.
    """
    import matplotlib
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.patches import Patch

    fig, axes = _figure(1, 3, figsize=(_PAGE_WIDTH, 3.7), constrained_layout=True)
    rho2 = np.asarray(grid["rho2"], dtype=float)
    unstable = rho2 >= 1.0
    stable_values = rho2[~unstable & np.isfinite(rho2)]
    if stable_values.size:
        norm = Normalize(float(stable_values.min()), float(stable_values.max()))
    else:
        norm = Normalize(0.0, 1.0)
    cmap = matplotlib.colormaps["viridis"].with_extremes(over="red")
    ext = _extent(grid)
    kw = dict(origin="lower", extent=ext, aspect="auto", interpolation="nearest")
    im = axes[0].imshow(np.where(unstable, np.inf, rho2), cmap=cmap, norm=norm, **kw)
    # Red cells drawn explicitly too: "over" needs a finite value above vmax.
    if unstable.any():
        axes[0].imshow(np.where(unstable, 1.0, np.nan), cmap=ListedColormap(["red"]), **kw)
    cb0 = fig.colorbar(im, ax=axes[0], label=r"$|\rho_{\max}|^2$",
                       extend="max" if unstable.any() else "neither")
    axes[0].set_title(r"$|\rho_{\max}|^2$" + (" (red: unstable)" if unstable.any() else ""))

    order = [m for m in ("a", "b", "c") if m in grid["modes"]]
    codes = {m: i for i, m in enumerate(order)}
    dominant = np.asarray(grid["dominant"])
    dom = np.full(dominant.shape, np.nan)
    for m, i in codes.items():
        dom[dominant == m] = i
    colours = [_MODE_COLOURS[m] for m in order]
    if unstable.any():
        dom[unstable] = len(order)
        colours.append("red")
    axes[1].imshow(dom, cmap=ListedColormap(colours), vmin=-0.5, vmax=len(colours) - 0.5, **kw)
    labels = []
    for m in order:
        present = bool(np.any((dominant == m) & ~unstable))
        labels.append(rf"$\rho_{m}$" + ("" if present else " (no cell)"))
    if unstable.any():
        labels.append("unstable")
    handles = [Patch(facecolor=c, edgecolor="0.3") for c in colours]
    axes[1].legend(handles, labels, title="dominant", fontsize=_TICK, title_fontsize=_TICK,
                   loc="center left", bbox_to_anchor=(1.02, 0.5), borderaxespad=0, frameon=False)
    axes[1].set_title("dominant mode")

    im2 = axes[2].imshow(np.where(grid["complex"], np.where(unstable, np.inf, rho2), np.nan),
                         cmap=cmap, norm=norm, **kw)
    cb2 = fig.colorbar(im2, ax=axes[2], label=r"$|\rho_{\max}|^2$",
                       extend="max" if (unstable & grid["complex"]).any() else "neither")
    line = np.asarray(grid["ab_line_sigma"], dtype=float)
    ok = np.isfinite(line) & (line >= ext[0]) & (line <= ext[1])
    if ok.any():
        axes[2].plot(line[ok], np.asarray(grid["lam"])[ok], color="magenta", ls="--", lw=1.5,
                     label=r"$\rho_a = \rho_b$")
        # Below the panel, off the data (the line crosses the whole panel).
        axes[2].legend(fontsize=_TICK, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                       frameon=False, borderaxespad=0)
    axes[2].set_xlim(ext[0], ext[1])
    axes[2].set_ylim(ext[2], ext[3])
    axes[2].set_title(r"complex $c$ pair ($m^2 < c$); white: real")
    _style(fig, axes, (cb0, cb2))
    fig.suptitle(title or f"{grid['convention']} convention, {grid['quantity']} rate, "
                 f"{grid['order']} updates", fontsize=11)
    return fig


def plot_phase_comparison(theory: dict, simulated: dict, title: str = ""):
    """Theoretical and simulated ``|ρ|²`` side by side on one colour scale (one shared colour bar),
    and their difference where the theory is stable (its own colour bar)."""
    import matplotlib
    from matplotlib.colors import Normalize

    fig, axes = _figure(1, 3, figsize=(_PAGE_WIDTH, 3.7), constrained_layout=True)
    ext = _extent(theory)
    kw = dict(origin="lower", extent=ext, aspect="auto", interpolation="nearest", cmap="viridis")
    vmin = float(np.nanmin([np.nanmin(theory["rho2"]), np.nanmin(simulated["rho2"])]))
    vmax = min(1.0, float(np.nanmax([np.nanmax(theory["rho2"]), np.nanmax(simulated["rho2"])])))
    norm = Normalize(vmin, vmax)
    axes[0].imshow(theory["rho2"], norm=norm, **kw)
    axes[0].set_title(r"Theorem 1: generator $|\rho|^2$")
    im = axes[1].imshow(simulated["rho2"], norm=norm, **kw)
    start = simulated.get("discriminator_start", "zero")
    axes[1].set_title(f"simulated, {simulated['steps']} steps, "
                      + (r"$f^0 = f^*$" if start == "equilibrium" else r"$f^0 = 0$"))
    cb = fig.colorbar(im, ax=axes[:2], label=r"$|\rho|^2$ (simulated: envelope rate$^2$)")
    # Compare only where the theory is stable: an unstable cell's |ρ|² can be
    # huge while the nonlinear run saturates, and would flatten the colour scale.
    unstable = theory["rho2"] >= 1.0
    diff = np.where(unstable, np.nan, simulated["rho2"] - theory["rho2"])
    finite = np.abs(diff[np.isfinite(diff)])
    lim = float(np.percentile(finite, 99)) if finite.size else 1.0
    lim = lim or 1.0
    cmap = matplotlib.colormaps["coolwarm"].with_extremes(bad="0.35")
    im2 = axes[2].imshow(diff, vmin=-lim, vmax=lim, **{**kw, "cmap": cmap})
    cb2 = fig.colorbar(im2, ax=axes[2], label="simulated − theory", extend="both")
    axes[2].set_title("difference (grey: unstable)")
    _style(fig, axes, (cb, cb2))
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _growing_but_converging(run: dict) -> bool:
    """The linearised map grows (``ρ > 1``) while the simulation converges."""
    pred, emp = run.get("rate_predicted"), run.get("rate_empirical")
    distance = np.asarray(run["distance"], dtype=float)
    return (pred is not None and emp is not None and pred > 1.0 + 1e-9 and emp < 1.0
            and not run.get("diverged", False) and distance.size > 1
            and np.isfinite(distance[-1]) and distance[-1] < distance[0])


def plot_convergence(runs: list, title: str = "", *, discriminator_start: str = "zero"):
    """Figure 3: simulated distance (solid) against the linearised prediction (dotted).

    ``runs``: dicts with ``lam``, ``sigma``, ``distance`` (simulated, per step)
    and ``predicted`` (the linearised map iterated from the same start), and
    optionally ``rate_predicted``, ``rate_empirical`` and ``diverged``; one
    panel per ``λ``, one colour per ``σ``. The vertical range is the
    simulated data's, with a decade above it (and at most 20 decades
    below its maximum); a linearised
    curve is cut where it leaves that range (the legend says so). Where a
    linearised rate exceeds 1 while the run converges, the panel says why:
    the map is linearised at the equilibrium discriminator while the run
    starts from ``f⁰ = 0`` (``discriminator_start="zero"``), a non-local start.
    """
    from matplotlib.lines import Line2D

    lams = sorted({r["lam"] for r in runs}, reverse=True)
    width = min(_PAGE_WIDTH, 3.7 * len(lams) + 0.6)
    fig, axes = _figure(1, len(lams), figsize=(width, 4.2), sharey=True,
                        constrained_layout=True, squeeze=False)
    sigmas = sorted({r["sigma"] for r in runs})

    simulated = np.concatenate([np.asarray(r["distance"], dtype=float).ravel() for r in runs])
    good = simulated[np.isfinite(simulated) & (simulated > 0)]
    hi = float(good.max()) * 10.0 if good.size else 1.0  # a decade above: growth shows
    lo = max(float(good.min()) / 3.0, hi * 1e-20) if good.size else hi * 1e-14
    cut = False
    for ax, lam in zip(axes[0], lams):
        notes = []
        for r in (r for r in runs if r["lam"] == lam):
            colour = f"C{sigmas.index(r['sigma'])}"
            distance = np.asarray(r["distance"], dtype=float)
            t = np.arange(distance.size)
            ax.semilogy(t, distance, color=colour)
            pred = np.abs(np.asarray(r["predicted"], dtype=float))
            outside = ~np.isfinite(pred) | (pred > hi) | (pred < lo)
            cut |= bool(outside.any())
            # Values outside the axes go just past the edge, so the line leaves the frame
            # there and no huge coordinate is drawn.
            pred = np.clip(np.where(np.isfinite(pred), pred, hi * 10), lo / 10, hi * 10)
            ax.semilogy(np.arange(pred.size), pred, color=colour, ls=":", lw=2)
            if discriminator_start != "equilibrium" and _growing_but_converging(r):
                notes.append((r["sigma"], r["rate_predicted"], r["rate_empirical"]))
        ax.set_title(rf"$\lambda$ = {lam:g}", fontsize=_TITLE)
        ax.set_xlabel("iteration", fontsize=_LABEL)
        ax.tick_params(labelsize=_TICK)
        ax.grid(alpha=0.3)
        ax.set_ylim(lo, hi)
        ax.set_xlim(0, max(len(r["distance"]) for r in runs) - 1 or 1)
        if notes:
            which = ", ".join(f"{s:g}" for s, _, _ in notes)
            rates = ", ".join(f"{p:.3f}" for _, p, _ in notes)
            text = (rf"$\sigma$ = {which}: linearised $\rho$ = {rates} > 1 at $f^*$," "\n"
                    r"yet the run from $f^0 = 0$ converges:" "\n" "a non-local start")
            ax.text(0.5, -0.2, text, transform=ax.transAxes, ha="center", va="top",
                    fontsize=_TICK, color="0.15",
                    bbox=dict(boxstyle="round,pad=0.3", fc="#fff6e0", ec="#d9a441", lw=0.8))
    axes[0][0].set_ylabel(r"distance $|\tilde x_t - x^*|$", fontsize=_LABEL)
    handles = [Line2D([], [], color=f"C{i}", lw=1.5, label=rf"$\sigma$ = {s:g}")
               for i, s in enumerate(sigmas)]
    handles += [Line2D([], [], color="0.25", lw=1.5, label="simulated"),
                Line2D([], [], color="0.25", ls=":", lw=2,
                       label="linearised" + (" (cut at the axes)" if cut else ""))]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=_TICK,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
