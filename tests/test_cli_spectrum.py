"""``gandyn spectrum``: the JSON contract, the study behind it, outputs, and bad configs (exit 2)."""

import json
from pathlib import Path

import numpy as np
import pytest

from gandyn.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

BILINEAR = """
[game]
kind = "linear-quadratic"
A = [[0.0]]
C = [[{sigma}]]
D = [[0.0]]
sigma_theta = [[0.0]]
sigma_omega = [[0.0]]
theta0 = [1.0]
omega0 = [1.0]
"""

CONTRACT = ("eigenvalues", "spectral_radius", "stable", "stable_eta_range", "jacobian_eigenvalues",
            "matvecs", "seconds", "out", "files")


def _run(tmp_path, text, *extra, capsys):
    path = tmp_path / "spectrum.toml"
    path.write_text(text)
    code = main(["spectrum", str(path), "--json", *extra])
    captured = capsys.readouterr()
    return code, captured


def test_json_contract_and_outputs(tmp_path, capsys):
    """The example config: Dirac-GAN with R1 γ = 0.5 under simultaneous GDA (docs/stability.md)."""
    out = tmp_path / "out"
    code = main(["spectrum", str(EXAMPLES / "spectrum_dirac_r1.toml"), "--json", "--out", str(out)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for key in CONTRACT + ("radius_per_eta",):
        assert key in result, key
    gamma, a, eta = 0.5, 0.5, 0.5
    mu = np.roots([1, -gamma, a**2])  # eigenvalues of the game Jacobian
    lam = 1 - eta * mu
    assert [e["abs"] for e in result["eigenvalues"]] == sorted(
        (e["abs"] for e in result["eigenvalues"]), reverse=True)
    key = lambda z: (round(z.real, 8), z.imag)
    np.testing.assert_allclose(sorted((complex(e["re"], e["im"]) for e in result["eigenvalues"]),
                                      key=key), sorted(lam, key=key), atol=1e-10)
    assert result["spectral_radius"] == pytest.approx(np.max(np.abs(lam)), abs=1e-12)
    assert result["stable"] is True
    low, high = result["stable_eta_range"]
    assert high == pytest.approx(gamma / a**2, rel=1e-6) and low <= 1e-3 * eta * 1.0001
    np.testing.assert_allclose(sorted((complex(e["re"], e["im"]) for e in
                                       result["jacobian_eigenvalues"]), key=key),
                               sorted(mu, key=key), atol=1e-10)
    per_eta = {r["eta"]: r for r in result["radius_per_eta"]}
    assert per_eta[2.5]["stable"] is False and per_eta[1.0]["stable"] is True
    assert per_eta[1.0]["radius"] == pytest.approx(np.sqrt(1 - gamma + a**2), rel=1e-12)
    assert result["point"]["converged"] is True and result["point"]["field_norm"] < 1e-10
    assert result["out"] == str(out)
    for name in ("spectrum.png", "spectrum.svg", "radius_eta.png", "eigenvalues.csv",
                 "step_spectrum.json"):
        assert (out / name).stat().st_size > 0
        assert str(out / name) in result["files"]
    assert json.loads((out / "step_spectrum.json").read_text())["eigenvalues"] == result[
        "eigenvalues"]


def test_json_equals_the_study_result(tmp_path, capsys):
    from gandyn.studies.config import load_toml, parse_config
    from gandyn.studies.step_spectrum import StepSpectrumConfig, run

    path = EXAMPLES / "spectrum_bilinear_optimistic.toml"
    assert main(["spectrum", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    direct = run(parse_config(StepSpectrumConfig, load_toml(path))).to_json()
    for timing in ("seconds", "elapsed_s"):
        printed.pop(timing), direct.pop(timing)
    assert printed == json.loads(json.dumps(direct))
    assert printed["out"] is None and printed["files"] is None
    assert printed["stable_eta_range"][1] == pytest.approx(1 / (2 * np.sqrt(3)), rel=1e-6)


def test_readable_summary_without_json(tmp_path, capsys):
    assert main(["spectrum", str(EXAMPLES / "spectrum_bilinear_optimistic.toml")]) == 0
    text = capsys.readouterr().out
    assert "spectral radius" in text and "stable for eta in" in text


def test_arnoldi_momentum_and_checkpoint(tmp_path, capsys):
    """A checkpoint (.npy, .npz and an equinox file) and the Arnoldi route on a 4-dimensional
    bilinear game."""
    sigma = 1.0
    text = BILINEAR.format(sigma=sigma).replace("[[0.0]]", "[[0.0, 0.0], [0.0, 0.0]]").replace(
        f"[[{sigma}]]", f"[[{sigma}, 0.0], [0.0, 2.0]]").replace("[1.0]", "[1.0, 1.0]")
    u = np.array([0.0, 0.0, 0.0, 0.0])
    np.save(tmp_path / "u.npy", u)
    np.savez(tmp_path / "u.npz", theta=u[:2], omega=u[2:])
    import equinox as eqx
    import jax.numpy as jnp

    eqx.tree_serialise_leaves(tmp_path / "u.eqx", (jnp.asarray(u[:2]), jnp.asarray(u[2:])))
    results = []
    for name in ("u.npy", "u.npz", "u.eqx"):
        cfg = text + f"""
[optimizer]
kind = "momentum"
order = "alternating"
eta = 0.3
beta = -0.5

[point]
kind = "checkpoint"
path = "{tmp_path / name}"

[spectrum]
method = "arnoldi"
k = 3
stable_range = false
"""
        code, cap = _run(tmp_path, cfg, capsys=capsys)
        assert code == 0, cap.err
        results.append(json.loads(cap.out))
    for other in results[1:]:
        for a, b in zip(results[0]["eigenvalues"], other["eigenvalues"], strict=True):
            assert a == pytest.approx(b)
    r = results[0]
    assert r["dim"] == 8 and len(r["eigenvalues"]) == 3 and r["matvecs"] > 0
    assert r["residual_max"] < 1e-8 and r["stable_eta_range"] is None
    # the leading modulus: the larger of the two singular directions' quartics
    rho = 0.0
    for s in (1.0, 2.0):
        poly = np.polymul(np.polymul([1, -1], [1, -1]), [1, 1, 0.25])
        poly[1] += (0.3 * s) ** 2
        rho = max(rho, np.max(np.abs(np.roots(poly))))
    assert r["spectral_radius"] == pytest.approx(rho, abs=1e-8)


BAD = [
    ('kind = "nesterov"', "optimizer.kind must be one of"),
    ('kind = "gda"\nbeta = 0.5', "beta is only for kind = 'momentum'"),
    ('kind = "momentum"', "needs beta"),
    ('kind = "extragradient"\norder = "alternating"', "order = 'alternating' is for"),
    ('kind = "optimistic"\nn_disc = 2', "n_disc must be 1"),
    ('kind = "adam"\nbetas = [0.9, 1.5]', "betas must be two numbers"),
    ('kind = "gda"\nr1 = 1.0', "r1/r2 penalise a GAN"),
    ('kind = "gda"\neta = "0.1"', "optimizer.eta"),
    ('kind = "gda"\nlearning_rate = 0.1', "unknown field"),
]


@pytest.mark.parametrize("optimizer,message", BAD)
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, optimizer, message):
    eta = "" if optimizer.split("\n")[-1].startswith("eta =") else "\neta = 0.1"
    text = BILINEAR.format(sigma=1.0) + "\n[optimizer]\n" + optimizer + eta + "\n"
    code, cap = _run(tmp_path, text, capsys=capsys)
    assert code == 2
    assert cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], cap.err


@pytest.mark.parametrize("tables,message", [
    ('[point]\nkind = "checkpoint"', "needs path"),
    ('[point]\nkind = "checkpoint"\npath = "no/such/file.npy"', "no such file"),
    ('[spectrum]\nmethod = "arnoldi"\nk = 5', "arnoldi needs k < dim - 1"),
    ('[spectrum]\nmethod = "lanczos"', "spectrum.method must be one of"),
    ('[spectrum]\nwhich = ["LR"]', "which must start with 'LM'"),
    ('[point]\nkind = "along-training"', "needs steps (training steps) and every"),
    ('[point]\nkind = "along-training"\nsteps = 10\nevery = 20', "every must be at most steps"),
    ('[point]\nkind = "along-training"\nsteps = 10\nevery = 0', "point.every"),
    ('[point]\nkind = "along-training"\nsteps = 100000\nevery = 1', "more than 1000"),
    ('[point]\nkind = "along-training"\nsteps = 4\nevery = 2\npath_points = 2',
     "point.path_points"),
    ('[point]\nkind = "along-training"\nsteps = 4\nevery = 2\nwarm_start = "yes"',
     "point.warm_start"),
    ('[point]\nkind = "initial"\nevery = 2', "every is only for kind = 'along-training'"),
    ('[point]\nkind = "checkpoint"\npath = "u.npy"\nsteps = 2',
     "steps is only for kind = 'along-training'"),
])
def test_bad_point_and_spectrum_tables_exit_2(tmp_path, capsys, tables, message):
    text = BILINEAR.format(sigma=1.0) + '\n[optimizer]\nkind = "gda"\neta = 0.1\n\n' + tables + "\n"
    code, cap = _run(tmp_path, text, capsys=capsys)
    assert code == 2
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], cap.err


def test_along_training_against_the_closed_form(tmp_path, capsys):
    """Along training on the bilinear game under simultaneous GDA: the step is linear,
    ``u_{t+1} = (I − ηJ) u_t``, so every record has ``ρ = √(1 + η²σ²)``, ``|F(u_t)| =
    σ|u_t| = σ(1 + η²σ²)^{t/2}|u_0|``, and between consecutive steps ``u_b − u_a = −ηJu_a`` is
    orthogonal to ``u_a``: ``cos∠(F(u_a + α(u_b − u_a)), u_b − u_a) = −1/√(1 + α²η²σ²)``."""
    sigma, eta = 1.5, 0.2
    text = BILINEAR.format(sigma=sigma) + f"""
[optimizer]
kind = "gda"
eta = {eta}

[point]
kind = "along-training"
steps = 3
every = 1
path_points = 15

[spectrum]
stable_range = false
nash = false
"""
    out = tmp_path / "out"
    code, cap = _run(tmp_path, text, "--out", str(out), "--no-progress", capsys=capsys)
    assert code == 0, cap.err
    r = json.loads(cap.out)
    a, growth = r["along_training"], 1 + (eta * sigma) ** 2
    assert a["steps"] == [0, 1, 2, 3] and a["warm_start"] is True and a["diverged_at"] is None
    np.testing.assert_allclose(a["spectral_radius"], np.sqrt(growth), rtol=1e-12)
    np.testing.assert_allclose(a["margin"], 1 - np.sqrt(growth), rtol=1e-10)
    assert a["stable"] == [False] * 4 and len(a["eigenvalues"]) == 4
    np.testing.assert_allclose(a["field_norm"], sigma * np.sqrt(2) * growth ** (np.arange(4) / 2),
                               rtol=1e-12)
    pa = r["path_angle"]
    alphas = np.asarray(pa["alphas"])
    assert len(alphas) == 15 and alphas[0] == pytest.approx(-0.2) and alphas[-1] == pytest.approx(1.2)
    assert [(q["from"], q["to"]) for q in pa["pairs"]] == [(0, 1), (1, 2), (2, 3)]
    for q in pa["pairs"]:
        np.testing.assert_allclose(q["cosine"], -1 / np.sqrt(1 + (alphas * eta * sigma) ** 2),
                                   rtol=1e-12)
    # the other fields describe the last checkpoint
    assert r["point"]["kind"] == "along-training" and r["point"]["final_step"] == 3
    assert r["spectral_radius"] == pytest.approx(a["spectral_radius"][-1], rel=1e-12)
    np.testing.assert_allclose(r["point"]["u"], np.linalg.matrix_power(
        np.eye(2) - eta * np.array([[0, sigma], [-sigma, 0]]), 3) @ [1.0, 1.0], rtol=1e-12)
    for name in ("along_training.png", "along_training.svg", "along_training.csv",
                 "path_angle.csv", "spectrum.png", "step_spectrum.json"):
        assert (out / name).stat().st_size > 0 and str(out / name) in r["files"]
    assert len((out / "path_angle.csv").read_text().splitlines()) == 1 + 3 * 15


def test_digits_subset_is_bounded(tmp_path, capsys):
    text = ('[game]\nkind = "mlp-gan"\ndataset = "digits"\nn_data = 2000\n\n'
            '[optimizer]\nkind = "gda"\neta = 0.1\n')
    code, cap = _run(tmp_path, text, capsys=capsys)
    assert code == 2 and len(cap.err.strip().splitlines()) == 1
    assert "n_data must be at most 1797" in cap.err


def test_checkpoint_of_the_wrong_size_exits_2(tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros(3))
    text = BILINEAR.format(sigma=1.0) + (f'\n[optimizer]\nkind = "gda"\neta = 0.1\n\n[point]\n'
                                         f'kind = "checkpoint"\npath = "{tmp_path / "short.npy"}"\n')
    code, cap = _run(tmp_path, text, capsys=capsys)
    assert code == 2 and "holds 3 numbers; the game has 2" in cap.err


def test_report_section_beside_the_closed_forms(tmp_path, capsys):
    """``gandyn report`` with the opt-in section: every radius equals its closed form."""
    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nsections = ["stability"]\n\n[stability]\nparts = ["closed_forms"]\n'
                   'eta = 0.3\n')
    out = tmp_path / "report"
    assert main(["report", str(cfg), "--json", "--no-progress", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    (section,) = printed["sections"]
    assert section["status"] == "ok" and section["name"] == "stability"
    summary = section["summary"]
    assert summary["radius_matches_closed_form"] == summary["cases"] == 9
    assert summary["optimistic_stable_eta_max"] == pytest.approx(1 / np.sqrt(3), rel=1e-6)
    rows = json.loads((out / "stability" / "stability.json").read_text())
    for row in rows:
        if row["stable_eta_max_closed"] is not None:
            assert row["stable_eta_range"][1] == pytest.approx(row["stable_eta_max_closed"],
                                                               rel=1e-6), row["label"]
    assert (out / "report.html").exists() and (out / "stability" / "spectrum.png").exists()


def test_report_section_digits_along_training(tmp_path, capsys):
    """The section's digits GAN along training at a tiny size: its table, figure and numbers are
    those of the ``gandyn spectrum`` command it shows."""
    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nsections = ["stability"]\n\n[stability]\nparts = ["digits"]\n'
                   'digits_hidden = 4\ndigits_images = 16\ndigits_steps = 4\ndigits_every = 2\n'
                   'digits_k = 3\n')
    out = tmp_path / "report"
    assert main(["report", str(cfg), "--quick", "--json", "--no-progress", "--out", str(out)]) == 0
    (section,) = json.loads(capsys.readouterr().out)["sections"]
    assert section["status"] == "ok", section
    summary = section["summary"]
    # MLP on 64 pixels, latent 4, one hidden layer of 4: G 4·4+4 + 4·64+64, D 64·4+4 + 4+1
    assert summary["digits_parameters"] == (20 + 320) + (260 + 5)
    assert summary["digits_steps"] == [0, 2, 4] and len(summary["digits_margin"]) == 3
    np.testing.assert_allclose(summary["digits_margin"],
                               1 - np.asarray(summary["digits_spectral_radius"]), rtol=1e-12)
    folder = out / "stability" / "digits"
    saved = json.loads((folder / "step_spectrum.json").read_text())
    assert saved["along_training"]["margin"] == summary["digits_margin"]
    assert [(q["from"], q["to"]) for q in saved["path_angle"]["pairs"]] == [(0, 2), (2, 4)]
    assert max(saved["along_training"]["residual_max"]) < 1e-6
    assert (folder / "along_training.png").stat().st_size > 0
    assert (out / "stability" / "digits.toml").is_file()
    (full,) = json.loads((out / "report.json").read_text())["sections"]
    assert f"is locally contracting at {summary['digits_contracting_checkpoints']} of 3" in \
        full["headline"]
    assert full["figures"][0]["file"] == "stability/digits/along_training.png"
