"""``gandyn svag``: the JSON contract, the study result, the figures, and bad configs (exit 2)."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gandyn.cli import main
from gandyn.studies import svag
from gandyn.studies.config import parse_config, tomllib

LQ_GAME = """
[game]
kind = "linear-quadratic"
A = [[1.0, 0.2], [0.2, 0.5]]
C = [[1.0, 0.3], [-0.2, 0.8]]
D = [[0.5, 0.0], [0.0, 0.3]]
sigma_theta = [[0.3, 0.1], [0.1, 0.2]]
sigma_omega = [[0.25, -0.05], [-0.05, 0.15]]
sigma_theta_omega = [[0.1, 0.05], [0.0, -0.08]]
theta0 = [1.0, -0.5]
omega0 = [0.5, 1.0]
"""

SVAG = """
[svag]
scheme = "{scheme}"
eta = 0.2
batch_size = 4
horizon = 2.0
ls = [1, 2, 4, 8, 16]
method = "exact"
test_function = "sq-norm"
"""

CONTRACT = {"scheme", "covariance", "ls", "error_final", "signed_error_final", "order_in_l",
            "out", "files"}


def _write(tmp_path, text, name="svag.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured


@pytest.mark.parametrize("scheme,covariance", [("alt", "blockdiag"), ("sml", "joint")])
def test_exact_contract(tmp_path, capsys, scheme, covariance):
    text = LQ_GAME + SVAG.format(scheme=scheme)
    out = tmp_path / "out"
    code, captured = _run(["svag", _write(tmp_path, text), "--json", "--out", str(out)], capsys)
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert CONTRACT <= set(result)
    assert result["scheme"] == scheme and result["covariance"] == covariance
    assert result["ls"] == [1, 2, 4, 8, 16] and result["n_steps"] == [10, 20, 40, 80, 160]
    assert result["order_in_l"] == pytest.approx(1.0, abs=0.2)
    assert [abs(s) for s in result["signed_error_final"]] == pytest.approx(result["error_final"])
    assert "error_final_ci" not in result  # exact: no intervals
    for name in ("svag.png", "svag.svg", "svag.csv", "svag.json"):
        assert (out / name).stat().st_size > 0
    assert sorted(result["files"]) == sorted(str(out / n) for n in
                                             ("svag.png", "svag.svg", "svag.csv", "svag.json"))
    # the CLI prints the study's result
    config = parse_config(svag.SVAGConfig, tomllib.loads(text))
    direct = svag.run(config).to_json()
    for key in ("error_final", "signed_error_final", "order_in_l", "limit_final", "richardson"):
        assert direct[key] == result[key]


def test_without_out_the_fields_are_still_there(tmp_path, capsys):
    code, captured = _run(["svag", _write(tmp_path, LQ_GAME + SVAG.format(scheme="sml")),
                           "--json"], capsys)
    assert code == 0
    result = json.loads(captured.out)
    assert result["out"] is None and result["files"] is None
    code, captured = _run(["svag", _write(tmp_path, LQ_GAME + SVAG.format(scheme="sml"))],
                          capsys)
    assert code == 0 and "order in 1/l" in captured.out


# The example's study at the size tests/test_examples.py runs it: the compiled programs are shared.
TANH = (Path(__file__).resolve().parent.parent / "examples" / "svag_tanh.toml").read_text()
TANH = TANH.replace("paths = 100000", "paths = 200").replace("substeps = 8", "substeps = 2")
TANH = TANH.replace("ls = [1, 2, 4, 8]", "ls = [1, 2]")


def test_monte_carlo_contract(tmp_path, capsys):
    code, captured = _run(["svag", _write(tmp_path, TANH), "--json", "--no-progress"], capsys)
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert CONTRACT | {"error_final_ci", "order_in_l_ci"} <= set(result)
    assert result["limit_kind"] == "per-sample-sde" and result["covariance"] == "blockdiag"
    assert len(result["error_final_ci"]) == 2 and len(result["order_in_l_ci"]) == 2
    for e, (lo, hi) in zip(result["error_final"], result["error_final_ci"]):
        assert lo <= e <= hi
    # --paths and --seed override the config; the same seed gives the same numbers
    code, again = _run(["svag", _write(tmp_path, TANH), "--json", "--no-progress"], capsys)
    assert json.loads(again.out)["chain_final"] == result["chain_final"]
    code, other = _run(["svag", _write(tmp_path, TANH), "--json", "--no-progress",
                        "--seed", "2"], capsys)
    assert json.loads(other.out)["chain_final"] != result["chain_final"]


def test_alt_sde_drift_from_the_config(tmp_path, capsys):
    """``drift = "alt-sde"``: the chains and the per-sample limit are ALT-SDE's (b0 + η b1), so
    both differ from the drift-b0 study of the same config, and the JSON and summary say so.
    (The limit by Euler without Richardson: ALT-SDE's per-sample b1 is costly to compile.)"""
    code, plain = _run(["svag", _write(tmp_path, TANH), "--json", "--no-progress"], capsys)
    alt_sde = TANH.replace('method = "monte-carlo"', 'method = "monte-carlo"\ndrift = "alt-sde"'
                           '\nintegrator = "euler"\nrichardson = false')
    code, captured = _run(["svag", _write(tmp_path, alt_sde), "--json", "--no-progress"], capsys)
    assert code == 0, captured.err
    result, plain = json.loads(captured.out), json.loads(plain.out)
    assert result["drift"] == "alt-sde" and plain["drift"] == "b0"
    assert result["covariance"] == "blockdiag" and result["limit_kind"] == "per-sample-sde"
    assert result["config"]["svag"]["drift"] == "alt-sde"
    assert all(a != b for a, b in zip(result["chain_final"], plain["chain_final"]))
    assert result["limit_final"] != plain["limit_final"]
    code, captured = _run(["svag", _write(tmp_path, alt_sde), "--no-progress"], capsys)
    assert code == 0 and "ALT-SDE, drift b0 + eta b1" in captured.out


MLP = """
[game]
kind = "mlp-gan"
n_data = 64
n_latent = 64
hidden = 4
depth = 1
loss = "wgan"

[svag]
scheme = "sml"
eta = 0.05
batch_size = 8
horizon = 0.2
ls = [1, 2, 4]
method = "monte-carlo"
seeds = [0, 1, 2]
n_records = 2
eval_samples = 32
"""


def test_network_game_curves_and_verdict(tmp_path, capsys):
    out = tmp_path / "out"
    code, captured = _run(["svag", _write(tmp_path, MLP), "--json", "--no-progress", "--out",
                           str(out)], capsys)
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["limit_kind"] == "richardson" and result["covariance"] == "joint"
    curves = result["curves"]
    assert curves["t"] == pytest.approx([0.0, 0.1, 0.2])
    assert curves["quantities"] == ["loss_d", "loss_g", "theta_norm", "omega_norm"]
    for l in ("1", "2", "4"):
        per_seed = curves["per_l"][l]["theta_norm"]["per_seed"]
        assert len(per_seed) == 3 and all(len(row) == 3 for row in per_seed)
        # every chain starts at the game's initial point
        assert len({row[0] for row in per_seed}) == 1
    conv = result["convergence"]
    assert conv["last_pair"] == [2, 4] and isinstance(conv["converged"], bool)
    assert [p["ls"] for p in conv["successive"]] == [[1, 2], [2, 4]]
    assert set(conv["l1_gap"]) == set(curves["quantities"])
    # the extrapolated limit is the Richardson value of the two largest l
    f2, f4 = result["chain_final"][1], result["chain_final"][2]
    assert result["limit_final"] == pytest.approx(2 * f4 - f2)
    assert (out / "svag_curves.png").stat().st_size > 0


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.replace("horizon = 2.0", "horizon = 2.1"), "horizon / eta must be a positive integer"),
    (lambda t: t.replace("ls = [1, 2, 4, 8, 16]", "ls = [1, 2, 2]"), "ls must be distinct"),
    (lambda t: t.replace("ls = [1, 2, 4, 8, 16]", "ls = [0, 2]"), "svag.ls"),
    (lambda t: t.replace("ls = [1, 2, 4, 8, 16]", "ls = [4]"), "svag.ls"),
    (lambda t: t.replace('scheme = "sml"', 'scheme = "extragradient"'), "svag.scheme must be one of"),
    (lambda t: t.replace("eta = 0.2", "eta = -0.2"), "svag.eta"),
    (lambda t: t.replace("eta = 0.2", "etas = 0.2"), "unknown field"),
    (lambda t: t.replace('test_function = "sq-norm"', 'test_function = "cube"'), "svag.test_function"),
    (lambda t: '[game]\nkind = "tanh-wgan"\n[svag]' + t.split("[svag]")[1],
     "needs a linear-quadratic game"),
    (lambda t: t + 'drift = "b1"\n', "svag.drift must be one of b0 or alt-sde"),
    (lambda t: t + 'drift = "alt-sde"\n', 'it needs svag.scheme = "alt"'),
    (lambda t: t.replace('scheme = "sml"', 'scheme = "alt"') + 'drift = "alt-sde"\n',
     "no exact route"),
])
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, edit, needle):
    text = edit(LQ_GAME + SVAG.format(scheme="sml"))
    code, captured = _run(["svag", _write(tmp_path, text), "--json"], capsys)
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], captured.err


