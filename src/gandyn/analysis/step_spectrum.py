r"""The spectrum of a whole training step at a point, and what it says about local stability.

For a training step ``T`` on the augmented state ``z``
(:mod:`gandyn.analysis.update_maps`) and a point ``z*``, the Jacobian
``M = ∂T/∂z(z*)`` governs the iterates near ``z*``: when ``z*`` is a fixed
point, ``z_t − z* ≈ M^t (z_0 − z*)``, so training converges locally iff the
spectral radius ``ρ(M) = max |λ_i| < 1``, at the rate ``−ln ρ`` per step
(Ostrowski's theorem). Here "stable" means ``ρ < 1 − 10⁻⁹``
(:data:`STABILITY_TOL`): a neutral spectrum, ``|λ| = 1`` up to rounding (as for
alternating GDA on a bilinear game), is not convergent and is reported as not
stable.

Two ways to the eigenvalues:

* ``method="dense"``: ``M`` by forward-mode autodiff (``jax.jacfwd``, ``n``
  Jacobian–vector products) and LAPACK; every eigenvalue. For small models.
* ``method="arnoldi"``: ``M`` is never formed. ``jax.linearize`` gives the
  linear map ``v ↦ Mv`` once (or each product is a fresh ``jax.jvp``, which
  compiles once for every point and η: the step-size scans and the spectra
  along training use it), ``jax.jit`` compiles it, and ARPACK's
  implicitly restarted Arnoldi (:func:`scipy.sparse.linalg.eigs` on a
  :class:`~scipy.sparse.linalg.LinearOperator`) finds the ``k`` eigenvalues of
  largest modulus (``"LM"``), largest real part (``"LR"``) and largest
  imaginary part (``"LI"``). Memory is a few vectors of the state's size plus
  the linearisation's residuals (about one forward pass).

Every result carries the residuals ``‖Mv − λv‖/‖v‖`` of its leading
eigenpairs (computed with fresh products, independently of ARPACK), the number
of products ``matvecs`` and the wall time ``seconds``.

Beside the step's spectrum: the eigenvalues of the game Jacobian ``J = ∂F/∂u``
itself (what Berard et al. 2020 compute; for the field of the regularised game,
without the optimiser), the players' Hessian blocks ``∇²_θθ Φ_G`` and
``∇²_ωω Φ`` (a local Nash equilibrium needs the first positive and the second
negative semi-definite, strictly for a strict one), and the stable step-size
interval: the range of η (with ``η_ω/η_θ`` fixed) around the configured one on
which ``ρ(M(η)) < 1``, by a geometric scan and bisection of both ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..games.base import Game
from .update_maps import GradientPenalty, StepState, TrainingStep, descent_field, flat_map

__all__ = ["STABILITY_TOL", "WHICH", "OPERATORS", "Spectrum", "arnoldi", "dense_spectrum", "step_spectrum",
           "step_operator", "spectral_radius", "is_stable", "radius_per_eta", "stable_eta_range",
           "StableRange", "field_spectrum", "nash_check", "find_equilibrium", "path_angle",
           "spectrum_along_training", "AlongTraining", "plot_radius_per_eta",
           "plot_stability_margin", "plot_along_training"]

#: ``stable`` means ``ρ < 1 − STABILITY_TOL``: neutral spectra (``|λ| = 1`` up to rounding) are not.
STABILITY_TOL = 1e-9

#: ARPACK's selections: largest modulus, largest real part, largest imaginary part.
WHICH = ("LM", "LR", "LI")


def is_stable(radius: float) -> bool:
    """``ρ < 1 − STABILITY_TOL`` (a finite radius only)."""
    return bool(np.isfinite(radius) and radius < 1.0 - STABILITY_TOL)


@dataclass
class Spectrum:
    """Eigenvalues of a linear map, with how they were found.

    ``eigenvalues`` are the ``k`` of largest modulus (all of them for dense),
    largest modulus first; ``largest_real`` and ``largest_imag`` the ones of
    largest real part and of largest imaginary part in modulus (a real map's
    eigenvalues come in conjugate pairs), largest first; ``residuals[i] =
    ‖Mv_i − λ_i v_i‖/‖v_i‖`` for ``eigenvalues[i]``; ``eigenvectors`` the
    matching vectors (columns), for warm starts.
    """

    eigenvalues: np.ndarray
    largest_real: np.ndarray
    largest_imag: np.ndarray
    residuals: np.ndarray
    method: str
    dim: int
    matvecs: int
    seconds: float
    eigenvectors: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def spectral_radius(self) -> float:
        return float(np.max(np.abs(self.eigenvalues))) if self.eigenvalues.size else 0.0

    @property
    def stable(self) -> bool:
        return is_stable(self.spectral_radius)


def _by_modulus(values, vectors=None):
    order = np.lexsort((-values.imag, -np.abs(values)))
    return values[order], (None if vectors is None else vectors[:, order])


def _residuals(matvec, values, vectors) -> np.ndarray:
    out = []
    for lam, v in zip(values, vectors.T):
        mv = np.asarray(matvec(v.real)) + 1j * np.asarray(matvec(v.imag))
        out.append(np.linalg.norm(mv - lam * v) / max(np.linalg.norm(v), 1e-300))
    return np.asarray(out)


def arnoldi(matvec: Callable[[np.ndarray], np.ndarray], dim: int, k: int = 6, *,
            which: Sequence[str] = WHICH, v0: Optional[np.ndarray] = None, tol: float = 1e-10,
            maxiter: Optional[int] = None, ncv: Optional[int] = None, seed: int = 0,
            n_residuals: Optional[int] = None) -> Spectrum:
    """ARPACK on the real linear map ``matvec`` (NumPy in, NumPy out) of size ``dim``.

    ``which`` picks the selections (``"LM"`` first is required: it gives
    ``eigenvalues``); ``v0`` warm-starts every selection (default a seeded
    Gaussian vector); the residuals of the first ``n_residuals`` (default all
    ``k``) leading eigenpairs cost two products each and are counted in
    ``matvecs``. Shared by the JAX and the PyTorch front ends.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

    if not (isinstance(k, int) and 1 <= k < dim - 1):
        raise InputError(f"arnoldi needs 1 <= k < dim - 1 = {dim - 1}, got k = {k!r} "
                         "(use method = \"dense\" for small models)")
    which = tuple(which)
    if not which or which[0] != "LM" or any(w not in WHICH for w in which):
        raise InputError(f"which must start with 'LM' and hold only {', '.join(WHICH)}, got {which}")
    count = [0]

    def mv(v):
        count[0] += 1
        return np.asarray(matvec(np.ascontiguousarray(v, dtype=np.float64)), dtype=np.float64)

    op = LinearOperator((dim, dim), matvec=mv, dtype=np.float64)
    if v0 is None:
        v0 = np.random.default_rng(seed).standard_normal(dim)
    v0 = np.asarray(v0, dtype=np.float64).ravel()
    if v0.shape != (dim,) or not np.all(np.isfinite(v0)) or not np.any(v0):
        raise InputError(f"v0 must be a finite, non-zero vector of length {dim}")
    started = time.perf_counter()
    found = {}
    for w in which:
        try:
            vals, vecs = eigs(op, k=k, which=w, v0=v0, tol=tol, maxiter=maxiter, ncv=ncv)
        except ArpackNoConvergence as err:  # keep what converged: a result, not a crash
            vals, vecs = err.eigenvalues, err.eigenvectors
        found[w] = (vals, vecs)
    values, vectors = _by_modulus(*found["LM"])
    n_res = len(values) if n_residuals is None else min(n_residuals, len(values))
    residuals = _residuals(mv, values[:n_res], vectors[:, :n_res])
    lr = found.get("LR", (values, None))[0]
    li = found.get("LI", (values, None))[0]
    return Spectrum(values, lr[np.argsort(-lr.real, kind="stable")],
                    li[np.lexsort((-li.imag, -np.abs(li.imag)))], residuals, "arnoldi", dim, count[0],
                    time.perf_counter() - started, vectors)


