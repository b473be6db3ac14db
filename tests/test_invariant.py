"""Stationary laws and FDRs against exact Lyapunov solutions and closed forms."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.conditions import check_theorem6
from gandyn.analysis.fdr import FDR_FIELDS, fdr_integrands
from gandyn.analysis.invariant import (exact_stationary_sde, exact_stationary_sga,
                                       sga_step_matrices, stationary_estimate)
from gandyn.cli import main
from gandyn.games import linear_quadratic, tanh_wgan, with_weight_decay
from gandyn.sde import make_sde
from gandyn.sga import SGAConfig, make_sga_step

ETA, B = 0.1, 2


def _exact_fdr(spec, model, covariance=None):
    """E of every FDR integrand under the exact stationary Gaussian N(0, S)."""
    game = linear_quadratic(spec)
    if model in ("alt", "sml"):
        S, _ = exact_stationary_sga(spec, model, ETA, B)
    else:
        cov = covariance or ("blockdiag" if model == "alt-sde" else "joint")
        S, _ = exact_stationary_sde(spec, model, cov, ETA, B)
    f = lambda u: fdr_integrands(game, u, ETA, B, model, covariance)
    zero = jnp.zeros(game.dim)
    value, hessian = jax.jit(lambda u: (f(u), jax.hessian(f)(u)))(zero)
    vals = np.asarray(value) + 0.5 * np.einsum("kij,ji->k", np.asarray(hessian), S)
    return dict(zip(FDR_FIELDS, vals))


@pytest.mark.parametrize("model,cov", [("alt", None), ("sml", None), ("alt-sde", "blockdiag"),
                                       ("alt-sde", "joint"), ("sml-sde", "joint"),
                                       ("sml-sde", "blockdiag"), ("sml2-sde", "joint")])
def test_fdrs_hold_exactly_in_the_model_form(generic_lq_spec, model, cov):
    v = _exact_fdr(generic_lq_spec, model, cov)
    scale = abs(v["fdr1_lhs"]) + abs(v["fdr2_lhs"])
    assert abs(v["fdr1_lhs"] - v["fdr1_rhs_model"]) < 1e-10 * scale
    assert abs(v["fdr2_lhs"] - v["fdr2_rhs_model"]) < 1e-10 * scale
    if model in ("alt", "sml"):  # the discrete forms are the model forms of the schemes
        assert v["fdr1_rhs_discrete"] == v["fdr1_rhs_model"]


def test_where_the_papers_forms_hold_exactly(generic_lq_spec):
    alt = _exact_fdr(generic_lq_spec, "alt-sde", "blockdiag")
    assert alt["fdr1_lhs"] == pytest.approx(alt["fdr1_rhs"], rel=1e-10)       # Theorem 7
    sml_block = _exact_fdr(generic_lq_spec, "sml-sde", "blockdiag")
    assert sml_block["fdr1_lhs"] == pytest.approx(sml_block["fdr1_rhs"], rel=1e-10)
    assert sml_block["fdr2_lhs"] == pytest.approx(sml_block["fdr2_rhs"], rel=1e-10)  # Theorem 9
    # With the joint covariance that SML needs, FDR1's printed right side misses the cross term.
    sml_joint = _exact_fdr(generic_lq_spec, "sml-sde", "joint")
    assert abs(sml_joint["fdr1_lhs"] - sml_joint["fdr1_rhs"]) > 0.1 * abs(sml_joint["fdr1_lhs"])
    # The discrete SML chain needs the (η/2)|g|² correction of FDR2 (docs/long_run.md).
    sml = _exact_fdr(generic_lq_spec, "sml")
    assert abs(sml["fdr2_lhs"] - sml["fdr2_rhs"]) > 1e-3 * abs(sml["fdr2_lhs"])


def test_stationary_covariance_solves_lyapunov_and_matches_long_runs(generic_lq_spec):
    spec = generic_lq_spec
    S, rate = exact_stationary_sga(spec, "alt", ETA, B)
    M, Q = sga_step_matrices(spec, "alt", ETA, B)
    np.testing.assert_allclose(M @ S @ M.T + Q, S, atol=1e-12)
    assert rate == pytest.approx(-np.log(np.max(np.abs(np.linalg.eigvals(M)))) / ETA)
    game = linear_quadratic(spec)
    iu = np.triu_indices(4)
    obs = lambda u: jnp.concatenate([jnp.outer(u, u)[iu], u])
    est = stationary_estimate(make_sga_step(game, SGAConfig("alt", ETA, B)), game.u0, obs,
                              burn_in=300, steps=2000, paths=400, key=jax.random.key(0),
                              rate_indices=np.arange(10, 14))
    exact = np.concatenate([S[iu], np.zeros(4)])
    z = np.abs(est.mean - exact) / ((est.ci[:, 1] - est.ci[:, 0]) / (2 * 1.96))
    assert np.all(z < 4.5), z
    assert np.all(est.rhat < 1.05) and np.all(est.ess > 1000)
    # The fitted rate is the slowest mode's; the exact one is −ln ρ(M)/η per unit time.
    assert est.rate / ETA == pytest.approx(rate, rel=0.3)


def test_sde_stationary_covariance_solves_lyapunov(generic_lq_spec):
    from gandyn.analysis.lq_exact import sde_drift_matrix, sde_noise_covariance

    S, rate = exact_stationary_sde(generic_lq_spec, "alt-sde", "blockdiag", ETA, B)
    F = sde_drift_matrix(generic_lq_spec, "alt-sde", ETA)
    G = sde_noise_covariance(generic_lq_spec, "blockdiag", ETA, B)
    np.testing.assert_allclose(F @ S + S @ F.T + G, 0, atol=1e-12)
    assert rate == pytest.approx(-np.max(np.linalg.eigvals(F).real))


def test_monte_carlo_fdr2_on_a_regularised_tanh_wgan():
    """FDR2's discrete form is exact for SML on any game: the paired gap's interval covers 0."""
    game = with_weight_decay(tanh_wgan(n_latent=16, n_data=16), 0.5)
    obs = lambda u: (lambda v: jnp.stack([v[4] - v[6], v[4] - v[5]]))(
        fdr_integrands(game, u, 0.1, 8, "sml"))
    est = stationary_estimate(make_sga_step(game, SGAConfig("sml", 0.1, 8)), game.u0, obs,
                              burn_in=200, steps=1000, paths=400, key=jax.random.key(1))
    lo, hi = est.ci[0]
    assert lo < 0 < hi


def test_theorem6_checks(generic_lq_spec):
    lq = check_theorem6(make_sde(linear_quadratic(generic_lq_spec), "sml-sde", ETA, B))
    assert lq["dissipativity"]["verdict"] == "holds"      # uᵀKu = −θᵀAθ − ωᵀDω < 0
    assert lq["bounded"]["verdict"] == "fails"            # a linear drift is unbounded
    assert lq["ellipticity"]["verdict"] == "holds"        # Σ has full rank
    Sigma = generic_lq_spec.field_covariance
    assert lq["ellipticity"]["l"] == pytest.approx(ETA / B * np.linalg.eigvalsh(Sigma).min(), rel=1e-6)
    plain = check_theorem6(make_sde(tanh_wgan(), "sml-sde", ETA, B), center=tanh_wgan().u0)
    assert plain["dissipativity"]["verdict"] == "fails"
    lam = plain["dissipativity"]["weight_decay_needed"]
    assert lam > 0
    fixed = check_theorem6(make_sde(with_weight_decay(tanh_wgan(), lam), "sml-sde", ETA, B),
                           center=tanh_wgan().u0)
    assert fixed["dissipativity"]["verdict"] == "holds"


INV = """
[game]
kind = "linear-quadratic"
A = [[1.0, 0.2], [0.2, 0.5]]
C = [[1.0, 0.3], [-0.2, 0.8]]
D = [[0.5, 0.0], [0.0, 0.3]]
sigma_theta = [[0.3, 0.1], [0.1, 0.2]]
sigma_omega = [[0.25, -0.05], [-0.05, 0.15]]
theta0 = [1.0, -0.5]
omega0 = [0.5, 1.0]

