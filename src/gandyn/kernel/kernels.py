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
:func:`user_kernel`; :func:`kernel_width` measures the width it actually has
at a point (``None`` when the curvature there is not a multiple of ``I``, in
which case only the numerical spectrum routes apply).
"""

from __future__ import annotations

from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Kernel", "rbf", "rational_quadratic", "inverse_multiquadric", "user_kernel",
           "kernel_by_name", "KERNELS", "kernel_width"]


class Kernel(eqx.Module):
    """``K(x, y; σ)`` for two points ``x, y`` of shape ``(d,)``; ``σ`` may be traced (sweeps)."""

    name: str = eqx.field(static=True)
    fn: Callable = eqx.field(static=True)

    def __call__(self, x, y, sigma):
        return self.fn(x, y, sigma)

    def grad1(self, x, y, sigma):
        """``∇₁K(x, y)``: the gradient in the first argument (the generator's force)."""
        return jax.grad(self.fn, argnums=0)(x, y, sigma)


def _sqdist(x, y):
    diff = x - y
    return jnp.sum(diff * diff)


def rbf() -> Kernel:
    """The Gaussian kernel of eq. (9)."""
    return Kernel("rbf", lambda x, y, s: jnp.exp(-_sqdist(x, y) / (2.0 * s * s)))


def rational_quadratic(alpha: float = 1.0) -> Kernel:
    """``(1 + r² / (2ασ²))^{−α}``: a scale mixture of RBFs with heavier tails."""
    if not alpha > 0:
        raise ValueError(f"rational_quadratic needs alpha > 0, got {alpha}")
    alpha = float(alpha)
    return Kernel(f"rational_quadratic(alpha={alpha:g})",
                  lambda x, y, s: (1.0 + _sqdist(x, y) / (2.0 * alpha * s * s)) ** (-alpha))


def inverse_multiquadric() -> Kernel:
    """``(1 + r²/σ²)^{−1/2}``: positive definite with polynomially decaying tails."""
    return Kernel("inverse_multiquadric", lambda x, y, s: (1.0 + _sqdist(x, y) / (s * s)) ** -0.5)


def user_kernel(fn: Callable, name: str = "user") -> Kernel:
    """Wrap ``fn(x, y, sigma) -> scalar`` (a JAX function, smooth in ``x`` and ``y``)."""
    if not callable(fn):
        raise TypeError("user_kernel needs a callable fn(x, y, sigma)")
    return Kernel(name, fn)


KERNELS = {"rbf": rbf, "rational_quadratic": rational_quadratic,
           "inverse_multiquadric": inverse_multiquadric}


def kernel_by_name(name: str) -> Kernel:
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return KERNELS[name]()


def kernel_width(kernel: Kernel, x, sigma: float, rtol: float = 1e-8) -> Optional[float]:
    """The width ``σ_K`` of assumption (8) at the point ``x``, or ``None`` if (8) fails there.

    Checks ``∇₁K(x, x) = 0`` and that ``∂²K(x, x')/∂x∂x'`` at ``x = x'`` is
    ``I/σ_K²``, by automatic differentiation.
    """
    x = jnp.asarray(x, dtype=float)
    g = np.asarray(kernel.grad1(x, x, sigma))
    mixed = np.asarray(jax.jacfwd(kernel.grad1, argnums=1)(x, x, sigma))
    scale = float(np.mean(np.diag(mixed)))
    if scale <= 0 or np.max(np.abs(g)) > rtol * max(scale, 1.0):
        return None
    if np.max(np.abs(mixed - scale * np.eye(x.shape[0]))) > rtol * scale:
        return None
    return float(1.0 / np.sqrt(scale))