def dense_spectrum(matrix: np.ndarray, *, matvecs: int = 0, seconds: float = 0.0) -> Spectrum:
    """Every eigenvalue of a dense matrix (LAPACK), in :class:`Spectrum` form."""
    matrix = np.asarray(matrix, dtype=np.float64)
    started = time.perf_counter()
    vals, vecs = np.linalg.eig(matrix)
    values, vectors = _by_modulus(vals, vecs)
    residuals = np.linalg.norm(matrix @ vectors - vectors * values, axis=0) / np.maximum(
        np.linalg.norm(vectors, axis=0), 1e-300)
    return Spectrum(values, values[np.argsort(-values.real, kind="stable")],
                    values[np.lexsort((-values.imag, -np.abs(values.imag)))], residuals, "dense",
                    matrix.shape[0], matvecs, seconds + time.perf_counter() - started, vectors)


# --------------------------------------------------------------------------- the step's spectrum


@eqx.filter_jit
def _step_jacobian(step: TrainingStep, state: StepState):
    x0, T = flat_map(step, state)
    return jax.jacfwd(T)(x0)


@eqx.filter_jit
def _step_linearize(step: TrainingStep, state: StepState):
    x0, T = flat_map(step, state)
    _, jvp = jax.linearize(T, x0)
    return x0, jvp


