"""Kernel GDA simulation: against a plain NumPy transcription of eq. (5) / Lemma 1, rates, sweeps."""

import numpy as np
import pytest

from gandyn.kernel import (KernelGDA, KernelParams, envelope_rate, inverse_multiquadric,
                           kernel_width, memory_for, nearest_target, rates, rational_quadratic,
                           rbf, simulate, simulate_local, theorem1_spectrum, user_kernel)


def numpy_reference(targets, p, p_gen, x0, sigma, lam, eta_d, eta_g, steps, order, memory=None,
                    warm_start=None):
    """Eq. (5) with the discriminator as an explicit list of weighted RBF centres.

    simultaneous: x^{t+1} = x^t + η_g p̃ ∇f^t(x^t); d-first: Lemma 1 (eq. 6) as printed,
    x^{t+1} = x^t + η_d η_g Σ_{s≤t} q^{t−s} p̃ ⊙ (∇₁K(x^t, X)p − ∇₁K(x^t, X^s)p̃).
    """
    q = 1 - lam * eta_d

    def grad_k(u, z):  # ∇₁K(u, z) for the RBF, for any number of centres z (..., d)
        return -(u - z) / sigma**2 * np.exp(-np.sum((u - z) ** 2, axis=-1, keepdims=True)
                                            / (2 * sigma**2))

    x = np.array(x0, float)
    out = [x.copy()]
    history = []
    for t in range(steps):
        n = t if order == "simultaneous" else t + 1
        if order == "d-first":
            history.append(x.copy())
        ages = n - 1 - np.arange(n)
        weights = eta_d * q ** ages          # η_d q^{n−1−s} for s = 0, …, n − 1
        kept = weights if memory is None else np.where(ages < memory, weights, 0.0)
        past = np.array(history[:n]).reshape(n, *x.shape)   # X̃^s, s < n
        force = np.zeros_like(x)
        for j in range(len(x)):
            target_part = sum(p[i] * grad_k(x[j], targets[i]) for i in range(len(p)))
            # Σ_k p̃_k ∇₁K(x_j, x̃_k^s) for every past step s: shape (n, d)
            fake_part = np.einsum("k,skd->sd", p_gen, grad_k(x[j], past))
            # centres older than the memory are dropped; the target term keeps every step
            force[j] = np.sum(weights) * target_part - kept @ fake_part
            if warm_start is not None:  # steps s < 0 with the points at warm_start: Σ η_d q^{n−1−s} = qⁿ/λ
                fake_warm = sum(p_gen[k] * grad_k(x[j], warm_start[k]) for k in range(len(x)))
                force[j] += q**n / lam * (target_part - fake_warm)
        if order == "simultaneous":
            history.append(x.copy())
        x = x + eta_g * p_gen[:, None] * force
        out.append(x.copy())
    return np.array(out)


@pytest.mark.parametrize("order", ["simultaneous", "d-first"])
@pytest.mark.parametrize("memory", [None, 7])
def test_simulation_matches_numpy_transcription(order, memory):
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(2, 2))
    p, p_gen = np.array([0.6, 0.4]), np.array([0.3, 0.5, 0.2])
    x0 = rng.normal(size=(3, 2))
    kw = dict(sigma=0.7, lam=0.3, eta_d=0.5, eta_g=0.4)
    expected = numpy_reference(targets, p, p_gen, x0, **kw, steps=25, order=order, memory=memory)
    got = simulate(KernelGDA(targets, p, p_gen), x0, **kw, steps=25, order=order, memory=memory)
    assert got.order == order
    np.testing.assert_allclose(np.asarray(got.positions), expected, rtol=0, atol=1e-13)


def test_history_blocks_beyond_the_first_are_visited():
    # 600 steps span three 256-step blocks of the buffer; compare every 100th step.
    targets, p_gen = np.zeros((1, 1)), np.array([0.7])
    x0 = np.array([[0.05]])
    kw = dict(sigma=0.5, lam=0.2, eta_d=0.05, eta_g=0.05)
    expected = numpy_reference(targets, np.ones(1), p_gen, x0, **kw, steps=600, order="simultaneous")
    got = simulate(KernelGDA(targets, 1.0, p_gen), x0, **kw, steps=600, every=100)
    np.testing.assert_allclose(np.asarray(got.positions), expected[::100], rtol=1e-12, atol=1e-15)


