"""Theorem 1 of Becker et al.: the local spectrum of kernel GDA in closed form.

One target ``x_i`` of mass ``p`` holds ``N = |𝒩_i|`` generated points of equal
mass ``p̃`` (the isolated-points model, eq. (10)–(12)). With ``μ = η_g/η_d`` and
``Δ = p − N p̃`` (eq. (20)), eq. (19) defines::

    a = λ,    b = μ p̃ Δ / (λ σ²),    c = μ p̃ p / σ²,    m = (a + b)/2.

**Simultaneous updates** (eq. (5), the setting of Theorem 1). The Jacobian of
the update map at ``x̃_j = x_i`` has eigenvalues ``ρ = 1 − η_d ν`` with

* ``ν = a``: discriminator directions that never move a generated point
  (their number is the feature-space dimension minus ``d``: infinite for the
  kernels here, reported as multiplicity ``None``);
* ``ν = b``, multiplicity ``(N − 1) d``, **only when N ≥ 2**: points sharing
  the target moving apart;
* ``ν = m ± √(m² − c)``, multiplicity ``d`` each: the points moving together
  against the discriminator (complex when ``m² < c``: oscillation).

Two rates follow: the *joint* rate ``max |ρ|`` over all modes, which governs
the discriminator too, and the *generator* rate over the modes that move a
point (``b`` and ``c±``), which is what the distance of the points to their
target decays with.

**Discriminator-first updates** (Lemma 1 as printed and the authors' code:
the generator steps against ``f^{t+1}``). ``ρ_a`` and ``ρ_b`` are unchanged;
the pair solves ``ρ² − Tρ + D = 0`` with::

    T = 2 − η_d (a + b) − η_d² (c − ab),     D = (1 − η_d a)(1 − η_d b),

which agrees with the simultaneous pair ``ρ² − (2 − η_d(a+b))ρ + 1 − η_d(a+b) + η_d² c``
up to ``O(η_d²)`` (derived by eliminating the discriminator's gradient at the
target, as in :mod:`gandyn.kernel.linearised`; the tests check it against the
numerical routes).

**Step-size bounds.** With ``μ`` fixed, ``a, b, c`` are fixed and
``|1 − η_d ν| < 1`` iff ``η_d < 2 Re ν / |ν|²`` (for ``Re ν > 0``), so the
largest stable ``η_d`` (:func:`eta_d_max`) is the minimum of that over the
modes. Corollary 1 states ``min{2/a, 2/b, (a + b)/c}`` (``2/b`` dropped for
``N = 1``): this is right when the pair is complex, but when it is real the
bound from ``ν₊ = m + √(m² − c)`` is ``2/ν₊ = 2(m − √(m² − c))/c < (a + b)/c``,
so Corollary 1 overstates the stable range there. :func:`corollary1_eta_d_max`
keeps the printed form for comparison; verdicts come from the spectrum.
Proposition 2 (``η_d < 2/λ`` and ``η_g < λσ²``, for ``0 < Δ < p``) is
reported by :func:`proposition2` beside the spectrum's verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

__all__ = ["KernelParams", "Eigenvalue", "theorem1_coefficients", "theorem1_spectrum",
           "rates", "eta_d_max", "corollary1_eta_d_max", "proposition2", "ORDERS"]

ORDERS = ("simultaneous", "d-first")

#: Allowed range of each of σ, λ, η_d, η_g, p, p̃ (:class:`KernelParams`).
PARAM_RANGE = (1e-12, 1e12)
#: Largest allowed number of generated points ``N`` and dimension ``d``.
COUNT_MAX = 10**6


@dataclass(frozen=True)
class KernelParams:
    """The hyperparameters of one target region (Section II-E of the paper).

    Validated on construction (``ValueError`` naming the parameter and its
    range): ``sigma, lam, eta_d, eta_g, p, p_gen`` must lie in
    ``PARAM_RANGE = [1e-12, 1e12]`` and ``n_gen, dim`` be integers in
    ``[1, 10⁶]``. In these ranges σ² and 1/σ² neither overflow nor underflow,
    ``μ = η_g/η_d`` lies in ``[1e-24, 1e24]``, ``|a|, |b|, c ≤ 1e90``,
    ``c ≥ 1e-72`` and every product the spectrum needs (``η_d ν``,
    ``η_d² c``, ``T²`` of the d-first pair, ``|ν|²``) is a finite float64, so
    Theorem 1's numbers are computed without overflow. Values outside would
    only give infinities, zeros or a spectrum of exact 1s.
    """

    sigma: float
    lam: float
    eta_d: float
    eta_g: float
    p: float = 1.0
    p_gen: float = 0.8
    n_gen: int = 1
    dim: int = 1

    def __post_init__(self):
        for name in ("sigma", "lam", "eta_d", "eta_g", "p", "p_gen"):
            value = getattr(self, name)
            ok = (isinstance(value, (int, float, np.integer, np.floating))
                  and not isinstance(value, bool) and np.isfinite(value)
                  and PARAM_RANGE[0] <= value <= PARAM_RANGE[1])
            if not ok:
                raise ValueError(f"{name} must lie in [{PARAM_RANGE[0]:g}, {PARAM_RANGE[1]:g}], "
                                 f"got {value!r}")
        for name in ("n_gen", "dim"):
            value = getattr(self, name)
            ok = (isinstance(value, (int, float, np.integer, np.floating))
                  and not isinstance(value, bool) and np.isfinite(value) and int(value) == value
                  and 1 <= value <= COUNT_MAX)
            if not ok:
                raise ValueError(f"{name} must be an integer in [1, {COUNT_MAX}], got {value!r}")
        # Inside these ranges |a|, |b|, c ≤ 1e90 and η_d·|ν| ≤ 1e102, so nothing below
        # overflows; this guards the bound itself.
        with np.errstate(all="ignore"):
            coeffs = theorem1_coefficients(self.sigma, self.lam, self.eta_d, self.eta_g, self.p,
                                           self.p_gen, self.n_gen)
            scaled = [self.eta_d * float(v) for v in coeffs]
        if not all(np.isfinite(v) and abs(v) < 1e150 for v in scaled + [float(c) for c in coeffs]):
            raise ValueError("these parameters make a, b or c overflow; rescale them")

    @property
    def mu(self) -> float:
        return self.eta_g / self.eta_d

    @property
    def delta(self) -> float:
        """``Δ = p − N p̃``, eq. (20): target mass not yet matched."""
        return self.p - self.n_gen * self.p_gen


@dataclass(frozen=True)
class Eigenvalue:
    """One eigenvalue ``ρ`` of the update map's Jacobian, its mode and multiplicity."""

    mode: str  # "a", "b", "c+" or "c-"
    value: complex
    multiplicity: Optional[int]  # None: infinite (the a mode of an RKHS discriminator)

    @property
    def moves_points(self) -> bool:
        return self.mode != "a"

    def to_json(self) -> dict:
        return {"mode": self.mode, "re": float(self.value.real), "im": float(self.value.imag),
                "abs": float(abs(self.value)), "multiplicity": self.multiplicity}