@eqx.filter_jit
def _apply(linear, v):
    return linear(v)


@eqx.filter_jit
def _step_jvp(step: TrainingStep, state: StepState, v):
    x0, T = flat_map(step, state)
    return jax.jvp(T, (x0,), (v,))[1]


#: How a product ``Mv`` is computed: once-linearised (``jax.linearize``: each product costs the
#: tangent pass only, but the linear map is compiled afresh for every point and η), or a
#: fresh ``jax.jvp`` (primal and tangent each time, one compilation for every point and η, and
#: no stored residuals).
OPERATORS = ("linearize", "jvp")


def step_operator(step: TrainingStep, state: StepState, operator: str = "linearize"):
    """``(matvec, dim)``: ``v ↦ ∂T/∂z(state) v`` as a compiled function (NumPy in, NumPy out).

    ``operator`` is ``"linearize"`` or ``"jvp"`` (see :data:`OPERATORS`).
    """
    params = eqx.filter(state, eqx.is_inexact_array)
    dim = int(sum(np.size(x) for x in jax.tree_util.tree_leaves(params)))
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    if operator == "linearize":
        _, jvp = _step_linearize(step, state)

        def matvec(v):
            return np.asarray(_apply(jvp, jnp.asarray(v, dtype)))
    elif operator == "jvp":
        def matvec(v):
            return np.asarray(_step_jvp(step, state, jnp.asarray(v, dtype)))
    else:
        raise InputError(f"operator must be one of {', '.join(OPERATORS)}, got {operator!r}")
    return matvec, dim


def step_spectrum(step: TrainingStep, state: Optional[StepState] = None, *,
                  method: str = "dense", k: int = 6, which: Sequence[str] = WHICH,
                  v0: Optional[np.ndarray] = None, tol: float = 1e-10, seed: int = 0,
                  n_residuals: Optional[int] = None, operator: str = "linearize") -> Spectrum:
    """Eigenvalues of ``∂T/∂z`` at ``state`` (default ``step.init()``, the game's initial point).

    ``method="dense"`` (every eigenvalue) or ``"arnoldi"`` (``k`` per
    selection in ``which``, products by ``operator``; see :func:`arnoldi` and
    :data:`OPERATORS`). The Jacobian is with respect
    to the state's floating-point leaves, flattened in the order ``θ, ω``,
    the generator's optimiser state, the discriminator's.
    """
    state = step.init() if state is None else state
    started = time.perf_counter()
    if method == "dense":
        J = np.asarray(_step_jacobian(step, state))
        return dense_spectrum(J, matvecs=J.shape[0], seconds=time.perf_counter() - started)
    if method == "arnoldi":
        matvec, dim = step_operator(step, state, operator)
        spec = arnoldi(matvec, dim, k, which=which, v0=v0, tol=tol, seed=seed,
                       n_residuals=n_residuals)
        spec.seconds = time.perf_counter() - started
        return spec
    raise InputError(f"method must be 'dense' or 'arnoldi', got {method!r}")


def spectral_radius(step: TrainingStep, state: Optional[StepState] = None, *,
                    method: str = "dense", k: int = 6, tol: float = 1e-10) -> float:
    """``ρ(∂T/∂z)`` at ``state`` (Arnoldi: the largest modulus of the ``k`` it finds)."""
    return step_spectrum(step, state, method=method, k=k, which=("LM",), tol=tol,
                         n_residuals=0, operator="jvp").spectral_radius


