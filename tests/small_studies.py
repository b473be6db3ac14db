"""Tiny study configurations shared by the tests of tasks and executors.

One process compiles their programs once (and JAX's in-memory cache serves every later test
of the session), so several test files may run them cheaply.
"""

#: Monte Carlo weak order on a linear-quadratic game whose programs compile fast: 2 η ×
#: (1 SGA + 1 SDE) pieces × 4 blocks of 100 runs = 16 tasks.
WEAK_ORDER = {
    "game": {"kind": "linear-quadratic", "A": [[1.0, 0.0], [0.0, 1.0]],
             "C": [[1.0, 0.0], [0.0, 1.0]], "D": [[1.0, 0.0], [0.0, 1.0]],
             "sigma_theta": [[0.1, 0.0], [0.0, 0.1]], "sigma_omega": [[0.1, 0.0], [0.0, 0.1]],
             "theta0": [1.0, 0.0], "omega0": [0.0, 1.0]},
    "study": {"batch_size": 4, "horizon": 0.4, "etas": [0.2, 0.1], "method": "monte-carlo",
              "paths": 400, "chunk_size": 100, "seed": 3, "substeps": 1, "richardson": False,
              "integrator": "euler", "comparisons": [{"scheme": "sml", "sde": "sml-sde"}]},
}