def test_sweep_is_the_same_as_single_runs():
    game = KernelGDA(np.zeros((1, 2)), 1.0, n_gen=2, p_gen=0.3)
    x0 = np.array([[0.01, 0.0], [0.0, -0.02]])
    sigmas, lams = np.array([0.5, 1.0, 2.0]), np.array([[0.1], [0.5]])
    sweep = simulate(game, x0, sigma=sigmas, lam=lams, eta_d=0.2, eta_g=0.1, steps=50)
    assert sweep.positions.shape == (2, 3, 51, 2, 2)
    for i, j in np.ndindex(2, 3):
        one = simulate(game, x0, sigma=sigmas[j], lam=lams[i, 0], eta_d=0.2, eta_g=0.1, steps=50)
        np.testing.assert_allclose(sweep.positions[i, j], one.positions, rtol=1e-14, atol=1e-16)


def test_divergent_configurations_are_flagged_not_fatal():
    game = KernelGDA(np.zeros((1, 1)), 1.0, p_gen=[0.5])
    traj = simulate(game, np.array([[0.3]]), sigma=np.array([1.0, 1.0, 1.0]), lam=0.1,
                    eta_d=0.1, eta_g=np.array([0.1, 1e12, 1e308]), steps=40)
    assert np.asarray(traj.diverged).tolist() == [False, True, True]
    assert np.all(np.isfinite(np.asarray(traj.positions[0])))


def test_memory_for_matches_the_weight_cut_off():
    L = memory_for(1e-6, lam=0.1, eta_d=0.1)
    assert 0.99**L <= 1e-6 < 0.99 ** (L - 1)


@pytest.mark.parametrize("n_gen,mode", [(1, "random"), (3, "random"), (3, "antisymmetric")])
def test_simulated_rate_is_the_generator_rate(n_gen, mode):
    params = KernelParams(sigma=0.7, lam=0.5, eta_d=0.3, eta_g=0.2, p=1.0, p_gen=0.8 / n_gen,
                          n_gen=n_gen, dim=2)
    out = simulate_local(params, steps=1200, mode=mode)
    assert out["rate_empirical"] == pytest.approx(out["rate_generator"], rel=5e-4)


def test_simulated_rate_ignores_the_discriminator_only_mode():
    # ρ_a = 1 − λη_d = 0.995 is the slowest mode here, but it never moves a point. (The
    # discriminator starts at f⁰ = 0 and relaxes at rate ρ_a, a transient that shifts the
    # fitted slope by about 1e-3.)
    params = KernelParams(sigma=2.0, lam=0.05, eta_d=0.1, eta_g=0.1, p=1.0, p_gen=0.6, n_gen=1,
                          dim=1)
    out = simulate_local(params, steps=2500)
    assert out["rate_joint"] > out["rate_generator"] + 0.008
    assert out["rate_empirical"] == pytest.approx(out["rate_generator"], rel=2e-3)
    assert abs(out["rate_empirical"] - out["rate_joint"]) > 0.007


def test_orders_differ_at_large_steps_as_their_spectra_say():
    params = KernelParams(sigma=0.8, lam=0.5, eta_d=0.4, eta_g=0.4, p=1.0, p_gen=0.6, n_gen=1)
    sim = simulate_local(params, steps=600, order="simultaneous")
    dfirst = simulate_local(params, steps=600, order="d-first")
    assert abs(sim["rate_generator"] - dfirst["rate_generator"]) > 0.05
    assert sim["rate_empirical"] == pytest.approx(sim["rate_generator"], rel=2e-3)
    assert dfirst["rate_empirical"] == pytest.approx(dfirst["rate_generator"], rel=2e-3)


def test_envelope_rate_of_an_oscillating_decay():
    t = np.arange(3000)
    rho, omega = 0.995, 0.07
    r = 0.3 * rho**t * np.abs(np.cos(omega * t + 0.4))
    assert envelope_rate(r).rate == pytest.approx(rho, rel=1e-4)
    grow = 1e-6 * 1.01**t[:800] * np.abs(np.cos(omega * t[:800]))
    fit = envelope_rate(grow)
    assert fit.growing and fit.rate == pytest.approx(1.01, rel=1e-3)


@pytest.mark.parametrize("kernel", [rbf(), rational_quadratic(0.7), inverse_multiquadric()])
def test_builtin_kernels_have_width_sigma(kernel):
    assert kernel_width(kernel, np.array([0.3, -1.0]), 0.8) == pytest.approx(0.8, rel=1e-10)


