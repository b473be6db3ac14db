"""Numerical checks of the hypotheses of Cao & Guo's Theorem 6.

Theorem 6 gives a unique invariant measure with exponential convergence when

6.a  the drift ``b`` and the diffusion ``σ`` are bounded (and smooth),
6.b  the drift is dissipative: ``uᵀ b(u) ≤ −r |u|`` for ``|u| ≥ M0``,
6.c  ``σσᵀ`` is uniformly elliptic: ``σσᵀ ⪰ l I`` with ``l > 0``.

These are checked on random points of spheres ``|u − u_c| = R`` for a
geometric grid of radii (``u_c`` the game's starting point, so shells sit
around the region training visits). Each check gives a plain verdict with
the numbers behind it; sampling can refute a condition but only support it.

Weight decay ``λ`` on both players (``θ`` minimises ``Φ + λ/2 |θ|²``, ``ω``
maximises ``Φ − λ/2 |ω|²``) changes the drift to ``b − λ u``, so
``uᵀ(b − λu) = uᵀb − λ|u|²``: the smallest ``λ`` that makes every sampled
shell beyond ``M0`` dissipative is ``max uᵀb(u)/|u|² `` over those shells
(reported as ``weight_decay_needed``, with a 10% margin).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..sde.coefficients import SDE

__all__ = ["check_theorem6"]


# Module-level programs with the SDE as an argument: one compilation per SDE structure and
# number of points, shared by every call (a jit of a closure made per call compiles anew).
@eqx.filter_jit
def _drifts(sde: SDE, u):
    return jax.vmap(sde.drift)(u)


@eqx.filter_jit
def _diffusion_matrices(sde: SDE, u):
    return jax.vmap(sde.diffusion_matrix)(u)


def check_theorem6(sde: SDE, *, radii=None, points_per_shell: int = 256, seed: int = 0,
                   center=None) -> dict:
    """Verdicts on 6.a–6.c for ``sde`` (see the module docstring)."""
    dim = sde.game.dim
    center = jnp.zeros(dim) if center is None else jnp.asarray(center)
    radii = np.geomspace(1.0, 1e3, 7) if radii is None else np.asarray(radii, dtype=float)
    if np.any(radii <= 0):
        raise ValueError("radii must be positive")
    key = jax.random.key(seed)
    drift = lambda u: _drifts(sde, u)  # noqa: E731
    small = dim <= 200
    sigma = (lambda u: _diffusion_matrices(sde, u)) if small else None

    rows = []
    for i, R in enumerate(radii):
        d = jax.random.normal(jax.random.fold_in(key, i), (points_per_shell, dim))
        u = center + R * d / jnp.linalg.norm(d, axis=1, keepdims=True)
        b = np.asarray(drift(u))
        un = np.asarray(u)
        norm = np.linalg.norm(un, axis=1)
        inner = np.einsum("ij,ij->i", un, b)
        row = {"radius": float(R), "max_inner_over_norm": float(np.max(inner / norm)),
               "max_inner_over_norm_sq": float(np.max(inner / norm**2)),
               "max_drift_norm": float(np.max(np.linalg.norm(b, axis=1)))}
        if small:
            s = np.asarray(sigma(u))
            ss = np.einsum("nij,nkj->nik", s, s)
            row["max_sigma_norm"] = float(np.max(np.linalg.norm(s, axis=(1, 2))))
            row["min_eig_sigma_sigma_t"] = float(np.min(np.linalg.eigvalsh(ss)))
        rows.append(row)

    # 6.b: dissipativity beyond M0 = the smallest radius from which all shells are dissipative.
    dissipative = [r["max_inner_over_norm"] < 0 for r in rows]
    m0 = next((r["radius"] for k, r in enumerate(rows) if all(dissipative[k:])), None)
    beyond = [r for r in rows if m0 is not None and r["radius"] >= m0]
    r_const = -max(r["max_inner_over_norm"] for r in beyond) if beyond else None
    outer = rows[len(rows) // 2:]
    needed = max(0.0, max(r["max_inner_over_norm_sq"] for r in outer))
    dissipativity = {
        "verdict": "holds" if m0 is not None and dissipative[-1] else "fails",
        "M0": m0, "r": r_const,
        "weight_decay_needed": 1.1 * needed if (m0 is None or not dissipative[-1]) else 0.0,
        "detail": ("u·b(u) ≤ −r|u| on every sampled shell with radius ≥ M0" if m0 is not None
                   else "u·b(u) > 0 somewhere on the largest shells: training can drift off; "
                        "weight decay ≥ weight_decay_needed restores dissipativity on them"),
    }

    def growth(key_name):
        vals = [r[key_name] for r in rows]
        return vals[-1] / max(vals[len(vals) // 2], 1e-300)

    drift_growth = growth("max_drift_norm")
    bounded = {"verdict": "holds" if drift_growth < 1.5 else "fails",
               "max_drift_norm": rows[-1]["max_drift_norm"],
               "drift_growth_ratio": drift_growth,
               "detail": "sup |b| stops growing over the outer shells" if drift_growth < 1.5
               else "|b| keeps growing with the radius: the drift is unbounded (e.g. linear)"}
    if small:
        sig_growth = growth("max_sigma_norm")
        bounded["max_sigma_norm"] = rows[-1]["max_sigma_norm"]
        bounded["sigma_growth_ratio"] = sig_growth
        if sig_growth >= 1.5:
            bounded["verdict"] = "fails"
            bounded["detail"] += "; ‖σ‖ keeps growing with the radius"
        lmin = min(r["min_eig_sigma_sigma_t"] for r in rows)
        scale = max(r["max_sigma_norm"] for r in rows) ** 2
        ellipticity = {"verdict": "holds" if lmin > 1e-10 * max(scale, 1e-300) else "fails",
                       "l": lmin,
                       "detail": "smallest eigenvalue of σσᵀ over the sampled points"
                       + ("" if lmin > 1e-10 * max(scale, 1e-300) else
                          ": degenerate noise (fewer distinct per-sample gradients than "
                          "parameters, or directions the data never move)")}
    else:
        ellipticity = {"verdict": "not checked", "l": None,
                       "detail": "more than 200 parameters: σσᵀ is not formed"}
    return {"bounded": bounded, "dissipativity": dissipativity, "ellipticity": ellipticity,
            "shells": rows}