def test_missing_config_exits_2(tmp_path, capsys):
    code, captured = _run(["svag", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "not found" in captured.err


_SVAG_VALUES = ["0", "1", "-1", "0.3", "1e300", "nan", "inf", '"alt"', '"x"', "[1, 2]", "[0, 2]",
                "[1, 1]", "[2.5, 4]", "[]", "true", '"monte-carlo"', '"theta[5]"',
                '"alt-sde"', '"b0"']


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(["scheme", "eta", "batch_size", "horizon", "ls",
                                                 "method", "test_function", "n_disc", "drift",
                                                 "bogus"]),
                                st.sampled_from(_SVAG_VALUES + [None])), min_size=1, max_size=3))
def test_random_svag_settings_never_crash(tmp_path, capsys, edits):
    """Exit 0 or exit 2 with one line, never a traceback (Monte Carlo runs are kept out: a valid
    one would start real work)."""
    table = {"scheme": '"sml"', "eta": "0.2", "batch_size": "4", "horizon": "2.0",
             "ls": "[1, 2]", "method": '"exact"', "test_function": '"sq-norm"'}
    for key, value in edits:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    if table.get("method") == '"monte-carlo"':
        table["method"] = '"exact"'
    text = LQ_GAME + "\n[svag]\n" + "\n".join(f"{k} = {v}" for k, v in table.items())
    p = tmp_path / "c.toml"
    p.write_text(text)
    code = main(["svag", str(p), "--json"])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
    else:
        json.loads(captured.out)