@eqx.filter_jit
def _step_jacobians(step: TrainingStep, state: StepState, etas):
    """The dense Jacobians at every η of ``etas`` in one vectorised program."""
    def one(eta):
        x0, T = flat_map(step.with_eta(eta), state)
        return jax.jacfwd(T)(x0)

    return jax.vmap(one)(etas)


#: Dense radii over a grid of η are computed this many at a time (one vmapped program).
ETA_BLOCK = 64


def radius_per_eta(step: TrainingStep, state: Optional[StepState], etas: Sequence[float], *,
                   method: str = "dense", k: int = 6, tol: float = 1e-10) -> np.ndarray:
    """``ρ`` of the step at every ``η`` in ``etas`` (``η_ω = ratio · η``), one compilation.

    ``state`` is held fixed: the point does not move with η (an equilibrium of
    ``F`` is a fixed point of the step for every η). Dense: the Jacobians of
    :data:`ETA_BLOCK` step sizes at a time in one vmapped program (the last
    block padded), then LAPACK; Arnoldi: one solve per η.
    """
    state = step.init() if state is None else state
    etas = np.asarray(list(etas), dtype=float)
    if method != "dense":
        return np.array([spectral_radius(step.with_eta(float(e)), state, method=method,
                                         k=k, tol=tol) for e in etas])
    dtype = step.eta_theta.dtype
    out = []
    for start in range(0, len(etas), ETA_BLOCK):
        block = etas[start:start + ETA_BLOCK]
        padded = np.concatenate([block, np.full(ETA_BLOCK - len(block), block[-1])])
        J = np.asarray(_step_jacobians(step, state, jnp.asarray(padded, dtype)))[:len(block)]
        out.append(np.max(np.abs(np.linalg.eigvals(J)), axis=1))
    return np.concatenate(out) if out else np.zeros(0)


@dataclass
class StableRange:
    """The stable step-size interval around ``eta`` and the scan behind it.

    ``interval`` is ``(low, high)`` with ``ρ(η) < 1`` on it and ``eta`` inside,
    or ``None`` when ``eta`` itself is unstable. An end that reached the edge
    of the scan (``low_at_edge``, ``high_at_edge``) is the scan's end, not a
    boundary found: the interval may extend further.
    """

    eta: float
    interval: Optional[tuple[float, float]]
    scan_etas: np.ndarray
    scan_radius: np.ndarray
    low_at_edge: bool = False
    high_at_edge: bool = False


def stable_eta_range(step: TrainingStep, state: Optional[StepState] = None, *,
                     etas: Sequence[float] = (), method: str = "dense", k: int = 6,
                     span: tuple[float, float] = (1e-3, 1e2), grid: int = 48,
                     rtol: float = 1e-7, tol: float = 1e-10) -> StableRange:
    """The interval of η around ``step.eta`` on which ``ρ(∂T/∂z) < 1``.

    Scans ``grid`` geometric points from ``span[0]·η`` to ``span[1]·η`` (and
    ``etas``, and η itself), takes the run of stable points that contains η,
    and bisects each end between its last stable and first unstable scan
    point (geometric midpoints) to a relative width ``rtol``. A stable region
    narrower than the scan's spacing that does not contain a scan point is
    not found.
    """
    state = step.init() if state is None else state
    eta = step.eta
    scan = np.unique(np.concatenate([np.geomspace(span[0] * eta, span[1] * eta, grid),
                                     np.asarray(list(etas), dtype=float), [eta]]))
    rho = lambda e: spectral_radius(step.with_eta(float(e)), state, method=method, k=k, tol=tol)
    radii = radius_per_eta(step, state, scan, method=method, k=k, tol=tol)
    stable = np.array([is_stable(r) for r in radii])
    i0 = int(np.searchsorted(scan, eta))
    if not stable[i0]:
        return StableRange(eta, None, scan, radii)
    lo_i = i0
    while lo_i > 0 and stable[lo_i - 1]:
        lo_i -= 1
    hi_i = i0
    while hi_i < len(scan) - 1 and stable[hi_i + 1]:
        hi_i += 1

    def bisect(good, bad):
        while abs(bad / good - 1.0) > rtol:
            mid = np.sqrt(good * bad)
            good, bad = (mid, bad) if is_stable(rho(mid)) else (good, mid)
        return float(good)

    low = float(scan[0]) if lo_i == 0 else bisect(scan[lo_i], scan[lo_i - 1])
    high = float(scan[-1]) if hi_i == len(scan) - 1 else bisect(scan[hi_i], scan[hi_i + 1])
    return StableRange(eta, (low, high), scan, radii, lo_i == 0, hi_i == len(scan) - 1)


