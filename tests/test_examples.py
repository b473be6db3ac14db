"""Every example config and script runs (with reduced sizes where they take flags)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gandyn.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("config", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_configs_run(config, capsys, tmp_path):
    text = (EXAMPLES / config).read_text()
    if "[study]" not in text:  # a stationary study
        assert main(["invariant", str(EXAMPLES / config), "--json", "--out", str(tmp_path)]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["fdr1"] and (tmp_path / "invariant.json").exists()
        return
    args = ["weak-order", str(EXAMPLES / config), "--json", "--no-progress", "--out", str(tmp_path)]
    if "monte-carlo" in text:
        args += ["--paths", "500"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["comparisons"] and (tmp_path / "weak_order.png").exists()


@pytest.mark.parametrize("script,args", [("custom_game.py", ["--paths", "500"]),
                                         ("sga_vs_sde.py", ["--paths", "200"]),
                                         ("fdr_schedule.py", ["--steps", "2000"])])
def test_example_scripts_run(script, args, tmp_path):
    extra = ["--out", str(tmp_path)] if script == "sga_vs_sde.py" else []
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args, *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
