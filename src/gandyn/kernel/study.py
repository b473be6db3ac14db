"""The studies behind ``gandyn kernel``: spectrum report, local simulation, phase diagrams.

Everything here is about one target ``x* = 0`` of mass ``p`` in ``R^d`` with
``N`` generated points of mass ``p̃`` (the setting of Theorem 1); the
functions return plain dicts and arrays that the CLI prints and the plots
draw.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .dynamics import KernelGDA, nearest_target, simulate
from .kernels import Kernel, kernel_width, rbf
from .linearised import linearised_spectrum
from .rates import envelope_rate
from .theory import (KernelParams, corollary1_eta_d_max, eta_d_max, pair_roots, proposition2,
                     rates, theorem1_coefficients, theorem1_spectrum)

__all__ = ["spectrum_report", "initial_points", "simulate_local", "phase_grid",
           "simulated_phase_grid", "simulated_cell_rates", "OFFSET_MODES"]

OFFSET_MODES = ("random", "symmetric", "antisymmetric")


def _check_theorem_kernel(kernel: Kernel, params: KernelParams) -> None:
    width = kernel_width(kernel, np.zeros(params.dim), params.sigma)
    if width is None or abs(width - params.sigma) > 1e-6 * params.sigma:
        raise ValueError(f"kernel {kernel.name} does not satisfy assumption (8) with width "
                         f"sigma={params.sigma} (measured {width}); Theorem 1 does not apply")


def spectrum_report(params: KernelParams, order: str = "simultaneous",
                    convention: str = "theorem") -> dict:
    """Theorem 1's spectrum with both rates, the verdict and the step-size bounds."""
    spec = theorem1_spectrum(params, order=order, convention=convention)
    a, b, c = (float(v) for v in theorem1_coefficients(
        params.sigma, params.lam, params.eta_d, params.eta_g, params.p, params.p_gen,
        params.n_gen))
    r = rates(spec)
    eta_max = eta_d_max(params, order=order)
    cor1 = corollary1_eta_d_max(params)
    prop2 = proposition2(params)
    stable = bool(r["rho_joint"] < 1.0)
    m = 0.5 * (a + b)
    notes = []
    if order == "simultaneous" and np.isfinite(cor1) and abs(cor1 - eta_max) > 1e-12 * max(1.0, eta_max):
        notes.append(f"Corollary 1 gives eta_d < {cor1:.6g} but the spectrum gives {eta_max:.6g}"
                     + (" (real c-pair: Corollary 1's (a+b)/c overstates the bound)"
                        if m * m >= c else ""))
    if prop2["claims_stable"] and not stable:
        notes.append("Proposition 2's condition holds but the spectrum is unstable")
    return {
        "order": order, "convention": convention,
        "a": a, "b": b, "c": c, "m": m, "mu": params.mu, "delta": params.delta,
        "complex_pair": bool(m * m < c),
        "eigenvalues": [e.to_json() for e in spec],
        "rho_joint": r["rho_joint"], "rho_generator": r["rho_generator"],
        "stable": stable, "stable_generator": bool(r["rho_generator"] < 1.0),
        "eta_d_max": eta_max, "eta_d_max_corollary1": cor1,
        "proposition2": prop2, "disagreements": notes,
    }


def initial_points(n_gen: int, dim: int, offset: float, mode: str = "random", seed: int = 0):
    """``N`` points at distance ``offset`` from the target at 0.

    ``symmetric``: all along one random direction (excites only the ``c±`` pair);
    ``antisymmetric``: their sum is zero (only ``b``, needs ``N ≥ 2``);
    ``random``: independent random directions (every mode).
    """
    if mode not in OFFSET_MODES:
        raise ValueError(f"mode must be one of {OFFSET_MODES}, got {mode!r}")
    if not offset > 0:
        raise ValueError("offset must be positive")
    rng = np.random.default_rng(seed)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    if mode == "random":
        return offset * unit(rng.standard_normal((n_gen, dim)))
    direction = unit(rng.standard_normal(dim))
    if mode == "symmetric":
        return np.tile(offset * direction, (n_gen, 1))
    if n_gen < 2:
        raise ValueError("antisymmetric offsets need at least 2 generated points")
    signs = np.where(np.arange(n_gen) % 2 == 0, 1.0, -1.0)
    if n_gen % 2:
        signs[-1] = 0.0  # odd N: one point stays at the target so that the sum is zero
    return offset * signs[:, None] * direction[None, :]