# --------------------------------------------------------------------------- the game itself


def _joint_field(game: Game, penalty: Optional[GradientPenalty]):
    field = descent_field(game, penalty)

    def F(u):
        theta, omega = game.split(u)
        return game.join(*field(theta, omega))

    return F


class _FieldOp(eqx.Module):
    game: Game
    penalty: Optional[GradientPenalty] = eqx.field(static=True)

    def __call__(self, u):
        return _joint_field(self.game, self.penalty)(u)


@eqx.filter_jit
def _field_jacobian(op: _FieldOp, u):
    return jax.jacfwd(op)(u)


@eqx.filter_jit
def _field_linearize(op: _FieldOp, u):
    return jax.linearize(op, u)[1]


def field_spectrum(game: Game, u, *, penalty: Optional[GradientPenalty] = None,
                   method: str = "dense", k: int = 6, which: Sequence[str] = WHICH,
                   tol: float = 1e-10, seed: int = 0) -> Spectrum:
    """Eigenvalues of the game Jacobian ``J = ∂F/∂u`` at ``u`` (``F = −b0``, with the penalty).

    Continuous-time stability: the flow ``u' = −F(u)`` is stable at a zero of
    ``F`` iff every eigenvalue has a positive real part; simultaneous GDA with
    a small enough η is then stable too (``1 − ηλ`` inside the unit circle for
    ``η < min 2 Re λ/|λ|²``).
    """
    op = _FieldOp(game, penalty if penalty is not None and penalty.active else None)
    u = jnp.asarray(u)
    started = time.perf_counter()
    if method == "dense":
        J = np.asarray(_field_jacobian(op, u))
        return dense_spectrum(J, matvecs=J.shape[0], seconds=time.perf_counter() - started)
    if method == "arnoldi":
        jvp = _field_linearize(op, u)
        spec = arnoldi(lambda v: np.asarray(_apply(jvp, jnp.asarray(v, u.dtype))), u.shape[0], k,
                       which=which, tol=tol, seed=seed)
        spec.seconds = time.perf_counter() - started
        return spec
    raise InputError(f"method must be 'dense' or 'arnoldi', got {method!r}")


