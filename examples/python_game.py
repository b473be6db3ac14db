"""A game written in Python, used from a config file: ``[game] kind = "python"``.

Run from the repository root (the module is looked up on the working directory):
``gandyn weak-order examples/python_game.toml``.
"""

import jax

import gandyn


def make_game(coupling: float = 2.0, n_data: int = 256, seed: int = 0):
    """A bilinear-quadratic game with per-sample noise: min over θ, max over ω."""
    data = jax.random.normal(jax.random.key(seed), (n_data, 2))

    def loss(theta, omega, x):
        return (0.5 * theta @ theta + coupling * theta @ omega - 0.5 * omega @ omega
                + theta @ x[:1] + omega @ x[1:])

    return gandyn.make_game(loss, data, theta0=[1.0], omega0=[0.5])