def test_user_kernel_falls_back_to_the_autodiff_spectrum():
    import jax.numpy as jnp

    same_rbf = user_kernel(lambda x, y, s: jnp.exp(-jnp.sum((x - y) ** 2) / (2 * s * s)), "my-rbf")
    anisotropic = user_kernel(lambda x, y, s: jnp.exp(-((x[0] - y[0]) ** 2 + 4 * (x[1] - y[1]) ** 2)
                                                      / (2 * s * s)), "aniso")
    assert kernel_width(anisotropic, np.zeros(2), 1.0) is None
    params = KernelParams(sigma=0.7, lam=0.5, eta_d=0.3, eta_g=0.2, p=1.0, p_gen=0.8, n_gen=1,
                          dim=2)
    mine = simulate_local(params, steps=400, kernel=same_rbf)
    assert mine["rates_from"] == "theorem1"
    assert mine["rate_generator"] == pytest.approx(
        rates(theorem1_spectrum(params))["rho_generator"], rel=1e-12)
    aniso = simulate_local(params, steps=1500, kernel=anisotropic)
    assert aniso["rates_from"] == "linearised"
    assert aniso["rate_empirical"] == pytest.approx(aniso["rate_generator"], rel=1e-3)


def test_collapse_onto_one_target_is_reported():
    # Two far-apart targets; all points start near target 0 and stay there (mode collapse).
    targets = np.array([[0.0, 0.0], [8.0, 0.0]])
    game = KernelGDA(targets, p=[0.5, 0.5], p_gen=np.full(3, 1 / 6))
    x0 = np.array([[0.1, 0.0], [-0.05, 0.1], [0.0, -0.1]])
    traj = simulate(game, x0, sigma=1.0, lam=0.2, eta_d=0.2, eta_g=0.2, steps=600)
    index, distance = nearest_target(game, traj.positions[-1])
    assert np.asarray(index).tolist() == [0, 0, 0]
    assert np.all(np.asarray(distance) < 0.2)
    # One point starting near each target ends at its own target.
    game2 = KernelGDA(targets, p=[0.5, 0.5], p_gen=[0.5, 0.5])
    traj2 = simulate(game2, np.array([[0.2, 0.1], [7.7, -0.2]]), sigma=1.0, lam=0.2, eta_d=0.2,
                     eta_g=0.2, steps=600)
    assert np.asarray(nearest_target(game2, traj2.positions[-1])[0]).tolist() == [0, 1]


def test_bad_input_is_rejected():
    game = KernelGDA(np.zeros((1, 1)), 1.0, p_gen=[0.5])
    with pytest.raises(ValueError):
        simulate(game, np.zeros((1, 1)), sigma=-1.0, lam=0.1, eta_d=0.1, eta_g=0.1, steps=5)
    with pytest.raises(ValueError):
        simulate(game, np.zeros((2, 1)), sigma=1.0, lam=0.1, eta_d=0.1, eta_g=0.1, steps=5)
    with pytest.raises(ValueError):
        simulate(game, np.zeros((1, 1)), sigma=1.0, lam=0.1, eta_d=0.1, eta_g=0.1, steps=5,
                 order="alternating")
    with pytest.raises(ValueError):
        KernelGDA(np.zeros((1, 1)), 1.0, p_gen=[0.0])
    with pytest.raises(ValueError):
        KernelParams(sigma=1.0, lam=0.1, eta_d=0.1, eta_g=0.1, p_gen=-0.2)


@pytest.mark.parametrize("make", [rbf, rational_quadratic, inverse_multiquadric])
def test_radial_force_matches_per_pair_autodiff(make):
    """The fused radial force (matrix products over φ') equals Σ_c w_c ∇₁K by autodiff per pair."""
    import jax.numpy as jnp

    kernel = make()
    generic = user_kernel(kernel.fn, "same-kernel-generic")
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(7, 3)) + 10.0)  # far from the origin: tests the shift
    centres = jnp.asarray(rng.normal(size=(40, 3)) + 10.0)
    w = jnp.asarray(rng.uniform(-1, 1, size=40))
    fast = np.asarray(kernel.force(x, centres, w, 0.7))
    slow = np.asarray(generic.force(x, centres, w, 0.7))
    assert generic.profile is None and kernel.profile is not None
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_float32_targets_run_in_float32_and_track_float64():
    import jax.numpy as jnp

    targets = np.array([[1.0, 0.0], [-1.0, 0.5]])
    x0 = np.random.default_rng(2).normal(size=(5, 2))
    kw = dict(sigma=0.8, lam=0.2, eta_d=0.2, eta_g=0.3, steps=60, order="d-first")
    t32 = simulate(KernelGDA(jnp.asarray(targets, jnp.float32), n_gen=5), x0, **kw)
    t64 = simulate(KernelGDA(targets, n_gen=5), x0, **kw)
    assert t32.positions.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(t32.positions), np.asarray(t64.positions), atol=1e-4)