def nash_check(game: Game, u, *, penalty: Optional[GradientPenalty] = None,
               method: str = "dense", tol: float = 1e-9, seed: int = 0) -> dict:
    """The players' Hessian blocks at ``u``: is it a local Nash equilibrium?

    ``H_θθ = ∇²_θθ Φ_G = ∂d_θ/∂θ`` must be positive semi-definite (θ at a
    local minimum of its loss) and ``H_ωω = ∇²_ωω (Φ − R) = −∂d_ω/∂ω``
    negative semi-definite (ω at a local maximum). ``verdict``:
    ``"strict local Nash"`` (both definite beyond ``tol``, relative to the
    blocks' scale), ``"not a local Nash"`` (one has an eigenvalue of the wrong
    sign beyond ``tol``), else ``"degenerate"`` (the second-order test is
    inconclusive, as on a bilinear game). Dense blocks, or with
    ``method="arnoldi"`` the extreme eigenvalues by Lanczos (ARPACK ``eigsh``
    on Hessian–vector products).
    """
    op = _FieldOp(game, penalty if penalty is not None and penalty.active else None)
    u = jnp.asarray(u)
    dt = game.d_theta
    if method == "dense":
        J = np.asarray(_field_jacobian(op, u))
        h_tt = J[:dt, :dt]
        h_oo = -J[dt:, dt:]
        ev_t = np.linalg.eigvalsh(0.5 * (h_tt + h_tt.T))
        ev_o = np.linalg.eigvalsh(0.5 * (h_oo + h_oo.T))
        t_min, t_max = float(ev_t[0]), float(ev_t[-1])
        o_min, o_max = float(ev_o[0]), float(ev_o[-1])
    elif method == "arnoldi":
        from scipy.sparse.linalg import LinearOperator, eigsh

        jvp = _field_linearize(op, u)
        n = u.shape[0]

        def block(v, which):
            w = np.zeros(n)
            if which == "theta":
                w[:dt] = v
                return np.asarray(_apply(jvp, jnp.asarray(w, u.dtype)))[:dt]
            w[dt:] = v
            return -np.asarray(_apply(jvp, jnp.asarray(w, u.dtype)))[dt:]

        def extremes(who, size):
            if size < 3:  # too small for ARPACK: form the block
                M = np.stack([block(e, who) for e in np.eye(size)], axis=1)
                ev = np.linalg.eigvalsh(0.5 * (M + M.T))
                return float(ev[0]), float(ev[-1])
            A = LinearOperator((size, size), matvec=lambda v: block(v, who), dtype=np.float64)
            v0 = np.random.default_rng(seed).standard_normal(size)
            lo = eigsh(A, k=1, which="SA", v0=v0, return_eigenvectors=False)[0]
            hi = eigsh(A, k=1, which="LA", v0=v0, return_eigenvectors=False)[0]
            return float(lo), float(hi)

        t_min, t_max = extremes("theta", dt)
        o_min, o_max = extremes("omega", n - dt)
    else:
        raise InputError(f"method must be 'dense' or 'arnoldi', got {method!r}")
    scale = max(abs(t_min), abs(t_max), abs(o_min), abs(o_max), 1.0)
    if t_min < -tol * scale or o_max > tol * scale:
        verdict = "not a local Nash"
    elif t_min > tol * scale and o_max < -tol * scale:
        verdict = "strict local Nash"
    else:
        verdict = "degenerate"
    return {"theta_hessian_min": t_min, "theta_hessian_max": t_max,
            "omega_hessian_min": o_min, "omega_hessian_max": o_max, "verdict": verdict}


def find_equilibrium(game: Game, u0, *, penalty: Optional[GradientPenalty] = None,
                     tol: float = 1e-10, max_iter: int = 200, max_dim: int = 4000) -> dict:
    """A zero of ``F`` near ``u0`` by Levenberg–Marquardt on ``|F|²`` (dense Jacobians).

    ``u ← u − (JᵀJ + μI)⁻¹ JᵀF``, with ``μ`` divided by 3 after a step that
    lowers ``|F|`` and multiplied by 4 (step refused) otherwise; Newton's
    method when ``μ → 0``, gradient descent on ``½|F|²`` when ``μ`` is large,
    so it also converges to a stationary point of ``|F|²`` that is not a zero
    (then ``converged`` is false). Returns ``u``, ``residual = |F(u)|``,
    ``iterations``, ``converged`` (``residual <= tol``).
    """
    u = np.asarray(u0, dtype=float).copy()
    if u.shape[0] > max_dim:
        raise InputError(f"the equilibrium solver forms dense Jacobians; the game has {u.shape[0]} "
                         f"parameters (> {max_dim}): use point.kind = \"checkpoint\" or \"initial\"")
    op = _FieldOp(game, penalty if penalty is not None and penalty.active else None)
    F = eqx.filter_jit(lambda o, x: o(x))
    norm = lambda x: float(np.linalg.norm(np.asarray(F(op, jnp.asarray(x)))))
    res = norm(u)
    mu, it = 1e-3, 0
    while res > tol and it < max_iter:
        it += 1
        J = np.asarray(_field_jacobian(op, jnp.asarray(u)))
        f = np.asarray(F(op, jnp.asarray(u)))
        JtJ = J.T @ J
        scale = max(float(np.trace(JtJ)) / len(u), 1e-300)
        while mu <= 1e12:  # raise μ until a step lowers |F|
            trial = u - np.linalg.solve(JtJ + mu * scale * np.eye(len(u)), J.T @ f)
            r = norm(trial)
            if np.isfinite(r) and r < res:
                u, res, mu = trial, r, max(mu / 3, 1e-15)
                break
            mu *= 4
        else:
            break  # no step lowers |F|: a stationary point of |F|² that is not a zero
    return {"u": u, "residual": res, "iterations": it, "converged": bool(res <= tol)}


