"""The PyTorch front end: the same GAN in JAX and PyTorch, the same weights, the same spectra."""

import importlib.util

import equinox as eqx
import jax
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="PyTorch not installed")

from gandyn.analysis.step_spectrum import step_spectrum  # noqa: E402
from gandyn.analysis.update_maps import (GDA, Adam, Consensus, GradientPenalty,  # noqa: E402
                                         Optimistic, training_step)
from gandyn.games import mlp_gan  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    """An MLP GAN in gandyn (equinox) and the same networks in ``torch.nn``, weights copied.

    Returns ``make(loss) -> (gandyn MLPGAN, G, D, x, z)``, cached per loss.
    """
    import torch

    cache = {}

    def torch_mlp(eqx_mlp, activation):
        layers = []
        for i, lin in enumerate(eqx_mlp.layers):
            t = torch.nn.Linear(lin.in_features, lin.out_features, dtype=torch.float64)
            with torch.no_grad():
                t.weight.copy_(torch.tensor(np.asarray(lin.weight)))
                t.bias.copy_(torch.tensor(np.asarray(lin.bias)))
            layers.append(t)
            if i < len(eqx_mlp.layers) - 1:
                layers.append(activation())
        return torch.nn.Sequential(*layers)

    def make(loss="vanilla"):
        if loss not in cache:
            with jax.enable_x64(True):
                data = np.random.default_rng(0).standard_normal((6, 2))
                gan = mlp_gan(data, latent_dim=1, hidden=3, depth=1, n_latent=5, seed=0,
                              loss=loss)
                game = gan.game
                G = torch_mlp(gan.unravel_generator(game.theta0), torch.nn.ReLU)
                D = torch_mlp(gan.unravel_discriminator(game.omega0), torch.nn.LeakyReLU)
                x = torch.tensor(np.asarray(game.terms[0].data))
                z = torch.tensor(np.asarray(game.terms[1].data))
            cache[loss] = (gan, G, D, x, z)
        return cache[loss]

    return make