def theorem1_coefficients(sigma, lam, eta_d, eta_g, p, p_gen, n_gen):
    """``(a, b, c)`` of eq. (19); works elementwise on arrays (phase diagrams)."""
    sigma, lam, eta_d, eta_g, p, p_gen, n_gen = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (sigma, lam, eta_d, eta_g, p, p_gen, n_gen)))
    mu = eta_g / eta_d
    delta = p - n_gen * p_gen
    return lam, mu * p_gen * delta / (lam * sigma**2), mu * p_gen * p / sigma**2


def pair_roots(a, b, c, eta_d, order: str = "simultaneous"):
    """The two eigenvalues ``ρ_{c±}`` of the points moving together (elementwise).

    Returned as ``(ρ₊, ρ₋)`` where ``ρ₊`` comes from ``ν₊ = m + √(m² − c)`` in the
    simultaneous case (the root that limits the step size; ``ρ₋`` is the slow one).
    """
    a, b, c, eta_d = (np.asarray(v, dtype=float) for v in (a, b, c, eta_d))
    if order == "simultaneous":
        nu_plus, nu_minus = _pair_nus(0.5 * (a + b), c)
        return 1.0 - eta_d * nu_plus, 1.0 - eta_d * nu_minus
    if order == "d-first":
        T = 2.0 - eta_d * (a + b) - eta_d**2 * (c - a * b)
        D = (1.0 - eta_d * a) * (1.0 - eta_d * b)
        # Pair ρ₊ with the simultaneous ρ₊ (the smaller real part) so labels agree as η → 0.
        large, small = _stable_roots(0.5 * T, D)  # roots of ρ² − Tρ + D
        # As 0.5T ∓ √(T²/4 − D) (principal root): the larger root is "large" unless a real
        # pair has T < 0.
        swap = np.isreal(large) & (T < 0)
        return np.where(swap, large, small), np.where(swap, small, large)
    raise ValueError(f"order must be one of {ORDERS}, got {order!r}")


