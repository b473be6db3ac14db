"""Every example script runs (with reduced sizes where it takes flags) and prints what it says.

The example configs are run in tests/test_examples.py; the two files are apart so that the
suite's two workers can share them.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gandyn.studies.config import load_toml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script,args", [("custom_game.py", ["--paths", "500"]),
                                         ("sga_vs_sde.py", ["--paths", "200"]),
                                         ("fdr_schedule.py", ["--steps", "2000"]),
                                         ("kernel_modes.py", ["--steps", "200", "--n-gen", "16"]),
                                         ("game_spectrum.py", ["--hidden", "8", "--depth", "1"]),
                                         ("long_run.py", ["--paths", "100", "--steps", "400"]),
                                         ("stability_along_training.py",
                                          ["--steps", "40", "--every", "20"])])
def test_example_scripts_run(script, args, tmp_path):
    extra = ["--out", str(tmp_path)] if script in ("sga_vs_sde.py", "kernel_modes.py",
                                                   "game_spectrum.py", "long_run.py",
                                                   "stability_along_training.py") else []
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args, *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
    if script == "kernel_modes.py":
        result = json.loads((tmp_path / "kernel_modes.json").read_text())
        for row in result["results"]:  # every point is assigned a target; the counts add up
            assert len(row["nearest_target"]) == 16
            assert sum(row["points_per_target"]) + row["stray_points"] == 16
    if script == "game_spectrum.py":
        result = json.loads((tmp_path / "game_spectrum.json").read_text())
        dirac = result["dirac"]
        for scheme in ("alt", "sml"):  # the Dirac-GAN against its closed forms (docs/spectrum.md)
            row = dirac[scheme]
            assert row["eigenvalue_error_vs_closed_form"] < 1e-12
            assert abs(row["largest_stable_eta"] - row["largest_stable_eta_closed_form"]) < 1e-6
        gamma = dirac["gamma"]
        assert dirac["sml"]["largest_stable_eta_closed_form"] == pytest.approx(gamma)
        assert dirac["alt"]["largest_stable_eta_closed_form"] == pytest.approx((gamma**2 + 4)**0.5 - gamma)
        for scheme in ("alt", "sml"):  # Arnoldi's leading moduli are the dense spectrum's
            row = result["mlp"][scheme]
            assert row["arnoldi_moduli"] == pytest.approx(row["dense_moduli"], rel=1e-6)
        for name in ("dirac_alt", "dirac_sml", "mlp_alt", "mlp_sml"):
            assert (tmp_path / f"{name}.png").stat().st_size > 0
        assert "largest stable η" in proc.stdout
    if script == "stability_along_training.py":
        result = json.loads((tmp_path / "along.json").read_text())
        assert result["steps"] == [0, 20, 40] and len(result["path_angle"]["alphas"]) == 100
        # the warm and the cold start find the same leading eigenvalue
        np.testing.assert_allclose(result["radius"], result["radius_cold_start"], atol=1e-8)
        assert max(result["residual_max"]) < 1e-6
        assert (tmp_path / "margin.png").stat().st_size > 0
    if script == "long_run.py":
        result = json.loads((tmp_path / "long_run.json").read_text())
        # The script's game and settings are examples/invariant_lq.toml's.
        toml = load_toml(EXAMPLES / "invariant_lq.toml")
        assert result["linear_quadratic"]["game"] == {k: v for k, v in toml["game"].items() if k != "kind"}
        assert result["linear_quadratic"]["eta"] == toml["stationary"]["eta"]
        assert result["linear_quadratic"]["batch_size"] == toml["stationary"]["batch_size"]
        lq = result["linear_quadratic"]["dynamics"]
        for row in lq.values():  # the model form is the exact identity of every dynamics
            scale = abs(row["fdr1"]["lhs"]) + abs(row["fdr2"]["lhs"])
            for fdr in ("fdr1", "fdr2"):
                assert abs(row[fdr]["lhs"] - row[fdr]["rhs_model"]) < 1e-9 * scale
        # Where docs/long_run.md says the discrete and the paper's forms are exact, and where not.
        for fdr in ("fdr1", "fdr2"):
            assert lq["sml"][fdr]["rhs_discrete"] == pytest.approx(lq["sml"][fdr]["lhs"], rel=1e-9)
            assert lq["alt"][fdr]["rhs_discrete"] == pytest.approx(lq["alt"][fdr]["lhs"], rel=1e-9)
            assert lq["sml-sde (blockdiag)"][fdr]["rhs"] == pytest.approx(
                lq["sml-sde (blockdiag)"][fdr]["lhs"], rel=1e-9)
        assert abs(lq["sml"]["fdr2"]["rhs"] - lq["sml"]["fdr2"]["lhs"]) > 1e-3 * lq["sml"]["fdr2"]["lhs"]
        assert result["conditions"]["linear-quadratic"]["dissipativity"]["verdict"] == "holds"
        tanh = result["tanh_wgan"]
        assert tanh["n_chains"] == 100 and tanh["rhat_max"] < 1.1
        # SML's discrete FDR2 is exact on every game: the paired gap is zero up to Monte Carlo error.
        lo, hi = tanh["fdr2"]["gap_rhs_discrete_ci"]
        assert abs(tanh["fdr2"]["gap_rhs_discrete"]) < 2.5 * (hi - lo) / 2