def test_report_section_says_what_its_numbers_say(tmp_path, capsys):
    """``gandyn report`` with the opt-in svag section on the small MLP study above (its compiled
    programs are shared): the section's summary is the study's convergence, its verdicts name
    the same pairs and quantities, and the page embeds the three figures and the verdicts."""
    import html
    import re

    study = tmp_path / "svag.toml"
    study.write_text(MLP)
    cfg = tmp_path / "report.toml"
    cfg.write_text(f'[report]\nsections = ["svag"]\n\n[svag]\nconfig = "{study.name}"\n'
                   'parts = ["svag"]\n')
    out = tmp_path / "report"
    assert main(["report", str(cfg), "--json", "--no-progress", "--out", str(out)]) == 0
    (printed,) = json.loads(capsys.readouterr().out)["sections"]
    assert printed["status"] == "ok" and printed["name"] == "svag"
    report = json.loads((out / "report.json").read_text())
    (section,) = report["sections"]
    result = section["results"]["svag"]
    conv = result["convergence"]
    summary = printed["summary"]
    last = conv["successive"][-1]["distances"]
    assert summary["converged"] == conv["converged"] == all(v["within_ci"] for v in last.values())
    assert summary["last_pair"] == [2, 4] and summary["seeds"] == [0, 1, 2]
    assert summary["gap_resolved"] == [q for q, v in conv["l1_gap"].items() if not v["within_ci"]]
    for v in conv["l1_gap"].values():  # within_ci implies the distance fits in the half-width
        assert not v["within_ci"] or v["distance"] <= v["ci_halfwidth"] + 1e-9
    verdict, gap = section["verdicts"]
    assert verdict.startswith("The curves of l = 2 and l = 4 ")
    assert ("converged in l, so" in verdict) == conv["converged"]
    assert ("not converged in l" in verdict) == (not conv["converged"])
    assert gap.startswith("The SML training run (l = 1) against l = 4")
    if summary["gap_resolved"]:
        assert f"{len(summary['gap_resolved'])} of 4 quantities differ" in gap
        for q in summary["gap_resolved"]:
            assert q in gap
    else:
        assert "every quantity stays within its 95% interval" in gap
    page = html.unescape((out / "report.html").read_text())
    assert "SDE at network scale" in page and verdict in page and gap in page
    for name in ("svag_curves.png", "svag_distances.png", "svag.png"):
        assert f"svag/{name}" in page and (out / "svag" / name).stat().st_size > 0
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3
    assert section["commands"] == [f"gandyn svag {study} --no-progress --out {out / 'svag'} --json"]