def _stable_roots(h, prod):
    """Roots of ``x² − 2h x + prod`` as ``(h + sign(h)·r, prod / (h + sign(h)·r))``, ``r = √(h² − prod)``.

    Elementwise and without cancellation: the root of larger modulus comes
    from a sum of same-signed terms, the other from the product of the roots
    (Vieta). A complex pair (``h² < prod``) is ``h ± i√(prod − h²)``, returned
    as ``(h + r, h − r)``.
    """
    h, prod = np.broadcast_arrays(np.asarray(h, dtype=float), np.asarray(prod, dtype=float))
    r = np.sqrt((h * h - prod).astype(complex))
    real = r.imag == 0
    sign = np.where(h >= 0, 1.0, -1.0)
    large = np.where(real, h + sign * r.real, h + r)
    safe = np.where(large != 0, large, 1.0)
    small = np.where(real, np.where(large != 0, prod / safe, 0.0), h - r)
    return large.astype(complex), small.astype(complex)


def _pair_nus(m, c):
    """``(ν₊, ν₋) = m ± √(m² − c)`` elementwise, computed without cancellation."""
    large, small = _stable_roots(m, c)
    m = np.asarray(m, dtype=float)
    real = np.isreal(large)
    # ν₊ = m + √(m² − c): the larger root when m ≥ 0, the smaller one when m < 0.
    plus = np.where(real & (m < 0), small, large)
    minus = np.where(real & (m < 0), large, small)
    return plus, minus


def theorem1_spectrum(params: KernelParams, order: str = "simultaneous",
                      convention: str = "theorem") -> List[Eigenvalue]:
    """All eigenvalues of Theorem 1 with their modes and multiplicities.

    ``convention="paper-figure"`` keeps the ``b`` mode also when ``N = 1`` (as
    the authors' Figure 2 code does; there it has multiplicity 0 and is listed
    only so that its value can be shown). The default follows the theorem.
    """
    if convention not in ("theorem", "paper-figure"):
        raise ValueError(f"convention must be 'theorem' or 'paper-figure', got {convention!r}")
    a, b, c = (float(v) for v in theorem1_coefficients(
        params.sigma, params.lam, params.eta_d, params.eta_g, params.p, params.p_gen,
        params.n_gen))
    eta = params.eta_d
    plus, minus = (complex(v) for v in pair_roots(a, b, c, eta, order))
    out = [Eigenvalue("a", complex(1.0 - eta * a), None)]
    if params.n_gen >= 2 or convention == "paper-figure":
        out.append(Eigenvalue("b", complex(1.0 - eta * b), (params.n_gen - 1) * params.dim))
    out += [Eigenvalue("c+", plus, params.dim), Eigenvalue("c-", minus, params.dim)]
    return out


