"""Every example config and script runs (with reduced sizes where they take flags)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gandyn.cli import main
from gandyn.studies.config import load_toml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("config", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_configs_run(config, capsys, tmp_path):
    text = (EXAMPLES / config).read_text()
    if "[report]" in text:  # a report configuration: small and fast as it stands
        assert main(["report", str(EXAMPLES / config), "--json", "--no-progress",
                     "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert all(s["status"] == "ok" for s in result["sections"])
        assert (tmp_path / "report.html").exists()
        return
    if "[optimizer]" in text:  # a step-spectrum study (gandyn spectrum)
        assert main(["spectrum", str(EXAMPLES / config), "--json", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["eigenvalues"] and (tmp_path / "spectrum.png").exists()
        return
    if "[train]" in text:  # a training study: the config as written validates; run it small
        from gandyn.studies.config import parse_config
        from gandyn.studies.train import TrainConfig

        parse_config(TrainConfig, load_toml(EXAMPLES / config))
        small = re.sub(r"(?m)^(steps|n_evals|seeds|hidden|depth|n_data|n_latent|eval_samples"
                       r"|optimizers|(generator|discriminator)_(hidden|depth)) = .*$", "", text)
        # two of the optimisers (all of them run in tests/test_train.py)
        small += "\nsteps = 30\nn_evals = 1\nseeds = [0]\nhidden = 8\ndepth = 1\nn_data = 128\n" \
                 "n_latent = 128\neval_samples = 100\noptimizers = [\"sgd\", \"plateau\"]\n"
        p = tmp_path / config
        p.write_text(small)
        assert main(["train", str(p), "--json", "--no-progress", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["results"] and (tmp_path / "training.png").exists()
        return
    if "[svag]" in text:  # an SVAG study: exact as written; Monte Carlo and networks made small
        from gandyn.report.toml_text import dumps_toml
        from gandyn.studies.config import tomllib

        raw = tomllib.loads(text)
        path = EXAMPLES / config
        if raw["svag"]["method"] == "monte-carlo":
            raw["svag"].update(paths=200, substeps=2, ls=[1, 2])
            if raw["game"]["kind"] == "dcgan":
                raw["game"].update(width=2, latent_dim=2, n_data=64, n_latent=64)
                raw["svag"].update(seeds=[0, 1], horizon=2 * raw["svag"]["eta"], n_records=1,
                                   eval_samples=20)
            path = tmp_path / config
            path.write_text(dumps_toml(raw))
        assert main(["svag", str(path), "--json", "--no-progress", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["ls"] == raw["svag"]["ls"] and len(result["error_final"]) == len(result["ls"])
        assert (tmp_path / "svag.png").exists()
        return
    if "[scaling]" in text:  # a scaling-rule study, made small
        from gandyn.report.toml_text import dumps_toml
        from gandyn.studies.config import tomllib

        raw = tomllib.loads(text)
        raw["game"].update(n_data=64, n_latent=64, hidden=4, depth=1)
        raw["scaling"].update(kappas=[1.0, 2.0], steps=4, n_records=1, seeds=[0, 1],
                              eval_samples=20, nsr_pairs=2, optimizers=["adam"])
        path = tmp_path / config
        path.write_text(dumps_toml(raw))
        assert main(["scaling-rule", str(path), "--json", "--no-progress", "--out",
                     str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert [r["optimizer"] for r in result["results"]] == raw["scaling"]["optimizers"]
        assert (tmp_path / "scaling_rule.png").exists()
        return
    if "[study]" not in text:  # a stationary study
        assert main(["invariant", str(EXAMPLES / config), "--json", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["fdr1"] and (tmp_path / "invariant.json").exists()
        if "monte-carlo" in text:
            assert result["marginals"]["coordinates"] and result["diagnostics"]["n_chains"] > 0
        return
    path = EXAMPLES / config
    if "monte-carlo" in text:  # the same study at a reduced size: fewer paths and sub-steps
        from gandyn.report.toml_text import dumps_toml
        from gandyn.studies.config import tomllib

        raw = tomllib.loads(text)
        raw["study"].update(paths=200, substeps=min(raw["study"].get("substeps", 2), 2))
        # One comparison at the two largest steps: every comparison compiles programs of its
        # own, and the others run in tests/test_weak_error.py and tests/test_cli_weak_order.py.
        raw["study"]["comparisons"] = raw["study"]["comparisons"][:1]
        raw["study"]["etas"] = sorted(raw["study"]["etas"], reverse=True)[:2]
        raw["study"]["horizon"] = max(raw["study"]["etas"])
        # A smaller data set: the SDE's noise is a pass over every per-sample field.
        game = raw["game"].get("options", raw["game"])
        for name in ("n_data", "n_latent"):
            if name in game:
                game[name] = min(game[name], 16)
        if raw["game"]["kind"] == "mlp-gan":  # one hidden layer: the ALT-SDE's second-order
            game.update(depth=1)              # drift through two layers compiles for 45 s
        path = tmp_path / config
        path.write_text(dumps_toml(raw))
    args = ["weak-order", str(path), "--json", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["comparisons"] and (tmp_path / "weak_order.png").exists()


@pytest.mark.parametrize("config", sorted(p.name for p in (EXAMPLES / "full").glob("*.toml")))
def test_full_size_configs_validate(config):
    """The full-size studies (hours of CPU) are the reduced ones at other sizes: they validate."""
    from gandyn.studies.config import parse_config
    from gandyn.studies.train import TrainConfig

    parse_config(TrainConfig, load_toml(EXAMPLES / "full" / config))


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