def test_the_flat_parameters_and_the_field_agree(pair):
    from gandyn.analysis.torch_spectrum import TorchGAN

    with jax.enable_x64(True):
        gan, G, D, x, z = pair()
        tgan = TorchGAN(G, D, x, z)
        np.testing.assert_array_equal(tgan.theta0.numpy(), np.asarray(gan.game.theta0))
        np.testing.assert_array_equal(tgan.omega0.numpy(), np.asarray(gan.game.omega0))
        g_t, g_o = eqx.filter_jit(lambda g: g.gradients(g.theta0, g.omega0))(gan.game)
        d_t, d_o = tgan.field(tgan.theta0, tgan.omega0)
        np.testing.assert_allclose(d_t.detach().numpy(), np.asarray(g_t), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(d_o.detach().numpy(), -np.asarray(g_o), rtol=1e-12, atol=1e-14)


# The optimisers' maps are one piece of code for both frameworks (apply_step); what differs is
# the field (gradients, penalties, the consensus VJP) and the flattening of the state. One case
# per part of that: sub-updates with TTUR and n_disc, the consensus VJP, a state with a momentum
# buffer and the frozen preconditioner (Adam, with R1 on the non-saturating loss); the past
# point of optimistic GDA in test_torch_arnoldi_and_berard_operator.
OPTIMISERS = [GDA(0.1, eta_omega=0.2, order="alternating", n_disc=2), Consensus(0.1, gamma=0.5)]


CASES = [(o, "vanilla", 0.0) for o in OPTIMISERS] + [
    (Adam(0.01, betas=(0.5, 0.9), eps=1e-3, order="alternating"), "non-saturating", 0.5)]


@pytest.mark.parametrize("optimizer,loss,r1", CASES,
                         ids=[f"{o.kind}-{loss}-r1={r1}" for o, loss, r1 in CASES])
def test_jax_and_torch_step_spectra_agree(pair, optimizer, loss, r1):
    from gandyn.analysis.torch_spectrum import TorchGAN, torch_step_spectrum

    with jax.enable_x64(True):
        gan, G, D, x, z = pair(loss)
        game = gan.game
        v = (np.full(game.d_theta, 0.04), np.full(game.d_omega, 0.09))
        step = training_step(game, optimizer, v=v,
                             penalty=GradientPenalty.for_game(game, r1=r1))
        ours = step_spectrum(step).eigenvalues
    theirs = torch_step_spectrum(TorchGAN(G, D, x, z, loss=loss, r1=r1), optimizer,
                                 v=v).eigenvalues
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(np.abs(theirs), np.abs(ours), atol=1e-10)
    for lam in theirs:
        assert np.min(np.abs(ours - lam)) < 1e-9


def test_torch_arnoldi_and_berard_operator(pair):
    """ARPACK on torch JVPs against torch's dense spectrum, and both against the closed form of
    optimistic GDA on a linear game; Berard's double-backprop operator on the game Jacobian
    against torch's forward-mode one."""
    from scipy.sparse.linalg import eigs

    from gandyn.analysis.torch_spectrum import (TorchGAN, berard_operator, torch_field_spectrum,
                                                torch_step_spectrum)

    gan, G, D, x, z = pair()
    tgan = TorchGAN(G, D, x, z)
    opt = Optimistic(0.1)
    dense = torch_step_spectrum(tgan, opt).eigenvalues
    arn = torch_step_spectrum(tgan, opt, method="arnoldi", k=4, which=("LM",), tol=1e-12)
    assert arn.residuals.max() < 1e-8
    np.testing.assert_allclose(np.abs(arn.eigenvalues)[:3], np.abs(dense)[:3], atol=1e-8)
    jac = torch_field_spectrum(tgan).eigenvalues
    # On (z, z⁻) optimistic GDA is λ² − (1 − 2ηj)λ − ηj = 0 per eigenvalue j of the Jacobian
    # here (a fixed point or not, the step is affine in (z, z⁻) to first order).
    expected = np.concatenate([np.roots([1, -(1 - 0.2 * j), -0.1 * j]) for j in jac])
    for lam in dense:
        assert np.min(np.abs(expected - lam)) < 1e-7
    op = berard_operator(tgan)
    vals = eigs(op, k=3, which="LM", return_eigenvectors=False, tol=1e-12)
    for lam in vals:
        assert np.min(np.abs(jac - lam)) < 1e-8
    assert op.matvecs[0] > 0


def test_state_dict_checkpoints_round_trip(pair, tmp_path):
    """``torch.save(G.state_dict())`` files loaded into freshly initialised modules give the
    in-memory modules' eigenvalues; a file that is not the module's is a one-line error."""
    import copy

    import torch

    from gandyn.analysis.torch_spectrum import (TorchGAN, load_state_dict,
                                                torch_gan_from_state_dicts, torch_step_spectrum)
    from gandyn.errors import InputError

    gan, G, D, x, z = pair()
    torch.save(G.state_dict(), tmp_path / "G.pt")
    torch.save(D.state_dict(), tmp_path / "D.pt")
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    with torch.no_grad():  # other weights, so that the load is what makes them equal
        for p_ in list(G2.parameters()) + list(D2.parameters()):
            p_.normal_()
    optimizer = GDA(0.1, eta_omega=0.2, order="alternating")
    loaded = torch_gan_from_state_dicts(G2, D2, tmp_path / "G.pt", tmp_path / "D.pt", x, z)
    theirs = torch_step_spectrum(loaded, optimizer).eigenvalues
    ours = torch_step_spectrum(TorchGAN(G, D, x, z), optimizer).eigenvalues
    np.testing.assert_array_equal(theirs, ours)

    # one file holding both players, saved from DataParallel (names prefixed "module.")
    wrapped = {"G": {"module." + k: v for k, v in G.state_dict().items()},
               "D": {"module." + k: v for k, v in D.state_dict().items()}}
    torch.save(wrapped, tmp_path / "both.pt")
    again = torch_gan_from_state_dicts(copy.deepcopy(G2), copy.deepcopy(D2), tmp_path / "both.pt",
                                       tmp_path / "both.pt", x, z, key=("G", "D"),
                                       strip_prefix="module.")
    np.testing.assert_array_equal(again.theta0.numpy(), loaded.theta0.numpy())

    state = G.state_dict()
    bad = {
        "missing": ({k: v for k, v in state.items() if k != "2.bias"}, "missing '2.bias'"),
        "unexpected": ({**state, "3.weight": torch.zeros(1)}, "unexpected '3.weight'"),
        "shape": ({**state, "0.weight": torch.zeros(4, 1)},
                  "'0.weight' is (4, 1) in the file, (3, 1) in the generator"),
        "prefix": (wrapped["G"], 'pass strip_prefix="module."'),
        "several": (wrapped, "pass key=..."),
        "module": (G, "save module.state_dict() instead"),
        "not a dict": ([state], "expected a state_dict"),
    }
    for name, (content, message) in bad.items():
        path = tmp_path / f"{name}.pt"
        torch.save(content, path)
        with pytest.raises(InputError) as err:
            load_state_dict(copy.deepcopy(G2), path, what="generator")
        text = str(err.value)
        assert message in text and "\n" not in text and "\x1b" not in text, (name, text)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="cannot read it as a torch.save file"):
        load_state_dict(G2, tmp_path / "text.pt")
    with pytest.raises(InputError, match="no such file"):
        load_state_dict(G2, tmp_path / "absent.pt")
    with pytest.raises(InputError, match="no entry 'X'"):
        load_state_dict(G2, tmp_path / "both.pt", key="X")


def test_stability_doc_checkpoint_example(tmp_path, monkeypatch):
    """docs/stability.md's state_dict example runs as written; its spectrum is the in-memory
    modules'."""
    import re
    from pathlib import Path

    from gandyn.analysis.torch_spectrum import TorchGAN, torch_step_spectrum

    doc = Path(__file__).resolve().parent.parent / "docs" / "stability.md"
    code = next(b for b in re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
                if "torch_gan_from_state_dicts" in b)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "stability.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert (tmp_path / "G.pt").is_file() and namespace["gan"].d_theta == 82
    in_memory = torch_step_spectrum(TorchGAN(namespace["G"], namespace["D"], namespace["x"],
                                             namespace["z"]), GDA(0.05, order="alternating"))
    np.testing.assert_array_equal(namespace["spec"].eigenvalues, in_memory.eigenvalues)
