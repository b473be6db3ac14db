"""``gandyn scaling-rule``: the two rules' hyper-parameters, the noise-to-signal ratio against
its exact value, the JSON contract and bad configs."""

import functools
import json

import equinox as eqx
import jax
import numpy as np
import pytest

from gandyn.cli import main
from gandyn.studies import scaling_rule
from gandyn.studies.config import parse_config, tomllib

CONFIG = """
[game]
kind = "mlp-gan"
n_data = 64
n_latent = 64
hidden = 4
depth = 1
loss = "wgan"

[scaling]
optimizers = ["sgd", "adam"]
eta = 0.05
batch_size = 8
kappas = [1.0, 2.0]
steps = 8
n_records = 2
seeds = [0, 1]
eval_samples = 20
nsr_pairs = 2
"""


def _config(text=CONFIG):
    return parse_config(scaling_rule.ScalingRuleConfig, tomllib.loads(text))


def test_square_root_and_linear_rules():
    s = _config().scaling.model_copy(update={"adam_b1": 0.9, "adam_b2": 0.99, "adam_eps": 1e-8,
                                             "adam_lr": 1e-3})
    hp = scaling_rule.scaled_hyperparameters(s, "adam", 4.0)
    assert hp["lr"] == pytest.approx(2e-3)
    assert 1 - hp["b1"] == pytest.approx(4 * 0.1) and 1 - hp["b2"] == pytest.approx(4 * 0.01)
    assert hp["eps"] == pytest.approx(0.5e-8)
    assert hp["batch_size"] == 32 and hp["steps"] == 2
    s = s.model_copy(update={"kappas": [0.5, 1.0]})
    sgd = scaling_rule.scaled_hyperparameters(s, "sgd", 0.5)
    assert sgd == {"eta": pytest.approx(0.025), "batch_size": 4, "steps": 16}


# Programs of this file's own that run once: compiled without LLVM's optimisations (most of
# their compile time; the numbers compared do not change).
O0 = {"xla_backend_optimization_level": 0}


@functools.partial(eqx.filter_jit, compiler_options=O0)
def _exact_moments(game, u):
    theta, omega = game.split(u)
    return game.gradient_covariance(theta, omega), game.gradients(theta, omega)


def test_noise_to_signal_ratio_against_the_exact_one():
    """tr Σ_p/(B|g_p|²) from pairs of independent minibatches converges to the value from
    every per-sample gradient (4000 pairs: within 10%). The game is the contract's below
    (building an MLP GAN compiles its initialisers once per layer shape)."""
    game = _config().game.build()
    u = game.u0
    cov, (g_theta, g_omega) = _exact_moments(game, u)
    cov = np.asarray(cov)
    dt, batch = game.d_theta, 4
    exact = [np.trace(cov[:dt, :dt]) / (batch * float(g_theta @ g_theta)),
             np.trace(cov[dt:, dt:]) / (batch * float(g_omega @ g_omega))]
    nsr = eqx.filter_jit(scaling_rule._nsr, compiler_options=O0)
    estimate = np.asarray(nsr(game, u, jax.random.key(0), batch, 4000))
    np.testing.assert_allclose(estimate, exact, rtol=0.1)


def test_contract(tmp_path, capsys):
    p = tmp_path / "s.toml"
    p.write_text(CONFIG)
    assert main(["scaling-rule", str(p), "--json", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kappas"] == [1.0, 2.0] and result["out"] is None
    assert [r["rule"] for r in result["results"]] == ["linear", "square-root"]
    for r in result["results"]:
        assert r["base_steps"] == [0, 4, 8]
        base = next(k for k in r["per_kappa"] if k["kappa"] == 1.0)
        assert base["holds"] and base["first_break"] is None  # the base run against itself
        for k in r["per_kappa"]:
            assert set(k["nsr_final"]) == {"theta", "omega"}
            # every run starts at the same point: the curves agree at s = 0
            assert k["curves"]["theta_norm"]["mean"][0] == pytest.approx(
                base["curves"]["theta_norm"]["mean"][0])
            assert k["nsr_final_at_scaled_batch"]["theta"] == pytest.approx(
                k["nsr_final"]["theta"] / k["kappa"])
        assert sorted(r["holds_for"] + r["breaks_for"]) == [1.0, 2.0]
    direct = scaling_rule.run(_config()).to_json()
    assert direct["results"][0]["per_kappa"][0]["curves"] == \
        result["results"][0]["per_kappa"][0]["curves"]


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.replace("kappas = [1.0, 2.0]", "kappas = [0.5, 2.0]"), "must contain 1"),
    (lambda t: t.replace("kappas = [1.0, 2.0]", "kappas = [0.3, 1.0]"), "batch_size * kappa"),
    (lambda t: t.replace("steps = 8", "steps = 9"), "must divide steps"),
    (lambda t: t.replace('eta = 0.05', 'eta = 0.05\nadam_b1 = 0.4'), "square-root rule needs"),
    (lambda t: t.replace('kind = "mlp-gan"', 'kind = "tanh-wgan"').split("n_data")[0]
     + "\n[scaling]" + t.split("[scaling]")[1], "mlp-gan or dcgan"),
])
def test_bad_configs_exit_2(tmp_path, capsys, edit, needle):
    p = tmp_path / "s.toml"
    p.write_text(edit(CONFIG))
    assert main(["scaling-rule", str(p), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
