"""The figures say what the numbers say: each builds from realistic data, saves, and shows what it promises."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

from gandyn.io import save_figure

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """The library builds ``Figure`` objects: no figure ever lands in pyplot's registry."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def _png(fig, tmp_path, stem):
    files = save_figure(fig, tmp_path, stem)
    png = Path(files[0])
    assert png.suffix == ".png" and png.read_bytes().startswith(b"\x89PNG")
    return png


def _bbox(artist, fig):
    fig.draw_without_rendering()
    return artist.get_window_extent(fig._get_renderer())


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _loglog_slope(line) -> float:
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _titles(fig) -> list[str]:
    out = [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    return out


# --------------------------------------------------------------------------- weak order


@pytest.fixture(scope="module")
def weak_exact():
    from gandyn.studies import weak_order
    from gandyn.studies.config import load_toml, parse_config

    config = parse_config(weak_order.WeakOrderConfig, load_toml(EXAMPLES / "linear_quadratic.toml"))
    return weak_order.run(config).to_json()


@pytest.fixture
def weak_two_etas(weak_exact):
    """A Monte Carlo-shaped result on two η: intervals with a lower bound of 0 at one of them."""
    result = copy.deepcopy(weak_exact)
    result["method"] = "monte-carlo"
    for c in result["comparisons"]:
        for key in ("etas", "error_final", "error_max", "signed_error_final", "errors_over_time"):
            c[key] = c[key][:2]
        half = [0.4 * e for e in c["error_final"]]
        half[1] = 1.5 * c["error_final"][1]  # the interval at the smaller η contains 0
        c["error_final_ci"] = [[max(e - h, 0.0), e + h] for e, h in zip(c["error_final"], half)]
        c["order_final_ci"] = [c["order_final"] - 1.0, c["order_final"] + 1.0]
    return result


def test_weak_order_figure_reference_slopes_and_time_axis(weak_exact, tmp_path):
    from gandyn.studies.weak_order import plot_weak_order

    fig = plot_weak_order(weak_exact)
    _png(fig, tmp_path, "weak_order")
    left, right = fig.axes[:2]
    refs = {line.get_label(): line for line in left.get_lines()
            if line.get_label().startswith("reference")}
    assert set(refs) == {"reference: slope 1", "reference: slope 2"}
    assert _loglog_slope(refs["reference: slope 1"]) == pytest.approx(1.0)
    assert _loglog_slope(refs["reference: slope 2"]) == pytest.approx(2.0)
    # The right panel is new information: x = t = kη at every grid time, up to the horizon.
    horizon = weak_exact["horizon"]
    etas = weak_exact["comparisons"][0]["etas"]
    lines = right.get_lines()
    assert len(lines) == sum(len(c["errors_over_time"]) for c in weak_exact["comparisons"])
    for line in lines:
        t = np.asarray(line.get_xdata(), dtype=float)
        eta = t[0]  # k = 1 is the first time shown (e(0) = 0)
        assert any(np.isclose(eta, e) for e in etas)
        np.testing.assert_allclose(t, eta * np.arange(1, t.size + 1))
        assert t[-1] == pytest.approx(horizon)
    assert "t = kη" in right.get_xlabel()
    # Three η: a fit, and it says so; the legend lies below the axes, off the data.
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert any("fitted slope" in t and "(3 η)" in t for t in labels)
    assert not any("2 points" in t for t in labels)
    box = _bbox(legend, fig)
    for ax in (left, right):
        assert not _overlap(box, ax.get_window_extent())


def test_weak_order_figure_two_etas_and_clipped_intervals(weak_two_etas, tmp_path):
    from gandyn.studies.weak_order import plot_weak_order

    fig = plot_weak_order(weak_two_etas)
    _png(fig, tmp_path, "weak_order_mc")
    left, right = fig.axes[:2]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sum("slope from 2 points" in t for t in labels) == len(weak_two_etas["comparisons"])
    assert not any("fitted slope" in t for t in labels)
    assert any("final time only" in t for t in labels)
    # A lower bound of 0 is clipped to a positive floor below every positive value.
    bottom, top = left.get_ylim()
    smallest = min(v for c in weak_two_etas["comparisons"] for v in c["error_final"] if v > 0)
    assert 0 < bottom < smallest
    assert bottom > smallest * 1e-4  # the floor does not stretch the axis by decades
    for coll in left.collections:  # the error bars
        for seg in coll.get_segments():
            ys = np.asarray(seg)[:, 1]
            assert np.all(np.isfinite(ys)) and np.all(ys >= bottom * (1 - 1e-9))
            assert np.all(ys <= top)
    # The final-time intervals are drawn on the right panel too, at t = T.
    horizon = weak_two_etas["horizon"]
    xs = [np.asarray(seg)[:, 0] for coll in right.collections for seg in coll.get_segments()]
    assert xs and all(np.allclose(x, horizon, rtol=0.05) for x in xs)


# --------------------------------------------------------------------------- Figure 2


def _grid(**kw):
    from gandyn.kernel.study import phase_grid

    args = dict(eta_d=0.01, eta_g=0.01, p=1.0, p_gen=0.8, n_gen=1)
    args.update(kw.pop("params", {}))
    sigmas = kw.pop("sigmas", np.linspace(0.05, 2.0, 60))
    lams = kw.pop("lams", np.linspace(0.01, 1.0, 60))
    return phase_grid(sigmas, lams, **args, **kw)


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def _dominant_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize("convention,n_gen", [("theorem", 1), ("paper-figure", 1), ("theorem", 2)])
def test_phase_figure_colour_bars_and_mode_legend(convention, n_gen, tmp_path):
    from gandyn.kernel.plots import plot_phase

    grid = _grid(convention=convention, params={"n_gen": n_gen, "p_gen": 0.8 / n_gen})
    fig = plot_phase(grid)
    _png(fig, tmp_path, "phase")
    heat, dominant, complex_ = _image_axes(fig)
    for ax in (heat, complex_):
        assert any(im.colorbar is not None for im in ax.images), ax.get_title()
    labels = _dominant_labels(dominant)
    allowed = {rf"$\rho_{m}$" for m in grid["modes"]}
    unstable = bool((grid["rho2"] >= 1).any())
    modes = [t.split(" (")[0] for t in labels if t != "unstable"]
    assert set(modes) <= allowed and len(modes) == len(grid["modes"])
    assert ("unstable" in labels) == unstable
    if "b" not in grid["modes"]:
        assert r"$\rho_b$" not in modes
    assert "white" in complex_.get_title() and "real" in complex_.get_title()
    # Readable at page width (about 1000 px): the figure is about 10 in wide at these sizes.
    assert fig.get_figwidth() <= 10.5
    for ax in fig.axes:
        if ax.get_title():
            assert ax.title.get_fontsize() >= 10
        for tick in ax.get_xticklabels() + ax.get_yticklabels():
            assert tick.get_fontsize() >= 9


def test_phase_figure_without_unstable_cells_says_nothing_of_them(tmp_path):
    from gandyn.kernel.plots import plot_phase

    grid = _grid(sigmas=np.linspace(0.5, 2.0, 30), lams=np.linspace(0.3, 1.0, 30))
    assert not (grid["rho2"] >= 1).any()
    fig = plot_phase(grid)
    _png(fig, tmp_path, "phase_stable")
    labels = _dominant_labels(_image_axes(fig)[1])
    assert "unstable" not in labels and r"$\rho_b$" not in labels
    assert "red" not in _image_axes(fig)[0].get_title()


def test_phase_comparison_colour_bars(tmp_path):
    from gandyn.kernel.plots import plot_phase_comparison

    theory = _grid(quantity="generator")
    rng = np.random.default_rng(0)
    simulated = {"sigma": theory["sigma"], "lam": theory["lam"], "steps": 200,
                 "rho2": theory["rho2"] + 1e-3 * rng.standard_normal(theory["rho2"].shape),
                 "discriminator_start": "equilibrium"}
    fig = plot_phase_comparison(theory, simulated)
    _png(fig, tmp_path, "phase_simulated")
    images = [ax.images[0] for ax in _image_axes(fig)]
    with_bar = [im for im in images if im.colorbar is not None]
    for im in images:  # its own colour bar, or the one of the image it shares its scale with
        assert im.colorbar is not None or any(im.norm is other.norm for other in with_bar)
    assert not any("⁰" in t for t in _titles(fig))


# --------------------------------------------------------------------------- Figure 3


@pytest.fixture(scope="module")
def convergence_result():
    from gandyn.studies.kernel import ConvergenceConfig, convergence

    return convergence(ConvergenceConfig(steps=150, eta_g=0.02, lams=[0.1, 1.0],
                                         sigmas=[0.1, 1.0]))


def test_convergence_figure(convergence_result, tmp_path, monkeypatch):
    from gandyn.kernel import plots
    from gandyn.studies.kernel import write_convergence

    captured = {}
    original = plots.plot_convergence

    def spy(*args, **kwargs):
        captured["fig"] = fig = original(*args, **kwargs)
        return fig

    monkeypatch.setattr(plots, "plot_convergence", spy)
    write_convergence(convergence_result, tmp_path)
    fig = captured["fig"]
    assert (tmp_path / "convergence.png").read_bytes().startswith(b"\x89PNG")
    titles = _titles(fig)
    assert not any("η_" in t for t in titles)
    assert any(r"$\eta_g$ = 0.02" in t and r"$\eta_d$ = 0.1" in t for t in titles)
    runs = convergence_result.arrays["runs"]
    sim = np.concatenate([r["distance"] for r in runs])
    sim = sim[sim > 0]
    notes = []
    for ax in fig.axes:
        bottom, top = ax.get_ylim()
        assert bottom <= sim.min() and top >= sim.max()
        for line in ax.get_lines():  # every curve stays within a decade of the axes
            y = np.asarray(line.get_ydata(), dtype=float)
            assert np.all(np.isfinite(y)) and y.min() >= bottom / 10.01 and y.max() <= top * 10.01
        notes += [t.get_text() for t in ax.texts]
    # σ = 0.1, λ = 0.1: the linearised map grows while the run from f⁰ = 0 converges.
    growing = [r for r in runs if r["rate_predicted"] > 1 and r["rate_empirical"] < 1]
    assert growing and len(notes) == len({r["lam"] for r in growing})
    assert all("non-local" in n and r"$f^0 = 0$" in n for n in notes)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("cut at the axes" in t for t in labels)


def test_convergence_figure_from_equilibrium_has_no_non_local_note(convergence_result):
    from gandyn.kernel.plots import plot_convergence

    fig = plot_convergence(convergence_result.arrays["runs"], r"$\eta_d$ = 0.1",
                           discriminator_start="equilibrium")
    assert not any(ax.texts for ax in fig.axes)


# --------------------------------------------------------------------------- spectrum


@pytest.mark.parametrize("eigenvalues", [
    np.array([0.999, 0.9915 - 0.00278j, 0.9915 + 0.00278j]),  # Theorem 1's: crowded near 1
    np.array([0.5 + 0.2j, 0.5 - 0.2j, 0.98, 1.3, -0.2 + 0.9j]),
])
def test_spectrum_plot(eigenvalues, tmp_path):
    from gandyn.analysis.game_spectrum import plot_spectrum

    fig = plot_spectrum(eigenvalues)
    _png(fig, tmp_path, "spectrum")
    ax = fig.axes[0]
    assert not _overlap(_bbox(ax.get_legend(), fig), ax.get_window_extent())
    assert "$" in ax.get_xlabel() and "$" in ax.get_ylabel()
    assert any("= 1" in t.get_text() for t in ax.texts)  # the circle itself is labelled
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    re = np.concatenate([[-1, 1], eigenvalues.real])
    im = np.concatenate([[-1, 1], eigenvalues.imag])
    assert x0 < re.min() and x1 > re.max() and y0 < im.min() and y1 > im.max()
    crowded = np.ptp(eigenvalues.real) < 0.1
    assert bool(ax.child_axes) == crowded  # an inset magnifies a crowd


def test_kernel_spectrum_figure_names_rho(tmp_path):
    from gandyn.studies.kernel import SpectrumConfig, spectrum, write_spectrum

    write_spectrum(spectrum(SpectrumConfig()), tmp_path)
    assert (tmp_path / "spectrum.png").read_bytes().startswith(b"\x89PNG")


# --------------------------------------------------------------------------- FDR bars


def test_fdr_bar_chart(tmp_path):
    from gandyn.analysis.fdr import FDR_TERMS
    from gandyn.studies.invariant import plot_fdr_terms

    result = {"game": "linear-quadratic", "scheme": "sml", "eta": 0.1, "batch_size": 2,
              "method": "exact",
              "fdr1": dict(zip(FDR_TERMS, [0.004188162754829538, 0.00675, 0.004188162754829534,
                                           0.004188162754829534])),
              "fdr2": dict(zip(FDR_TERMS, [0.025247057048357897, 0.0225, 0.025247057048357904,
                                           -0.0012]))}
    fig = plot_fdr_terms(result)
    _png(fig, tmp_path, "fdr")
    for ax, name in zip(fig.axes, ("fdr1", "fdr2")):
        assert ax.get_xlabel() and ax.get_ylabel()
        values = [t.get_text() for t in ax.texts]
        assert values == [f"{result[name][k]:.3g}" for k in FDR_TERMS]
        for tick in ax.get_xticklabels() + ax.get_yticklabels():
            assert tick.get_fontsize() >= 9


def test_fdr_bar_chart_monte_carlo_intervals(tmp_path):
    from gandyn.analysis.fdr import FDR_TERMS
    from gandyn.studies.invariant import plot_fdr_terms

    block = {k: v for k, v in zip(FDR_TERMS, [0.0042, 0.0068, 0.0041, 0.0043])}
    block.update({f"{k}_ci": [block[k] - 2e-4, block[k] + 2e-4] for k in FDR_TERMS})
    result = {"game": "tanh-wgan", "scheme": "alt", "eta": 0.05, "batch_size": 8,
              "method": "monte-carlo", "fdr1": block, "fdr2": dict(block)}
    fig = plot_fdr_terms(result)
    _png(fig, tmp_path, "fdr_mc")
    assert all(ax.collections for ax in fig.axes)  # the error bars