def rates(spectrum: List[Eigenvalue]) -> dict:
    """``rho_joint`` (all modes) and ``rho_generator`` (modes that move a point)."""
    present = [e for e in spectrum if e.multiplicity is None or e.multiplicity > 0]
    return {"rho_joint": max(abs(e.value) for e in present),
            "rho_generator": max((abs(e.value) for e in present if e.moves_points), default=0.0)}


def _nu_bound(nu: complex) -> float:
    """Largest ``η`` with ``|1 − η ν| < 1`` for all smaller ``η > 0`` (0 if none)."""
    if nu.real <= 0:
        return 0.0
    size = abs(nu)
    return 2.0 * (nu.real / size) / size  # = 2 Re ν / |ν|², without squaring a tiny |ν|


def eta_d_max(params: KernelParams, order: str = "simultaneous") -> float:
    """Largest stable ``η_d`` with ``μ = η_g/η_d`` and everything else fixed, from the spectrum.

    0.0 when no ``η_d > 0`` is stable (e.g. ``Δ ≤ 0`` with ``N ≥ 2``). For
    ``order="d-first"`` the boundary is found by bisection on the spectral
    radius (its eigenvalues are not affine in ``η_d``).
    """
    a, b, c = (float(v) for v in theorem1_coefficients(
        params.sigma, params.lam, params.eta_d, params.eta_g, params.p, params.p_gen,
        params.n_gen))
    nu_plus, nu_minus = (complex(v) for v in _pair_nus(0.5 * (a + b), c))
    nus = [complex(a), nu_plus, nu_minus] + ([complex(b)] if params.n_gen >= 2 else [])
    bound = min(_nu_bound(nu) for nu in nus)
    if order == "simultaneous" or bound == 0.0:
        return bound

    def radius(eta):
        # a, b, c depend on μ only: the spectrum at another η_d with the same μ, directly
        # (a KernelParams at a scanned η_d could leave the allowed ranges).
        with np.errstate(all="ignore"):
            plus, minus = pair_roots(a, b, c, eta, order)
            moduli = [abs(1.0 - eta * a), abs(complex(plus)), abs(complex(minus))]
            if params.n_gen >= 2:
                moduli.append(abs(1.0 - eta * b))
        rho = max(moduli)
        return rho if np.isfinite(rho) else float("inf")

    # Scan outward for the first unstable step, then bisect; d-first is stable on
    # an interval starting at 0 whenever simultaneous is (they agree as η → 0).
    lo, hi = 0.0, bound
    while radius(hi) < 1.0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e12:
            return float("inf")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if radius(mid) < 1.0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-14 * hi:
            break
    return lo


def _replace_eta(params: KernelParams, eta_d: float) -> KernelParams:
    mu = params.mu
    return KernelParams(params.sigma, params.lam, eta_d, mu * eta_d, params.p, params.p_gen,
                        params.n_gen, params.dim)


def corollary1_eta_d_max(params: KernelParams) -> float:
    """Corollary 1's bound as printed: ``min{2/a, 2/b, (a+b)/c}`` (no ``2/b`` when N = 1)."""
    a, b, c = (float(v) for v in theorem1_coefficients(
        params.sigma, params.lam, params.eta_d, params.eta_g, params.p, params.p_gen,
        params.n_gen))
    terms = [2.0 / a, (a + b) / c]
    if params.n_gen >= 2:
        terms.append(2.0 / b if b != 0 else float("inf"))
    return min(terms)


def proposition2(params: KernelParams) -> dict:
    """Proposition 2's sufficient condition and whether it applies (``0 < Δ < p``)."""
    applies = 0.0 < params.delta < params.p
    holds = params.eta_d < 2.0 / params.lam and params.eta_g < params.lam * params.sigma**2
    return {"applies": bool(applies), "condition_holds": bool(holds),
            "claims_stable": bool(applies and holds)}
