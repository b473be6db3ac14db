"""Convergence rates read off a simulated distance curve, robust to oscillation.

Near a stable equilibrium the distance ``r_t`` of the points to their target
behaves like ``C ρ^t |cos(ωt + φ)|`` when the leading eigenvalues are complex
(docs/kernel.md), so a straight line through ``log r_t`` is biased by the
troughs. We fit the *envelope*: for a decaying curve the future maximum
``e_t = max_{s ≥ t} r_s``, which touches every peak and is monotone; for a
growing one the running maximum ``max_{s ≤ t} r_s``. ``log e_t`` is fitted
by least squares over the window after a burn-in (default the first 10 % of
the usable curve, where faster modes still matter) and above a floor near machine
precision (below it the curve is rounding noise); the rate is ``exp`` of the
slope, per step, comparable with a spectral radius.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["RateFit", "envelope_rate"]


class RateFit(NamedTuple):
    rate: float  # per-step factor; nan if no usable window
    start: int  # first step of the fitted window
    stop: int  # last step of the fitted window
    growing: bool


def envelope_rate(distances, *, burn_in: float = 0.1, floor: float = 1e-10,
                  ceiling: float = 1e3) -> RateFit:
    """Per-step rate of ``distances`` (one value per step, step 0 first).

    ``floor`` and ``ceiling`` are relative to ``distances[0]``: a decaying fit
    stops where the envelope reaches ``floor · r_0``, a growing one where it
    passes ``ceiling · r_0`` (the local picture has broken down by then).
    """
    r = np.asarray(distances, dtype=float)
    if r.ndim != 1 or r.size < 4:
        raise ValueError("need a 1-d curve of at least 4 steps")
    if not 0 <= burn_in < 1:
        raise ValueError("burn_in must lie in [0, 1)")
    r0 = r[0] if r[0] > 0 else np.max(r[np.isfinite(r)], initial=0.0)
    finite = np.isfinite(r)
    last = int(np.argmin(finite)) - 1 if not finite.all() else r.size - 1
    r = r[:last + 1]
    growing = (not finite.all()) or (r[-1] > r0)
    if growing:
        env = np.maximum.accumulate(r)
        keep = env <= ceiling * r0
    else:
        env = np.maximum.accumulate(r[::-1])[::-1]
        keep = env >= floor * r0
    usable = np.flatnonzero(keep & (env > 0))
    end = int(usable[-1]) + 1 if usable.size else 0
    start = int(burn_in * end)  # the burn-in is a share of the usable part of the curve
    idx = np.arange(r.size)
    window = idx[(idx >= start) & keep & (env > 0)]
    if window.size < 3:
        return RateFit(float("nan"), start, start, bool(growing))
    slope = np.polyfit(window, np.log(env[window]), 1)[0]
    return RateFit(float(np.exp(slope)), int(window[0]), int(window[-1]), bool(growing))