def simulate_local(params: KernelParams, *, steps: int = 2000, order: str = "simultaneous",
                   offset: float = 1e-3, mode: str = "random", seed: int = 0,
                   kernel: Optional[Kernel] = None, memory: Optional[int] = None,
                   warm: bool = False) -> dict:
    """Simulate from ``offset`` away from the equilibrium and compare the rates.

    ``warm=True`` starts the discriminator at its equilibrium (points at the
    target) instead of ``f⁰ = 0``, so the run shows the local rate without
    the discriminator's build-up.
    """
    kernel = rbf() if kernel is None else kernel
    game = KernelGDA(np.zeros((1, params.dim)), p=params.p, p_gen=params.p_gen,
                     n_gen=params.n_gen, kernel=kernel)
    x0 = initial_points(params.n_gen, params.dim, offset, mode, seed)
    traj = simulate(game, x0, sigma=params.sigma, lam=params.lam, eta_d=params.eta_d,
                    eta_g=params.eta_g, steps=steps, order=order, memory=memory,
                    warm_start=np.zeros_like(x0) if warm else None)
    pos = np.asarray(traj.positions)
    distance = np.sqrt(np.sum(pos**2, axis=(-2, -1)))  # |X̃_t − X̃*| over all points
    fit = envelope_rate(distance)
    try:
        _check_theorem_kernel(kernel, params)
        theory = rates(theorem1_spectrum(params, order=order))
        source = "theorem1"
    except ValueError:
        lin = linearised_spectrum(game, sigma=params.sigma, lam=params.lam, eta_d=params.eta_d,
                                  eta_g=params.eta_g, order=order)
        theory = {"rho_joint": lin.rho_joint, "rho_generator": lin.rho_generator}
        source = "linearised"
    final = pos[-1]
    idx, dist = nearest_target(game, final)
    return {
        "order": order, "kernel": kernel.name, "steps": steps, "offset": offset, "mode": mode,
        "seed": seed, "memory": traj.memory,
        "discriminator_start": "equilibrium" if warm else "zero",
        "rate_empirical": fit.rate, "fit_window": [fit.start, fit.stop], "growing": fit.growing,
        "rate_generator": theory["rho_generator"], "rate_joint": theory["rho_joint"],
        "rates_from": source,
        "final_distance": float(np.max(np.sqrt(np.sum(final**2, axis=-1)))),
        "diverged": bool(np.asarray(traj.diverged)),
        "nearest_target": np.asarray(idx).tolist(),
        "distance_curve": distance,
    }


