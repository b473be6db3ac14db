"""The full kernel-GDA update map's spectrum by ARPACK: a dense reference, argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.kernel import KernelGDA, rbf, truncated_map_spectrum
from gandyn.kernel.linearised import _full_map

KW = dict(sigma=0.8, lam=0.5, eta_d=0.3, eta_g=0.2)


def _game(n_gen=2, dim=1):
    return KernelGDA(np.zeros((1, dim)), p=1.0, p_gen=0.3, n_gen=n_gen, kernel=rbf())


def test_truncated_map_spectrum_matches_dense_eigenvalues():
    """A short memory: the whole Jacobian fits in memory, so NumPy gives the reference."""
    game, memory = _game(), 3
    found = truncated_map_spectrum(game, **KW, memory=memory, k=4)
    x_star = jnp.zeros((2, 1))
    F = _full_map(game, KW["sigma"], KW["lam"], KW["eta_d"], KW["eta_g"], "simultaneous", memory,
                  2, 1)
    state = jnp.concatenate([jnp.array([1.0 / KW["lam"]]), jnp.tile(x_star.reshape(-1), memory + 1)])
    dense = np.linalg.eigvals(np.asarray(jax.jit(jax.jacfwd(F))(state)))  # one program
    dense = dense[np.argsort(-np.abs(dense), kind="stable")]
    np.testing.assert_allclose(np.abs(found), np.abs(dense[:4]), rtol=1e-10)
    for value in found:
        assert np.min(np.abs(dense - value)) < 1e-10


@pytest.mark.parametrize("kwargs,needle", [
    (dict(k=8), "need k <= 7"),          # dim = 1 + (3 + 1)·2·1 = 9: ARPACK takes k <= dim - 2
    (dict(k=9), "need k <= 7"),
    (dict(k=40), "need k <= 7"),
    (dict(k=0), "k must be a positive integer"),
    (dict(k=4, block=2), "block must be at least k"),
    (dict(k=2, krylov_blocks=0), "at least 1"),
])
def test_invalid_k_raises_a_clear_value_error(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        truncated_map_spectrum(_game(), **KW, memory=3, **kwargs)
