"""Every example config runs (Monte Carlo and networks at reduced sizes; scripts: test_example_scripts.py)."""

import json
import re
from pathlib import Path

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