@eqx.filter_jit
def _fields_on_line(op: _FieldOp, u_a, direction, alphas):
    # module level, so that every pair of checkpoints shares one compilation
    return jax.vmap(lambda t: op(u_a + t * direction))(alphas)


def path_angle(game: Game, u_a, u_b, *, penalty: Optional[GradientPenalty] = None,
               alphas: Optional[Sequence[float]] = None) -> dict:
    """Path-angle between two points (Berard et al. 2020, §4).

    Along the straight line ``u(α) = u_a + α (u_b − u_a)`` (default 100
    points, ``α`` from −0.2 to 1.2), the cosine between the field ``F(u(α))``
    and the line's direction, ``cos = F·(u_b − u_a)/(|F||u_b − u_a|)``, and
    ``|F(u(α))|``. Near a locally stable equilibrium at ``α = 1`` the cosine
    changes sign there; a rotational component (the signature of games, as
    opposed to minimisation) keeps ``|cos|`` well below 1 around it.
    """
    u_a, u_b = jnp.asarray(u_a), jnp.asarray(u_b)
    if u_a.shape != u_b.shape:
        raise InputError(f"the two points have different shapes {u_a.shape} and {u_b.shape}")
    direction = u_b - u_a
    length = float(jnp.linalg.norm(direction))
    if length == 0:
        raise InputError("path_angle needs two different points")
    alphas = np.linspace(-0.2, 1.2, 100) if alphas is None else np.asarray(alphas, dtype=float)
    op = _FieldOp(game, penalty if penalty is not None and penalty.active else None)
    fields = np.asarray(_fields_on_line(op, u_a, direction, jnp.asarray(alphas, u_a.dtype)))
    norms = np.linalg.norm(fields, axis=1)
    cos = fields @ np.asarray(direction) / np.maximum(norms * length, 1e-300)
    return {"alphas": alphas, "cosine": cos, "field_norm": norms}


# --------------------------------------------------------------------------- along training


@dataclass
class AlongTraining:
    """Spectra every ``every`` steps of a training run: ``steps[i]``, ``radius[i]``, …

    ``diverged_at`` is the first step at which the state held a NaN or an
    infinity (training stopped there, with no spectrum of it), else ``None``.
    """

    steps: list
    radius: list
    eigenvalues: list
    matvecs: list
    seconds: list
    residual_max: list
    diverged_at: Optional[int] = None

    @property
    def margin(self) -> np.ndarray:
        """The stability margin ``1 − ρ`` at each recorded step."""
        return 1.0 - np.asarray(self.radius)


@eqx.filter_jit
def _advance(step: TrainingStep, state: StepState, n: int):
    return jax.lax.fori_loop(0, n, lambda i, s: step(s), state)


def spectrum_along_training(step: TrainingStep, state: Optional[StepState] = None, *,
                            steps: int, every: int, k: int = 6, tol: float = 1e-10,
                            seed: int = 0, method: str = "arnoldi", warm_start: bool = True,
                            callback: Optional[Callable] = None,
                            step_at: Optional[Callable[[StepState], TrainingStep]] = None
                            ) -> AlongTraining:
    """Train with ``step`` (full-batch) and take the spectrum of the step every ``every`` steps.

    With ``warm_start`` each Arnoldi solve starts from the previous solve's
    leading eigenvector (``v0``, its real part), else from the same seeded
    random vector. A warm start is no guarantee of fewer products: ARPACK
    still has to build the other ``k − 1`` directions, and a start close to one
    eigenvector can cost more (``examples/stability_along_training.py``
    prints both counts). ``callback(t, state, spectrum)`` sees every record.

    ``step_at(state)``, when given, is the step analysed at a record and
    trained with until the next one: Adam's and RMSprop's frozen
    preconditioner re-taken at the current point (``training_step(…,
    at=(state.theta, state.omega))``), so that it follows training piecewise.
    A rebuilt step of the same structure reuses the compiled programs.
    """
    if not (isinstance(every, int) and every >= 1 and isinstance(steps, int) and steps >= 0):
        raise InputError("steps must be >= 0 and every >= 1 (integers)")
    state = step.init() if state is None else state
    out = AlongTraining([], [], [], [], [], [])
    v0 = None
    t = 0
    while True:
        if step_at is not None:
            step = step_at(state)
        spec = step_spectrum(step, state, method=method, k=k, which=("LM",), v0=v0, tol=tol,
                             seed=seed, n_residuals=1, operator="jvp")
        if warm_start and method == "arnoldi" and spec.eigenvectors is not None \
                and spec.eigenvectors.size:
            lead = spec.eigenvectors[:, 0]
            v0 = lead.real if np.any(lead.real) else lead.imag
        out.steps.append(t)
        out.radius.append(spec.spectral_radius)
        out.eigenvalues.append(spec.eigenvalues)
        out.matvecs.append(spec.matvecs)
        out.seconds.append(spec.seconds)
        out.residual_max.append(float(np.max(spec.residuals)) if spec.residuals.size else 0.0)
        if callback is not None:
            callback(t, state, spec)
        if t + every > steps:
            break
        state = _advance(step, state, every)
        t += every
        if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(
                eqx.filter(state, eqx.is_inexact_array))):
            out.diverged_at = t  # divergence is a result: no spectrum of a NaN state
            break
    return out