def _network_result(scheme, drift, last_within, gap_within):
    """An SVAG result with two quantities, as the study writes it (for the verdicts alone)."""
    def dists(within):
        return {q: {"distance": 0.5 if not w else 0.01, "ci_halfwidth": 0.1, "within_ci": w}
                for q, w in zip(("loss_d", "theta_norm"), within)}

    return {"scheme": scheme, "drift": drift, "horizon": 1.0, "curves": {"seeds": [0, 1, 2]},
            "convergence": {"successive": [{"ls": [1, 4], "distances": dists([False, False])},
                                           {"ls": [4, 8], "distances": dists(last_within)}],
                            "last_pair": [4, 8], "converged": all(last_within),
                            "l1_gap": dists(gap_within)}}


@pytest.mark.parametrize("scheme,drift,who", [("alt", "b0", "alternation term"),
                                              ("sml", "b0", "SML has no alternation term"),
                                              ("alt", "alt-sde", "not the training run")])
def test_report_verdicts_follow_the_numbers(scheme, drift, who):
    from gandyn.report.sections import svag_verdicts

    conv, gap = svag_verdicts(_network_result(scheme, drift, [True, True], [True, False]))
    assert "agree within their 95% intervals over 3 seeds" in conv and "converged in l" in conv
    assert "1 of 2 quantities differ beyond" in gap
    assert "theta_norm (largest distance over t 0.5, largest 95% half-width 0.1)" in gap
    assert "loss_d" not in gap and who in gap
    conv, gap = svag_verdicts(_network_result(scheme, drift, [True, False], [True, True]))
    assert "differ beyond their 95% intervals over 3 seeds in theta_norm (largest" in conv
    assert "loss_d" not in conv and "not converged in l" in conv
    assert "every quantity stays within its 95% interval" in gap and "not resolved" in gap


def test_report_built_in_study_is_the_dcgan_example():
    """The section's built-in study: ``examples/svag_dcgan.toml`` at full size (seeds from the
    report's seed), and a valid, smaller DCGAN study under --quick."""
    from gandyn.report.sections import svag_study_config

    example = tomllib.loads((Path(__file__).resolve().parent.parent / "examples" /
                             "svag_dcgan.toml").read_text())
    full = parse_config(svag.SVAGConfig, svag_study_config(0, quick=False))
    assert full.model_dump() == parse_config(svag.SVAGConfig, example).model_dump()
    quick = parse_config(svag.SVAGConfig, svag_study_config(5, quick=True))
    assert quick.game.kind == "dcgan" and quick.svag.seeds == [5, 6, 7]
    assert quick.svag.ls == [1, 2, 4] and quick.svag.n_intervals == 10


