import json

import pytest

from gandyn.cli import main

LQ = """
[game]
kind = "linear-quadratic"
A = [[1.0, 0.0], [0.0, 1.0]]
C = [[1.0, 0.0], [0.0, 1.0]]
D = [[1.0, 0.0], [0.0, 1.0]]
sigma_theta = [[0.1, 0.0], [0.0, 0.1]]
sigma_omega = [[0.1, 0.0], [0.0, 0.1]]
sigma_theta_omega = [[0.0, 0.0], [0.0, 0.0]]
theta0 = [1.0, 0.0]
omega0 = [0.0, 1.0]

[study]
batch_size = 4
horizon = 2.0
etas = [0.2, 0.1, 0.05]
method = "exact"
test_function = "sq-norm"
comparisons = [
  { scheme = "alt", sde = "alt-sde",  covariance = "blockdiag" },
  { scheme = "sml", sde = "sml-sde",  covariance = "blockdiag" },
  { scheme = "sml", sde = "sml2-sde", covariance = "joint" },
]
"""

FIELDS = {"scheme", "sde", "covariance", "etas", "error_final", "error_max", "order_final",
          "order_max"}


def _write(tmp_path, text, name="study.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_exact_contract(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["weak-order", _write(tmp_path, LQ), "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # exactly one JSON object
    assert len(result["comparisons"]) == 3
    for c in result["comparisons"]:
        assert FIELDS <= set(c)
        assert len(c["error_final"]) == 3
    assert result["comparisons"][0]["order_max"] == pytest.approx(2.0, abs=0.3)
    for name in ("weak_order.png", "weak_order.svg", "weak_order.csv", "weak_order.json"):
        assert (out / name).stat().st_size > 0
    assert not list(out.glob(".*.tmp"))


def test_monte_carlo_contract(tmp_path, capsys):
    text = LQ.replace('method = "exact"', 'method = "monte-carlo"\npaths = 1000\nseed = 1')
    text = text.replace("etas = [0.2, 0.1, 0.05]", "etas = [0.4, 0.2]")
    # The contract of a Monte Carlo comparison (a scheme against an SDE): one is enough, and
    # every SDE runs by Monte Carlo in tests/test_weak_error.py.
    text = text.replace('  { scheme = "sml", sde = "sml-sde",  covariance = "blockdiag" },\n', "")
    text = text.replace('  { scheme = "sml", sde = "sml2-sde", covariance = "joint" },\n', "")
    assert main(["weak-order", _write(tmp_path, text), "--json", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    for c in result["comparisons"]:
        assert FIELDS | {"error_final_ci", "order_final_ci"} <= set(c)
        assert all(lo <= e <= hi for e, (lo, hi) in zip(c["error_final"], c["error_final_ci"]))


@pytest.mark.parametrize("edit,needle", [
    (("[study]", "[study]\nbogus = 1"), "study.bogus: unknown field"),
    (("A = [[1.0, 0.0], [0.0, 1.0]]", "A = [[1.0, 2.0], [0.0, 1.0]]"), "A must be symmetric"),
    (("C = [[1.0, 0.0], [0.0, 1.0]]", "C = [[1.0, 0.0]]"), "C must have shape"),
    (("etas = [0.2, 0.1, 0.05]", "etas = [0.2, 0.0]"), "eta must be positive"),
    (("batch_size = 4", "batch_size = -4"), "study.batch_size"),
    (("batch_size = 4", 'batch_size = "four"'), "study.batch_size"),
    (('kind = "linear-quadratic"', 'kind = "nope"'), "game"),
    (('sde = "alt-sde"', 'sde = "alt-ode"'), "study.comparisons.0.sde"),
    (('test_function = "sq-norm"', 'test_function = "theta[7]"'), "index 7 out of range"),
])
def test_bad_configs_exit_2_with_one_line(tmp_path, capsys, edit, needle):
    text = LQ.replace(*edit)
    assert text != LQ
    assert main(["weak-order", _write(tmp_path, text), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


def test_bad_paths_exit_2(tmp_path, capsys):
    assert main(["weak-order", str(tmp_path / "missing.toml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["weak-order", str(tmp_path)]) == 2
    assert "directory" in capsys.readouterr().err
    bad = _write(tmp_path, "this is = = not toml")
    assert main(["weak-order", bad]) == 2
    assert "invalid TOML" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["weak-order", _write(tmp_path, LQ), "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["weak-order", "--paths", "0"]) == 2
    assert main(["no-such-command"]) == 2


def test_exact_needs_linear_quadratic(tmp_path, capsys):
    text = '[game]\nkind = "tanh-wgan"\n[study]\nbatch_size = 4\nhorizon = 1.0\netas = [0.2, 0.1]\n' \
           'comparisons = [{scheme = "alt", sde = "alt-sde"}]\n'
    assert main(["weak-order", _write(tmp_path, text)]) == 2
    assert "linear-quadratic" in capsys.readouterr().err
