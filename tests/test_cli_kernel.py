"""The ``gandyn kernel`` contract: keys, values against the autodiff spectrum, bad input."""

import json

import numpy as np
import pytest

from gandyn.cli import main
from gandyn.kernel import KernelGDA, linearised_spectrum

GAME = ["--sigma", "0.7", "--lam", "0.5", "--eta-d", "0.3", "--eta-g", "0.2", "--p", "1",
        "--p-gen", "0.2", "--n-gen", "3", "--dim", "2"]


def run_json(capsys, args):
    code = main(args + ["--json"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_spectrum_contract(capsys):
    r = run_json(capsys, ["kernel", "spectrum"] + GAME)
    for key in ("a", "b", "c", "eigenvalues", "rho_joint", "rho_generator", "stable",
                "eta_d_max", "eta_d_max_corollary1"):
        assert key in r
    modes = {e["mode"]: e for e in r["eigenvalues"]}
    assert set(modes) == {"a", "b", "c+", "c-"}
    assert modes["b"]["multiplicity"] == 4 and modes["c+"]["multiplicity"] == 2
    for e in r["eigenvalues"]:
        assert set(e) == {"mode", "re", "im", "abs", "multiplicity"}
    game = KernelGDA(np.zeros((1, 2)), p=1.0, p_gen=0.2, n_gen=3)
    lin = linearised_spectrum(game, sigma=0.7, lam=0.5, eta_d=0.3, eta_g=0.2)
    assert r["rho_generator"] == pytest.approx(lin.rho_generator, abs=1e-10)
    assert r["rho_joint"] == pytest.approx(lin.rho_joint, abs=1e-10)
    assert r["stable"] is True


def test_spectrum_n1_has_no_b_mode_unless_paper_convention(capsys):
    base = ["kernel", "spectrum", "--sigma", "1", "--lam", "0.3", "--n-gen", "1"]
    assert "b" not in {e["mode"] for e in run_json(capsys, base)["eigenvalues"]}
    paper = run_json(capsys, base + ["--convention", "paper-figure"])
    assert "b" in {e["mode"] for e in paper["eigenvalues"]}


def test_simulate_contract(capsys, tmp_path):
    r = run_json(capsys, ["kernel", "simulate"] + GAME + ["--steps", "600", "--order", "d-first",
                                                          "--offset", "0.001", "--seed", "3",
                                                          "--out", str(tmp_path)])
    for key in ("rate_empirical", "rate_generator", "rate_joint", "final_distance"):
        assert isinstance(r[key], float)
    assert r["order"] == "d-first"
    assert r["rate_empirical"] == pytest.approx(r["rate_generator"], rel=1e-3)
    assert (tmp_path / "distance.csv").exists() and (tmp_path / "distance.png").exists()


def test_phase_contract_and_files(capsys, tmp_path):
    r = run_json(capsys, ["kernel", "phase", "--eta-d", "0.01", "--eta-g", "0.01", "--p", "1",
                          "--p-gen", "0.8", "--n-gen", "1", "--sigma", "0.05:2:40",
                          "--lam", "0.01:1:30", "--convention", "paper-figure",
                          "--quantity", "joint", "--out", str(tmp_path)])
    for key in ("min", "argmin", "unstable_fraction", "median"):
        assert key in r
    assert set(r["argmin"]) == {"sigma", "lam"}
    assert 0 <= r["unstable_fraction"] <= 1
    data = json.loads((tmp_path / "phase.json").read_text())
    grid = np.array(data["rho_max_sq"])
    assert grid.shape == (30, 40) and grid.min() == pytest.approx(r["min"])
    assert (tmp_path / "phase_paper-figure_joint.png").exists()
    assert (tmp_path / "phase.csv").read_text().count("\n") == 30 * 40 + 1


def test_phase_with_simulation(capsys, tmp_path):
    r = run_json(capsys, ["kernel", "phase", "--eta-d", "0.3", "--eta-g", "0.3", "--p-gen", "0.5",
                          "--sigma", "0.5:1.5:3", "--lam", "0.3:0.9:3", "--quantity", "generator",
                          "--simulate", "300", "--out", str(tmp_path)])
    assert r["simulated"]["median_abs_difference"] < 0.01
    assert r["simulated"]["discriminator_start"] == "equilibrium"
    assert (tmp_path / "phase_simulated.png").exists()


def test_simulate_from_the_equilibrium_discriminator(capsys):
    # The Corollary-1 example at η = 0.8: the build-up from f⁰ = 0 hides the dominant c+ = −0.913.
    game = ["--sigma", "1", "--lam", "0.1", "--eta-d", "0.8", "--eta-g", "0.8", "--p-gen", "0.5",
            "--steps", "400"]
    cold = run_json(capsys, ["kernel", "simulate"] + game)
    warm = run_json(capsys, ["kernel", "simulate"] + game + ["--discriminator-start", "equilibrium"])
    assert cold["discriminator_start"] == "zero" and warm["discriminator_start"] == "equilibrium"
    assert warm["rate_empirical"] == pytest.approx(warm["rate_generator"], rel=2e-3)
    assert cold["rate_empirical"] < 0.95 * cold["rate_generator"]


def test_convergence_figure(capsys, tmp_path):
    r = run_json(capsys, ["kernel", "convergence", "--lams", "1,0.1", "--sigmas", "1",
                          "--steps", "200", "--out", str(tmp_path)])
    assert len(r["runs"]) == 2
    assert (tmp_path / "convergence.png").exists()


@pytest.mark.parametrize("args", [
    ["kernel", "spectrum", "--sigma", "-1"],
    ["kernel", "spectrum", "--lam", "0"],
    ["kernel", "spectrum", "--p-gen", "0"],
    ["kernel", "spectrum", "--eta-d", "nan"],
    ["kernel", "spectrum", "--n-gen", "0"],
    ["kernel", "simulate", "--mode", "antisymmetric", "--n-gen", "1"],
    ["kernel", "simulate", "--steps", "-5"],
    ["kernel", "phase", "--sigma", "1:2"],
    ["kernel", "phase", "--sigma", "a:b:c"],
    ["kernel", "phase", "--lam", "2:1:5"],
    ["kernel", "phase", "--lam", "0.1:1:0"],
    ["kernel", "phase", "--sigma", "-1:1:5"],
    ["kernel", "phase", "--convention", "plotted"],
    ["kernel", "convergence", "--lams", "1,x"],
    ["kernel"],
])
def test_bad_input_exits_2_with_one_line(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gandyn: error:")


def test_out_that_is_a_file_exits_2(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["kernel", "spectrum", "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err