SCALING = """
[game]
kind = "mlp-gan"
dataset = "ring"
n_data = 64
n_latent = 64
hidden = 4
depth = 1
loss = "non-saturating"

[scaling]
optimizers = ["sgd", "adam"]
kappas = [1.0, 2.0]
batch_size = 8
steps = 8
n_records = 2
seeds = [0, 1]
eval_samples = 20
nsr_pairs = 2
"""


def test_report_section_scaling_part_says_what_the_study_says(tmp_path, capsys):
    """The section's scaling part (a tiny `gandyn scaling-rule` file): its summary, table and
    verdicts are the study's per-κ verdicts; the figure is in the section's folder."""
    (tmp_path / "scaling.toml").write_text(SCALING)
    cfg = tmp_path / "report.toml"
    cfg.write_text('[report]\nsections = ["svag"]\n\n[svag]\nparts = ["scaling"]\n'
                   'scaling_config = "scaling.toml"\n')
    out = tmp_path / "report"
    assert main(["report", str(cfg), "--json", "--no-progress", "--out", str(out)]) == 0
    (printed,) = json.loads(capsys.readouterr().out)["sections"]
    assert printed["status"] == "ok"
    (section,) = json.loads((out / "report.json").read_text())["sections"]
    study = json.loads((out / "svag" / "scaling" / "scaling_rule.json").read_text())
    assert section["results"]["scaling-rule"]["results"] == study["results"]
    holds = {r["optimizer"]: [k["kappa"] for k in r["per_kappa"] if k["holds"]]
             for r in study["results"]}
    assert printed["summary"]["scaling_holds"] == holds and set(holds) == {"sgd", "adam"}
    assert printed["summary"]["scaling_kappas"] == [1.0, 2.0]
    (table,) = section["tables"]
    assert len(table["rows"]) == 4 and [r[0] for r in table["rows"]] == ["sgd"] * 2 + ["adam"] * 2
    for verdict, r in zip(section["verdicts"], study["results"]):
        assert verdict.startswith(f"{r['optimizer']} ({r['rule']} rule): ")
        assert ("every κ follow" in verdict) == all(k["holds"] for k in r["per_kappa"])
    assert section["headline"] == "Scaling rules: " + "; ".join(
        f"{o} holds at {len(k)} of 2 κ" for o, k in holds.items())
    assert section["figures"][0]["file"] == "svag/scaling/scaling_rule.png"
    assert (out / "svag" / "scaling" / "scaling_rule.png").stat().st_size > 0
    assert "scaling-rule" in section["commands"][0]


def test_built_in_scaling_study_is_the_example_and_the_quick_one_validates():
    from gandyn.report.sections import scaling_study_config
    from gandyn.studies.scaling_rule import ScalingRuleConfig

    example = tomllib.loads((Path(__file__).resolve().parent.parent / "examples" /
                             "scaling_rule_ring.toml").read_text())
    assert scaling_study_config(0, False) == example
    quick = parse_config(ScalingRuleConfig, scaling_study_config(3, True))
    assert quick.scaling.seeds == [3, 4, 5] and 1.0 in quick.scaling.kappas


@pytest.mark.parametrize("table,needle", [('parts = ["scaling", "scaling"]', "svag.parts"),
                                          ('parts = ["chains"]', "svag.parts"),
                                          ('scaling_config = "missing.toml"',
                                           "svag.scaling_config")])
def test_bad_svag_section_settings_exit_2(tmp_path, capsys, table, needle):
    cfg = tmp_path / "report.toml"
    cfg.write_text(f'[report]\nsections = ["svag"]\n\n[svag]\n{table}\n')
    assert main(["report", str(cfg), "--json"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