def phase_grid(sigmas, lams, *, eta_d, eta_g, p, p_gen, n_gen, convention: str = "theorem",
               quantity: str = "joint", order: str = "simultaneous") -> dict:
    """``|ρ_max|²`` of Theorem 1 on the grid ``lams × sigmas`` (rows: λ, columns: σ).

    Returns the grid, the dominant mode per cell (``"a"``, ``"b"``, ``"c"``),
    where the ``c`` pair is complex, and the ``ρ_a = ρ_b`` line
    ``σ = √(μ p̃ Δ)/λ``. ``convention="paper-figure"`` counts the ``b`` mode
    also for ``N = 1``, as the authors' Figure 2 does; ``quantity="generator"``
    leaves out ``a``.
    """
    if convention not in ("theorem", "paper-figure"):
        raise ValueError("convention must be 'theorem' or 'paper-figure'")
    if quantity not in ("joint", "generator"):
        raise ValueError("quantity must be 'joint' or 'generator'")
    sigmas, lams = np.asarray(sigmas, float), np.asarray(lams, float)
    S, L = np.meshgrid(sigmas, lams)
    a, b, c = theorem1_coefficients(S, L, eta_d, eta_g, p, p_gen, n_gen)
    plus, minus = pair_roots(a, b, c, eta_d, order)
    moduli = {"a": np.abs(1.0 - eta_d * a), "b": np.abs(1.0 - eta_d * b),
              "c": np.maximum(np.abs(plus), np.abs(minus))}
    modes = ["c"]
    if n_gen >= 2 or convention == "paper-figure":
        modes.append("b")
    if quantity == "joint":
        modes.append("a")
    stack = np.stack([moduli[k] for k in modes])
    rho = stack.max(axis=0)
    dominant = np.array(modes)[stack.argmax(axis=0)]
    m = 0.5 * (a + b)
    mu = eta_g / eta_d
    delta = p - n_gen * p_gen
    with np.errstate(invalid="ignore", divide="ignore"):
        ab_line = np.sqrt(mu * p_gen * delta) / lams if delta > 0 else np.full_like(lams, np.nan)
    return {"sigma": sigmas, "lam": lams, "rho2": rho**2, "dominant": dominant,
            "complex": m * m < c, "ab_line_sigma": ab_line, "modes": modes,
            "convention": convention, "quantity": quantity, "order": order}


def summarise_phase(grid: dict) -> dict:
    rho2 = grid["rho2"]
    i, j = np.unravel_index(np.argmin(rho2), rho2.shape)
    return {"min": float(rho2[i, j]),
            "argmin": {"sigma": float(grid["sigma"][j]), "lam": float(grid["lam"][i])},
            "unstable_fraction": float(np.mean(rho2 >= 1.0)),
            "median": float(np.median(rho2))}


def simulated_phase_grid(sigmas, lams, *, eta_d, eta_g, p, p_gen, n_gen, dim: int = 1,
                         steps: int = 400, offset: float = 1e-3, order: str = "simultaneous",
                         seed: int = 0, kernel: Optional[Kernel] = None, warm: bool = True) -> dict:
    """Empirical ``rate²`` from short runs on the same grid, all cells in one vmapped run.

    By default (``warm=True``) every run starts with the equilibrium
    discriminator: from ``f⁰ = 0`` a run shorter than ``~1/(λη_d)`` steps
    measures the discriminator's build-up rather than the local rate.
    """
    sigmas, lams = np.asarray(sigmas, float), np.asarray(lams, float)
    S, L = np.meshgrid(sigmas, lams)
    rho2, diverged = simulated_cell_rates(S.reshape(-1), L.reshape(-1), eta_d=eta_d, eta_g=eta_g,
                                          p=p, p_gen=p_gen, n_gen=n_gen, dim=dim, steps=steps,
                                          offset=offset, order=order, seed=seed, kernel=kernel,
                                          warm=warm)
    return {"sigma": sigmas, "lam": lams, "rho2": rho2.reshape(S.shape), "steps": steps,
            "order": order, "discriminator_start": "equilibrium" if warm else "zero",
            "diverged": diverged.reshape(S.shape)}


