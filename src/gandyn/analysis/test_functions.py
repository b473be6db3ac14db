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


@dataclass(frozen=True, eq=False)
class QuadraticTestFunction:
    """``f(u) = uᵀQu + qᵀu + c`` on the joint state ``u = (θ, ω)``.

    ``Q`` and ``q`` are stored as read-only float64 copies, and two test
    functions are equal (and hash equal) when their name, ``Q``, ``q`` and
    ``c`` are: so one can be passed as the observables of
    :func:`gandyn.sga.simulate_sga` or :func:`gandyn.sde.simulate_sde`
    (compiled functions take it as a static argument), and a study built
    again with an equal test function reuses the compilation.
    """

    name: str
    Q: np.ndarray
    q: np.ndarray
    c: float = 0.0

    def __post_init__(self):
        Q = np.array(self.Q, dtype=np.float64)
        q = np.array(self.q, dtype=np.float64).reshape(-1)
        if Q.ndim != 2 or Q.shape != (q.size, q.size):
            raise ValueError(f"Q must be a ({q.size}, {q.size}) matrix, got shape {Q.shape}")
        Q.setflags(write=False)
        q.setflags(write=False)
        object.__setattr__(self, "Q", Q)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "c", float(self.c))

    def _key(self):
        return (self.name, self.Q.shape, self.Q.tobytes(), self.q.tobytes(), self.c)

    def __eq__(self, other):
        if not isinstance(other, QuadraticTestFunction):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __call__(self, u):
        """``f(u)``, a scalar."""
        return u @ jnp.asarray(self.Q) @ u + jnp.asarray(self.q) @ u + self.c

    def expectation(self, mean: np.ndarray, second_moment: np.ndarray) -> float:
        """``E f(u) = tr(Q E uuᵀ) + qᵀ E u + c`` from ``E u`` and ``E u uᵀ`` (exact)."""
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
