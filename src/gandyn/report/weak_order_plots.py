"""Figures and tidy data of a weak-order study."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import save_figure, write_csv, write_json

__all__ = ["plot_weak_order", "write_weak_order_outputs"]


def plot_weak_order(result: dict):
    """Log–log weak error against η, one series per comparison, with fitted slopes.

    Monte Carlo errors carry their 95% intervals as error bars; a dashed
    line of the fitted slope goes through each series' geometric mean.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, which in zip(axes, ("final", "max")):
        for i, c in enumerate(result["comparisons"]):
            etas = np.asarray(c["etas"], dtype=float)
            errs = np.asarray([np.nan if e is None else e for e in c[f"error_{which}"]], dtype=float)
            color = f"C{i}"
            order = c[f"order_{which}"]
            label = (f"{c['scheme'].upper()} vs {c['sde']} ({c['covariance']}): slope "
                     + ("n/a" if order is None else f"{order:.2f}"))
            ci = c.get("error_final_ci") if which == "final" else None
            if ci:
                lo = np.array([e - (c_[0] if c_[0] is not None else 0) for e, c_ in zip(errs, ci)])
                hi = np.array([c_[1] - e for e, c_ in zip(errs, ci)])
                ax.errorbar(etas, errs, yerr=[np.clip(lo, 0, None), hi], fmt="o", color=color,
                            capsize=3, label=label)
            else:
                ax.plot(etas, errs, "o", color=color, label=label)
            good = np.isfinite(errs) & (errs > 0)
            if order is not None and good.sum() >= 2:
                x0 = np.exp(np.mean(np.log(etas[good])))
                y0 = np.exp(np.mean(np.log(errs[good])))
                xs = np.array([etas.min(), etas.max()])
                ax.plot(xs, y0 * (xs / x0) ** order, "--", color=color, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("learning rate η")
        ax.set_title("error at the final time" if which == "final" else "max error over t = kη")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(f"|E f(SGA) − E f(SDE)|,  f = {result['test_function']}")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Weak error: {result['game']} ({result['method']}, B = {result['batch_size']}, "
                 f"T = {result['horizon']})")
    fig.tight_layout()
    return fig


def write_weak_order_outputs(result: dict, out_dir: Path) -> list[str]:
    """Write the figure (PNG, SVG), the errors as CSV and the whole result as JSON."""
    files = save_figure(plot_weak_order(result), out_dir, "weak_order")
    rows = []
    for c in result["comparisons"]:
        for i, eta in enumerate(c["etas"]):
            ci = (c.get("error_final_ci") or [[None, None]] * len(c["etas"]))[i]
            rows.append([c["scheme"], c["sde"], c["covariance"], eta, c["error_final"][i],
                         ci[0], ci[1], c["error_max"][i], c["signed_error_final"][i]])
    files.append(str(write_csv(Path(out_dir) / "weak_order.csv",
                               ["scheme", "sde", "covariance", "eta", "error_final",
                                "error_final_ci_low", "error_final_ci_high", "error_max",
                                "signed_error_final"], rows)))
    files.append(str(Path(out_dir) / "weak_order.json"))
    write_json(files[-1], {**result, "files": files})
    return files
