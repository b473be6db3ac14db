"""Kernel GDA spectra: Theorem 1 against autodiff and block Arnoldi, bounds, phase grids."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from gandyn.kernel import (KernelGDA, KernelParams, corollary1_eta_d_max, eta_d_max,
                           inverse_multiquadric, linearised_spectrum, phase_grid,
                           rational_quadratic, rates, rbf, summarise_phase, theorem1_spectrum,
                           truncated_map_spectrum)
from gandyn.kernel.study import spectrum_report


def generator_values(params, order):
    """Theorem 1's generator eigenvalues, each repeated by its multiplicity."""
    return np.array([e.value for e in theorem1_spectrum(params, order=order)
                     if e.mode != "a" for _ in range(e.multiplicity)])


def multiset_error(x, y):
    assert len(x) == len(y), (x, y)
    cost = np.abs(np.subtract.outer(x, y))
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].max()


def game_for(params, kernel=None):
    return KernelGDA(np.zeros((1, params.dim)), p=params.p, p_gen=params.p_gen,
                     n_gen=params.n_gen, kernel=kernel)


def random_cases(seed, count, separated_from_ring=False):
    """Random parameters (N = 1 and N > 1, d = 1 and 2) covering real and complex pairs."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n_gen = int(rng.choice([1, 2, 3]))
        params = KernelParams(sigma=rng.uniform(0.3, 2.0), lam=rng.uniform(0.05, 1.0),
                              eta_d=rng.uniform(0.05, 0.5), eta_g=rng.uniform(0.02, 0.5),
                              p=1.0, p_gen=rng.uniform(0.1, 0.9) / n_gen, n_gen=n_gen,
                              dim=int(rng.choice([1, 2])))
        if separated_from_ring:
            q = abs(1 - params.lam * params.eta_d)
            slowest = np.min(np.abs(generator_values(params, "simultaneous")))
            slowest = min(slowest, np.min(np.abs(generator_values(params, "d-first"))))
            if slowest < 1.15 * q:
                continue
        cases.append(params)
    return cases


def is_complex(params):
    spec = spectrum_report(params)
    return spec["complex_pair"]


@pytest.mark.parametrize("order", ["simultaneous", "d-first"])
def test_theorem1_matches_autodiff_linearisation(order):
    cases = random_cases(0, 9)
    assert {is_complex(c) for c in cases} == {True, False}
    assert {c.n_gen > 1 for c in cases} == {True, False}
    for params, kernel in zip(cases, [rbf(), rational_quadratic(2.0), inverse_multiquadric()] * 3):
        lin = linearised_spectrum(game_for(params, kernel), sigma=params.sigma, lam=params.lam,
                                  eta_d=params.eta_d, eta_g=params.eta_g, order=order)
        assert multiset_error(lin.generator, generator_values(params, order)) < 1e-8
        theory = rates(theorem1_spectrum(params, order=order))
        assert abs(lin.rho_joint - theory["rho_joint"]) < 1e-8
        assert lin.residual < 1e-12


@pytest.mark.parametrize("order", ["simultaneous", "d-first"])
def test_theorem1_matches_block_arnoldi_on_full_map(order):
    cases = random_cases(1, 4, separated_from_ring=True)
    assert {c.n_gen > 1 for c in cases} == {True, False}
    for params, kernel in zip(cases, [rbf(), inverse_multiquadric(), rbf(), rbf()]):
        expected = generator_values(params, order)
        q = abs(1 - params.lam * params.eta_d)
        # Truncation moves an eigenvalue ρ by about (|q|/|ρ|)^L: pick L to make that 1e-14.
        memory = int(np.ceil(np.log(1e-14) / np.log(q / np.min(np.abs(expected)))))
        found = truncated_map_spectrum(game_for(params, kernel), sigma=params.sigma,
                                       lam=params.lam, eta_d=params.eta_d, eta_g=params.eta_g,
                                       order=order, k=len(expected), memory=memory)
        assert multiset_error(found, expected) < 1e-8


def test_pair_is_complex_and_real_in_the_random_cases():
    cases = random_cases(1, 4, separated_from_ring=True)
    assert any(is_complex(c) for c in cases) or any(not is_complex(c) for c in cases)


def test_several_targets_and_unequal_masses_linearise_at_each_target():
    # Two well-separated targets (kernel overlap ~ e^-50): each region's spectrum is Theorem 1's.
    targets = np.array([[0.0, 0.0], [10.0, 0.0]])
    game = KernelGDA(targets, p=[1.0, 1.0], p_gen=[0.3, 0.3, 0.5], kernel=rbf())
    x_star = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0]])
    kw = dict(sigma=1.0, lam=0.4, eta_d=0.2, eta_g=0.1)
    lin = linearised_spectrum(game, x_star, **kw)
    left = generator_values(KernelParams(**kw, p=1.0, p_gen=0.3, n_gen=2, dim=2), "simultaneous")
    right = generator_values(KernelParams(**kw, p=1.0, p_gen=0.5, n_gen=1, dim=2), "simultaneous")
    assert multiset_error(lin.generator, np.concatenate([left, right])) < 1e-8


def spectral_radius_linearised(params, order):
    lin = linearised_spectrum(game_for(params), sigma=params.sigma, lam=params.lam,
                              eta_d=params.eta_d, eta_g=params.eta_g, order=order)
    return lin.rho_joint


def with_eta(params, eta_d):
    return KernelParams(params.sigma, params.lam, eta_d, params.mu * eta_d, params.p,
                        params.p_gen, params.n_gen, params.dim)


@pytest.mark.parametrize("order", ["simultaneous", "d-first"])
@pytest.mark.parametrize("n_gen", [1, 3])
def test_eta_d_max_is_the_stability_boundary(order, n_gen):
    params = KernelParams(sigma=0.6, lam=0.8, eta_d=0.1, eta_g=0.05, p=1.0, p_gen=0.6 / n_gen,
                          n_gen=n_gen, dim=2)
    bound = eta_d_max(params, order=order)
    assert 0 < bound < np.inf
    assert spectral_radius_linearised(with_eta(params, 0.999 * bound), order) < 1
    assert spectral_radius_linearised(with_eta(params, 1.001 * bound), order) > 1


def test_corollary1_overstates_the_bound_when_the_pair_is_real():
    # Small λ makes b, so m, large: m² > c, a real pair. N = 1, where the b mode is absent.
    params = KernelParams(sigma=1.0, lam=0.1, eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.5, n_gen=1)
    report = spectrum_report(params)
    assert not report["complex_pair"]
    cor1, exact = corollary1_eta_d_max(params), eta_d_max(params)
    assert cor1 > exact * 1.05
    between = 0.5 * (cor1 + exact)
    assert spectral_radius_linearised(with_eta(params, between), "simultaneous") > 1
    assert report["disagreements"]


def test_corollary1_is_exact_when_the_pair_is_complex():
    params = KernelParams(sigma=0.3, lam=0.5, eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.45, n_gen=2)
    assert spectrum_report(params)["complex_pair"]
    assert corollary1_eta_d_max(params) == pytest.approx(eta_d_max(params), rel=1e-12)


def test_no_stable_step_without_a_mass_deficit_at_two_points():
    params = KernelParams(sigma=1.0, lam=0.5, eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.6, n_gen=2)
    assert params.delta < 0
    report = spectrum_report(params)
    assert report["eta_d_max"] == 0.0 and not report["stable"]


def test_orders_agree_as_eta_shrinks_and_differ_at_large_eta():
    # N = 1: no b mode (which both orders share), so the c pair sets the rate.
    base = KernelParams(sigma=0.8, lam=0.5, eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.6, n_gen=1,
                        dim=1)
    gaps = []
    for eta in (0.1, 0.05, 0.025, 0.0125):
        params = with_eta(base, eta)
        # The generator (ρ − 1)/η_d of each order: equal in the limit of small steps.
        nu = [(next(e.value for e in theorem1_spectrum(params, order=o) if e.mode == "c+") - 1) / eta
              for o in ("simultaneous", "d-first")]
        gaps.append(abs(nu[0] - nu[1]))
    ratios = np.array(gaps[:-1]) / np.array(gaps[1:])
    assert np.all(np.abs(ratios - 2) < 0.1)  # the gap is O(η_d)
    assert gaps[0] > 1e-3


def test_phase_grid_matches_autodiff_cell_by_cell():
    sig, lam = np.linspace(0.2, 2.0, 5), np.linspace(0.05, 1.0, 4)
    kw = dict(eta_d=0.3, eta_g=0.3, p=1.0, p_gen=0.2, n_gen=3)
    grid = phase_grid(sig, lam, quantity="joint", **kw)
    for i, l in enumerate(lam):
        for j, s in enumerate(sig):
            params = KernelParams(s, l, 0.3, 0.3, 1.0, 0.2, 3, 1)
            assert grid["rho2"][i, j] == pytest.approx(
                spectral_radius_linearised(params, "simultaneous") ** 2, rel=1e-10)


def test_figure2_conventions_differ_only_by_the_b_mode():
    sig, lam = np.linspace(0.05, 2, 60), np.linspace(0.01, 1, 50)
    kw = dict(eta_d=1e-2, eta_g=1e-2, p=1.0, p_gen=0.8, n_gen=1)  # the paper's Figure 2
    theorem = phase_grid(sig, lam, convention="theorem", **kw)
    paper = phase_grid(sig, lam, convention="paper-figure", **kw)
    assert not np.any(theorem["dominant"] == "b")
    assert np.mean(paper["dominant"] == "b") > 0.2
    assert np.all(paper["rho2"] >= theorem["rho2"] - 1e-15)
    s = summarise_phase(theorem)
    assert 0 <= s["unstable_fraction"] <= 1 and s["min"] == theorem["rho2"].min()
    # The ρ_a = ρ_b line is where the two moduli meet.
    lam0 = 0.5
    sigma_ab = np.sqrt(1.0 * 0.8 * 0.2) / lam0
    params = KernelParams(sigma_ab, lam0, 1e-2, 1e-2, 1.0, 0.8, 1, 1)
    spec = {e.mode: e.value for e in theorem1_spectrum(params, convention="paper-figure")}
    assert spec["a"] == pytest.approx(spec["b"], abs=1e-14)