[stationary]
scheme = "sml"
eta = 0.1
batch_size = 2
method = "exact"
"""


def test_invariant_cli_contract(tmp_path, capsys):
    p = tmp_path / "inv.toml"
    p.write_text(INV)
    assert main(["invariant", str(p), "--json", "--out", str(tmp_path / "o")]) == 0
    r = json.loads(capsys.readouterr().out)
    for name in ("fdr1", "fdr2"):
        assert {"lhs", "rhs", "rhs_discrete"} <= set(r[name])
        assert r[name]["lhs"] == pytest.approx(r[name]["rhs_discrete"], rel=1e-9)
    assert set(r["conditions"]) == {"bounded", "dissipativity", "ellipticity"}
    assert r["rate"] > 0
    mc = INV.replace('method = "exact"', 'method = "monte-carlo"\npaths = 64\nburn_in = 50\nsteps = 200')
    p.write_text(mc)
    assert main(["invariant", str(p), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"lhs_ci", "rhs_ci", "rhs_discrete_ci"} <= set(r["fdr1"])
    assert "diagnostics" in r


@pytest.mark.parametrize("edit,needle", [
    (("eta = 0.1", "eta = -0.1"), "stationary.eta"),
    (("scheme = \"sml\"", "scheme = \"adam\""), "stationary.scheme"),
    (("[stationary]", "[stationary]\nwhat = 1"), "unknown field"),
    (('kind = "linear-quadratic"', 'kind = "tanh-wgan"'), "game"),
])
def test_invariant_bad_config(tmp_path, capsys, edit, needle):
    p = tmp_path / "inv.toml"
    p.write_text(INV.replace(*edit))
    assert main(["invariant", str(p), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_generated_distribution_summary_pools_the_generator_over_stationary_thetas():
    from gandyn.studies.config import TanhWGANGame
    from gandyn.studies.invariant import _generated_summary, _marginals

    cfg = TanhWGANGame(kind="tanh-wgan", n_latent=5, n_data=4)
    z = np.asarray(cfg.build().terms[1].data)[:, 0]
    states = np.array([[0.3, 1.0], [0.7, -1.0], [1.1, 0.0]])
    g = _generated_summary(cfg, states, d_theta=1)
    pooled = np.tanh(np.outer(states[:, 0], z)).ravel()
    assert g["n_samples"] == 15
    assert g["mean"][0] == pytest.approx(pooled.mean()) and g["std"][0] == pytest.approx(pooled.std())
    m = _marginals(states, 1)
    assert m["coordinates"]["theta[0]"][2] == pytest.approx(0.7)   # the median
    assert m["coordinates"]["omega[0]"][2] == pytest.approx(0.0)


def test_a_block_of_chains_has_every_chain_whatever_its_padding():
    """Blocks are padded to a multiple of 32 chains for one compilation; none is lost or added."""
    import jax
    import jax.numpy as jnp

    from gandyn.analysis.invariant import chain_simulator, simulate_chain_block

    step = lambda k, u: 0.5 * u + jax.random.normal(k, u.shape)  # noqa: E731
    sim = chain_simulator(step, jnp.zeros(1), lambda u: u, burn_in=0, steps=4, n_batches=2)
    for n in (5, 33, 100):
        block = simulate_chain_block(sim, jax.random.key(0), range(7, 7 + n))
        assert block.batch_means.shape[0] == block.alive.shape[0] == n and block.burn_count == n