@pytest.mark.parametrize("order", ["simultaneous", "d-first"])
def test_warm_start_matches_numpy_transcription(order):
    rng = np.random.default_rng(3)
    targets = rng.normal(size=(2, 2))
    p, p_gen = np.array([0.6, 0.4]), np.array([0.3, 0.5, 0.2])
    x0, x_star = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    kw = dict(sigma=0.7, lam=0.3, eta_d=0.5, eta_g=0.4)
    expected = numpy_reference(targets, p, p_gen, x0, **kw, steps=20, order=order, memory=6,
                               warm_start=x_star)
    got = simulate(KernelGDA(targets, p, p_gen), x0, **kw, steps=20, order=order, memory=6,
                   warm_start=x_star)
    np.testing.assert_allclose(np.asarray(got.positions), expected, rtol=0, atol=1e-13)


def test_warm_start_shows_the_mode_the_build_up_hides():
    # σ = 1, λ = 0.1, p̃ = 0.5, N = 1, η = 0.8: c+ = −0.913 dominates, c− = 0.833. From f⁰ = 0
    # the build-up nearly removes c+, so the measurable decay is c−'s; from the equilibrium
    # discriminator the decay is the spectral radius at once.
    params = KernelParams(sigma=1.0, lam=0.1, eta_d=0.8, eta_g=0.8, p=1.0, p_gen=0.5, n_gen=1)
    spec = {e.mode: abs(e.value) for e in theorem1_spectrum(params)}
    cold = simulate_local(params, steps=400)
    warm = simulate_local(params, steps=400, warm=True)
    assert cold["rate_empirical"] == pytest.approx(spec["c-"], rel=2e-2)
    assert warm["rate_empirical"] == pytest.approx(spec["c+"], rel=2e-3)
    assert warm["rate_generator"] == pytest.approx(spec["c+"], rel=1e-12)


def test_warm_start_needs_positive_lambda_and_matching_shape():
    game = KernelGDA(np.zeros((1, 1)), 1.0, p_gen=[0.5])
    with pytest.raises(ValueError, match="lam > 0"):
        simulate(game, [[0.1]], sigma=1.0, lam=0.0, eta_d=0.1, eta_g=0.1, steps=5,
                 warm_start=[[0.0]])
    with pytest.raises(ValueError, match="warm_start"):
        simulate(game, [[0.1]], sigma=1.0, lam=0.1, eta_d=0.1, eta_g=0.1, steps=5,
                 warm_start=[[0.0, 1.0]])


def test_rounding_memory_gives_the_exact_history_to_rounding(order="d-first"):
    """Centres whose weight is below the history's own rounding are dropped, and nothing changes."""
    from gandyn.kernel.dynamics import rounding_memory

    rng = np.random.default_rng(3)
    targets = rng.normal(size=(3, 2))
    x0 = targets[[0, 1, 2, 0]] + 0.3 * rng.normal(size=(4, 2))
    game = KernelGDA(targets, n_gen=4)
    kw = dict(sigma=0.8, lam=1.0, eta_d=0.2, eta_g=0.5, steps=600, order=order, every=50)
    memory = rounding_memory(1.0, 0.2, np.float64)
    assert memory == int(np.ceil(np.log(np.finfo(float).eps / 2) / np.log(0.8)))  # 166 steps
    exact = simulate(game, x0, **kw)
    cut = simulate(game, x0, **kw, memory="rounding")
    assert exact.memory == 600 and cut.memory == memory
    scale = np.max(np.abs(exact.positions))
    np.testing.assert_allclose(cut.positions, exact.positions, rtol=0, atol=64 * np.finfo(float).eps * scale)
    # A memory far below it is visibly different: the check above can fail.
    short = simulate(game, x0, **kw, memory=20)
    assert np.max(np.abs(short.positions - exact.positions)) > 1e-6
    with pytest.raises(ValueError, match="'rounding'"):
        simulate(game, x0, **kw, memory="all")
