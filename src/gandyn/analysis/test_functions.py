"""Test functions ``f(θ, ω)`` for weak-error studies.

Quadratic test functions ``f(u) = uᵀQu + qᵀu + c`` have exact expectations
from the first two moments, so they serve both the exact (linear-quadratic)
and the Monte Carlo route. Built-in names:

* ``sq-norm``: ``|θ|² + |ω|²`` (the default in Theorems 1–2 studies),
* ``theta-sq-norm`` / ``omega-sq-norm``: one player's squared norm,
* ``theta[i]`` / ``omega[j]``: a single coordinate,
* ``theta[i]*omega[j]`` (any two coordinates): a cross moment, the one that
  sees the correlation of the two players' noise.

Monte Carlo studies also accept any JAX function ``u -> scalar``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["QuadraticTestFunction", "make_test_function", "TEST_FUNCTION_HELP"]

TEST_FUNCTION_HELP = "sq-norm, theta-sq-norm, omega-sq-norm, theta[i], omega[j], theta[i]*omega[j]"


@dataclass(frozen=True)
class QuadraticTestFunction:
    """``f(u) = uᵀQu + qᵀu + c`` on the joint state ``u = (θ, ω)``."""

    name: str
    Q: np.ndarray
    q: np.ndarray
    c: float = 0.0

    def __call__(self, u):
        return u @ jnp.asarray(self.Q) @ u + jnp.asarray(self.q) @ u + self.c

    def expectation(self, mean: np.ndarray, second_moment: np.ndarray) -> float:
        """``E f(u)`` from ``E u`` and ``E u uᵀ`` (exact)."""
        return float(np.trace(self.Q @ second_moment) + self.q @ mean + self.c)


def make_test_function(name: str, d_theta: int, d_omega: int) -> QuadraticTestFunction:
    """The built-in test function ``name`` (see the module docstring)."""
    dim = d_theta + d_omega
    Q, q = np.zeros((dim, dim)), np.zeros(dim)
    if name == "sq-norm":
        Q = np.eye(dim)
    elif name == "theta-sq-norm":
        Q[:d_theta, :d_theta] = np.eye(d_theta)
    elif name == "omega-sq-norm":
        Q[d_theta:, d_theta:] = np.eye(d_omega)
    else:
        factors = name.split("*")
        if len(factors) > 2:
            raise ValueError(f"unknown test function {name!r}; expected one of {TEST_FUNCTION_HELP}")
        idx = [_coordinate(name, f, d_theta, d_omega) for f in factors]
        if len(idx) == 1:
            q[idx[0]] = 1.0
        else:
            i, j = idx
            Q[i, j] += 0.5
            Q[j, i] += 0.5
    return QuadraticTestFunction(name, Q, q)


def _coordinate(name: str, factor: str, d_theta: int, d_omega: int) -> int:
    m = re.fullmatch(r"(theta|omega)\[(\d+)\]", factor.strip())
    if not m:
        raise ValueError(f"unknown test function {name!r}; expected one of {TEST_FUNCTION_HELP}")
    player, i = m.group(1), int(m.group(2))
    size = d_theta if player == "theta" else d_omega
    if i >= size:
        raise ValueError(f"test function {name!r}: index {i} out of range for a "
                         f"{size}-dimensional {player}")
    return i if player == "theta" else d_theta + i