def simulated_cell_rates(sigmas, lams, *, eta_d, eta_g, p, p_gen, n_gen, dim: int = 1,
                         steps: int = 400, offset: float = 1e-3, order: str = "simultaneous",
                         seed: int = 0, kernel: Optional[Kernel] = None,
                         warm: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(rate², diverged)`` of one short run per cell ``(sigmas[k], lams[k])`` (paired 1-d arrays).

    Every cell starts from the same random offsets (``seed``,
    :func:`initial_points`); the runs go in one vmapped simulation, each
    cell's independent of the others, so a grid can be simulated in any
    blocks of cells. See :func:`simulated_phase_grid` for ``warm``.
    """
    kernel = rbf() if kernel is None else kernel
    sigmas, lams = np.asarray(sigmas, float).reshape(-1), np.asarray(lams, float).reshape(-1)
    if sigmas.shape != lams.shape:
        raise ValueError(f"sigmas and lams must pair up, got {sigmas.shape} and {lams.shape}")
    game = KernelGDA(np.zeros((1, dim)), p=p, p_gen=p_gen, n_gen=n_gen, kernel=kernel)
    x0 = initial_points(n_gen, dim, offset, "random", seed)
    traj = simulate(game, x0, sigma=sigmas, lam=lams, eta_d=eta_d, eta_g=eta_g, steps=steps,
                    order=order, warm_start=np.zeros_like(x0) if warm else None)
    pos = np.asarray(traj.positions)
    dist = np.sqrt(np.sum(pos**2, axis=(-2, -1)))  # (cells, steps + 1)
    rate = np.array([envelope_rate(d).rate for d in dist])
    return rate**2, np.asarray(traj.diverged)


def convergence_study(*, eta_d: float = 0.1, eta_g: float = 0.01, lams=(1.0, 0.1, 0.01),
                      sigmas=(0.1, 1.0, 10.0), steps: int = 1000, offset: float = 0.1,
                      p: float = 1.0, p_gen: float = 1.0, order: str = "simultaneous",
                      kernel: Optional[Kernel] = None, warm: bool = False) -> list:
    """Figure 3: one point started ``offset`` from its target, simulated and predicted.

    The defaults are the authors' two-point experiment (``d = 1``, ``p = p̃ = 1``,
    ``x̃⁰ = 0.1``, ``η_d = 0.1``, ``η_g = 0.01``). All ``λ × σ`` runs go in one
    vmapped simulation; the prediction iterates the linearised map of
    :func:`gandyn.kernel.linearised.linearised_map` from the same start
    (``δ⁰ = offset``, no discriminator perturbation, as ``f⁰ = 0`` has zero
    gradient at the target), so it shows the same oscillations. The
    prediction linearises at the *equilibrium* discriminator; the simulation
    starts from ``f⁰ = 0`` as the authors' does, unless ``warm=True`` (then
    it starts at the equilibrium discriminator and the two describe the same
    dynamics). From ``f⁰ = 0`` the first ``~1/(λη_d)`` steps differ.
    """
    from .linearised import linearised_map

    kernel = rbf() if kernel is None else kernel
    lams, sigmas = np.asarray(lams, float), np.asarray(sigmas, float)
    L, S = np.meshgrid(lams, sigmas, indexing="ij")
    game = KernelGDA(np.zeros((1, 1)), p=p, p_gen=p_gen, n_gen=1, kernel=kernel)
    traj = simulate(game, np.array([[offset]]), sigma=S, lam=L, eta_d=eta_d, eta_g=eta_g,
                    steps=steps, order=order, warm_start=np.zeros((1, 1)) if warm else None)
    pos = np.asarray(traj.positions)[..., 0, 0]
    runs = []
    for i, j in np.ndindex(L.shape):
        J = linearised_map(game, np.zeros((1, 1)), sigma=S[i, j], lam=L[i, j], eta_d=eta_d,
                           eta_g=eta_g, order=order)
        state = np.zeros(J.shape[0])
        state[-1] = offset  # δ is the last block of the state (c, δ)
        predicted = [offset]
        for _ in range(steps):
            state = J @ state
            predicted.append(state[-1])
        distance = np.abs(pos[i, j])
        runs.append({"lam": float(L[i, j]), "sigma": float(S[i, j]),
                     "rate_predicted": float(np.max(np.abs(np.linalg.eigvals(J)))),
                     "rate_empirical": envelope_rate(distance).rate,
                     "distance": distance, "predicted": np.asarray(predicted),
                     "diverged": bool(np.asarray(traj.diverged)[i, j])})
    return runs
