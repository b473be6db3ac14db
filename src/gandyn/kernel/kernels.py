"""Kernels for the RKHS discriminator of Becker et al., eq. (2)–(3).

A kernel here is a smooth, positive definite ``K(x, x'; σ)`` of two points of
``R^d`` and a width ``σ``. Every built-in kernel is scaled so that ``σ`` is the
*kernel width* of the paper's assumption (8)::

    ∇₁K(x, x) = 0,        −∂²K(x, x')/∂x² |_{x = x'} = ∂²K(x, x')/∂x∂x' |_{x = x'} = I_d / σ²,

so Theorem 1's closed form applies to all of them with the same ``σ``.

* :func:`rbf`: ``exp(−|x − x'|² / 2σ²)``, eq. (9);
* :func:`rational_quadratic`: ``(1 + |x − x'|² / (2ασ²))^{−α}`` (``α → ∞`` is the RBF);
* :func:`inverse_multiquadric`: ``(1 + |x − x'|² / σ²)^{−1/2}``.

Any JAX function ``fn(x, y, sigma) -> scalar`` becomes a kernel with
:func:`user_kernel`, and a radial profile ``φ(r², σ)`` (``K = φ(|x − x'|²)``)
with :func:`radial_kernel`. Radial kernels (all built-in ones) get a fast
force: ``Σ_c w_c ∇₁K(x_j, z_c) = 2 Σ_c w_c φ'(r²_jc) (x_j − z_c)`` as two
matrix products over one fused pass of ``φ'``, instead of a per-pair
gradient; :func:`kernel_width` measures the width it actually has
at a point (``None`` when the curvature there is not a multiple of ``I``, in
which case only the numerical spectrum routes apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Kernel", "rbf", "rational_quadratic", "inverse_multiquadric", "user_kernel",
           "radial_kernel", "kernel_by_name", "KERNELS", "kernel_width"]


class Kernel(eqx.Module):
    """``K(x, y; σ)`` for two points ``x, y`` of shape ``(d,)``; ``σ`` may be traced (sweeps)."""

    name: str = eqx.field(static=True)
    fn: Callable = eqx.field(static=True)
    profile: Optional[Callable] = eqx.field(static=True, default=None)  # φ(r², σ), if radial

    def __call__(self, x, y, sigma):
        return self.fn(x, y, sigma)

    def grad1(self, x, y, sigma):
        """``∇₁K(x, y)``: the gradient in the first argument (the generator's force)."""
        return jax.grad(self.fn, argnums=0)(x, y, sigma)

    def force(self, x, centres, weights, sigma):
        """``Σ_c w_c ∇₁K(x_j, z_c)`` for every row ``x_j`` of ``x`` (``(n, d)`` → ``(n, d)``)."""
        if self.profile is None:
            per_pair = jax.vmap(jax.vmap(self.grad1, (None, 0, None)), (0, None, None))(
                x, centres, sigma)
            return jnp.einsum("jcd,c->jd", per_pair, weights)
        # Radial: ∇₁φ(|x − z|²) = 2φ'(r²)(x − z). Shift both sets by a common
        # point first, so r² from the expanded square loses little to cancellation.
        shift = jax.lax.stop_gradient(jnp.mean(x, axis=0))
        x, centres = x - shift, centres - shift
        r2 = (jnp.sum(x * x, 1)[:, None] - 2.0 * x @ centres.T
              + jnp.sum(centres * centres, 1)[None, :])
        r2 = jnp.maximum(r2, 0.0)
        dphi = jax.grad(lambda r: jnp.sum(self.profile(r, sigma)))(r2)
        moments = dphi @ jnp.concatenate([centres * weights[:, None], weights[:, None]], 1)
        return 2.0 * (moments[:, -1:] * x - moments[:, :-1])


def _sqdist(x, y):
    diff = x - y
    return jnp.sum(diff * diff)


# Kernels are static parts of what is compiled: the built-in profiles are module-level
# functions or frozen dataclasses of their parameters, so ``rbf() == rbf()`` and a rebuilt
# game reuses its compilations (a lambda made on every call would compile anew).
@dataclass(frozen=True)
class _Radial:
    """``K(x, y; σ) = φ(|x − y|², σ)``."""

    profile: Callable

    def __call__(self, x, y, s):
        return self.profile(_sqdist(x, y), s)


def _rbf_profile(r2, s):
    return jnp.exp(-r2 / (2.0 * s * s))


@dataclass(frozen=True)
class _RationalQuadraticProfile:
    alpha: float

    def __call__(self, r2, s):
        base = 1.0 + r2 / (2.0 * self.alpha * s * s)
        if self.alpha.is_integer():  # integer powers are multiplications, not exp(α log): ~10× faster
            return 1.0 / base ** int(self.alpha)
        return base ** (-self.alpha)


def _inverse_multiquadric_profile(r2, s):
    return (1.0 + r2 / (s * s)) ** -0.5


def radial_kernel(profile: Callable, name: str = "radial") -> Kernel:
    """``K(x, y; σ) = φ(|x − y|², σ)`` from a JAX profile ``φ(r², σ)`` acting elementwise."""
    if not callable(profile):
        raise TypeError("radial_kernel needs a callable profile(r2, sigma)")
    return Kernel(name, _Radial(profile), profile)


def rbf() -> Kernel:
    """The Gaussian kernel of eq. (9)."""
    return radial_kernel(_rbf_profile, "rbf")


def rational_quadratic(alpha: float = 1.0) -> Kernel:
    """``(1 + r² / (2ασ²))^{−α}``: a scale mixture of RBFs with heavier tails."""
    if not alpha > 0:
        raise ValueError(f"rational_quadratic needs alpha > 0, got {alpha}")
    alpha = float(alpha)
    return radial_kernel(_RationalQuadraticProfile(alpha), f"rational_quadratic(alpha={alpha:g})")


def inverse_multiquadric() -> Kernel:
    """``(1 + r²/σ²)^{−1/2}``: positive definite with polynomially decaying tails."""
    return radial_kernel(_inverse_multiquadric_profile, "inverse_multiquadric")


def user_kernel(fn: Callable, name: str = "user") -> Kernel:
    """Wrap ``fn(x, y, sigma) -> scalar`` (a JAX function, smooth in ``x`` and ``y``).

    The force then takes one autodiff gradient per pair; a kernel that depends
    on ``|x − y|²`` alone is faster through :func:`radial_kernel`.
    """
    if not callable(fn):
        raise TypeError("user_kernel needs a callable fn(x, y, sigma)")
    return Kernel(name, fn)


KERNELS = {"rbf": rbf, "rational_quadratic": rational_quadratic,
           "inverse_multiquadric": inverse_multiquadric}


def kernel_by_name(name: str) -> Kernel:
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return KERNELS[name]()


@eqx.filter_jit
def _diagonal_derivatives(kernel: Kernel, x, sigma):
    """``(∇₁K(x, x), ∂²K(x, x')/∂x∂x' at x' = x)``, one compiled program per kernel and shape."""
    return kernel.grad1(x, x, sigma), jax.jacfwd(kernel.grad1, argnums=1)(x, x, sigma)


def kernel_width(kernel: Kernel, x, sigma: float, rtol: float = 1e-8) -> Optional[float]:
    """The width ``σ_K`` of assumption (8) at the point ``x``, or ``None`` if (8) fails there.

    Checks ``∇₁K(x, x) = 0`` and that ``∂²K(x, x')/∂x∂x'`` at ``x = x'`` is
    ``I/σ_K²``, by automatic differentiation.
    """
    x = jnp.asarray(x, dtype=float)
    g, mixed = (np.asarray(a) for a in _diagonal_derivatives(kernel, x, jnp.asarray(sigma, x.dtype)))
    scale = float(np.mean(np.diag(mixed)))
    if scale <= 0 or np.max(np.abs(g)) > rtol * max(scale, 1.0):
        return None
    if np.max(np.abs(mixed - scale * np.eye(x.shape[0]))) > rtol * scale:
        return None
    return float(1.0 / np.sqrt(scale))
