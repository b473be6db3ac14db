"""Every example config and script runs (with reduced sizes where they take flags)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gandyn.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("config", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_configs_run(config, capsys, tmp_path):
    text = (EXAMPLES / config).read_text()
    if "[train]" in text:  # a training study: run it small
        small = re.sub(r"(?m)^(steps|n_evals|seeds|hidden|n_data|n_latent|eval_samples) = .*$", "", text)
        small += "\nsteps = 30\nn_evals = 1\nseeds = [0]\nhidden = 8\nn_data = 128\n" \
                 "n_latent = 128\neval_samples = 100\n"
        p = tmp_path / config
        p.write_text(small)
        assert main(["train", str(p), "--json", "--no-progress", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["results"] and (tmp_path / "training.png").exists()
        return
    if "[study]" not in text:  # a stationary study
        assert main(["invariant", str(EXAMPLES / config), "--json", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["fdr1"] and (tmp_path / "invariant.json").exists()
        if "monte-carlo" in text:
            assert result["marginals"]["coordinates"] and result["diagnostics"]["n_chains"] > 0
        return
    args = ["weak-order", str(EXAMPLES / config), "--json", "--no-progress", "--out", str(tmp_path)]
    if "monte-carlo" in text:
        args += ["--paths", "500"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["comparisons"] and (tmp_path / "weak_order.png").exists()


@pytest.mark.parametrize("script,args", [("custom_game.py", ["--paths", "500"]),
                                         ("sga_vs_sde.py", ["--paths", "200"]),
                                         ("fdr_schedule.py", ["--steps", "2000"]),
                                         ("kernel_modes.py", ["--steps", "200", "--n-gen", "16"])])
def test_example_scripts_run(script, args, tmp_path):
    extra = ["--out", str(tmp_path)] if script in ("sga_vs_sde.py", "kernel_modes.py") else []
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args, *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
    if script == "kernel_modes.py":
        result = json.loads((tmp_path / "kernel_modes.json").read_text())
        for row in result["results"]:  # every point is assigned a target; the counts add up
            assert len(row["nearest_target"]) == 16
            assert sum(row["points_per_target"]) + row["stray_points"] == 16