# --------------------------------------------------------------------------- plots


def plot_radius_per_eta(etas, radius, *, eta: Optional[float] = None,
                        interval: Optional[Sequence[float]] = None,
                        title: str = "spectral radius of the training step"):
    """``ρ`` against ``η`` (log axis), the line ``ρ = 1``, the configured η and the stable interval."""
    from ..io import new_figure

    fig = new_figure(figsize=(5.6, 3.8), layout="constrained")
    ax = fig.subplots()
    etas, radius = np.asarray(etas, dtype=float), np.asarray(radius, dtype=float)
    order = np.argsort(etas)
    ax.plot(etas[order], radius[order], "o-", ms=3, color="C0", label=r"$\rho(\partial T/\partial z)$")
    ax.axhline(1.0, color="k", lw=0.8, label=r"$\rho = 1$")
    if interval is not None:
        ax.axvspan(interval[0], interval[1], color="C2", alpha=0.15, label="stable η")
    if eta is not None:
        ax.axvline(eta, color="C3", ls="--", lw=1, label=f"η = {eta:g}")
    ax.set_xscale("log")
    ax.set_xlabel(r"step size $\eta$ ($\eta_\omega/\eta_\theta$ fixed)")
    ax.set_ylabel(r"spectral radius $\rho$")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_along_training(steps, margin, alphas=None, cosines=(), labels=(), *,
                        title: str = "stability of the training step along training"):
    """Two panels: the margin ``1 − ρ`` against the training step, and the path-angle.

    ``cosines[i]`` is :func:`path_angle`'s cosine on ``alphas`` between two
    checkpoints, ``labels[i]`` its legend entry; without them, the margin alone.
    """
    from ..io import new_figure

    pairs = list(cosines)
    fig = new_figure(figsize=(10.4 if pairs else 5.6, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if pairs else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(steps, margin, "o-", ms=3)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel(r"margin $1 - \rho$ (above 0: contracting)")
    ax.set_title("stability margin")
    ax.grid(alpha=0.3)
    if pairs:
        ax = axes[1]
        from matplotlib import colormaps

        cmap = colormaps["viridis"]
        for i, (cos, label) in enumerate(zip(pairs, labels)):
            ax.plot(alphas, cos, color=cmap(i / max(len(pairs) - 1, 1)), lw=1.2, label=label)
        ax.axhline(0.0, color="k", lw=0.8)
        for a in (0.0, 1.0):
            ax.axvline(a, color="k", lw=0.6, ls="--")
        ax.set_xlabel(r"$\alpha$ along $u_a + \alpha (u_b - u_a)$")
        ax.set_ylabel(r"$\cos\angle(F(u), u_b - u_a)$")
        ax.set_title("path-angle between consecutive checkpoints")
        ax.grid(alpha=0.3)
        if len(pairs) <= 8:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    return fig


def plot_stability_margin(along: AlongTraining, title: str = "stability margin along training"):
    """``1 − ρ`` against the training step (above 0: locally contracting)."""
    from ..io import new_figure

    fig = new_figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(along.steps, along.margin, "o-", ms=3)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel(r"margin $1 - \rho$")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig
