"""Property-based: random configs and arguments never produce a traceback.

Every outcome must be exit 0, or exit 2 with exactly one line on stderr.
"""

import json
import tomllib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gandyn.cli import main

scalars = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=5), st.booleans())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def _assert_answered(code, captured, json_on_success=False):
    """Exit 0, or exit 2 with exactly one line on stderr and no traceback."""
    assert code in (0, 2), captured.err
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1, captured.err
        assert "Traceback" not in captured.err
    elif json_on_success:
        json.loads(captured.out)


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


GAME_KEYS = ["kind", "A", "C", "D", "sigma_theta", "sigma_omega", "theta0", "omega0", "n_latent",
             "loss", "dim", "reg", "weight_decay", "bogus"]
STUDY_KEYS = ["batch_size", "horizon", "etas", "method", "paths", "test_function", "comparisons",
              "substeps", "seed", "bogus"]
STAT_KEYS = ["scheme", "eta", "batch_size", "method", "paths", "burn_in", "steps", "bogus"]

BASE = {
    "game": {"kind": '"linear-quadratic"', "A": "[[1.0]]", "C": "[[1.0]]", "D": "[[1.0]]",
             "sigma_theta": "[[0.1]]", "sigma_omega": "[[0.1]]", "theta0": "[1.0]",
             "omega0": "[0.5]"},
    "study": {"batch_size": "2", "horizon": "0.4", "etas": "[0.2, 0.1]", "method": '"exact"',
              "comparisons": '[{scheme = "alt", sde = "alt-sde"}]'},
    "stationary": {"scheme": '"sml"', "eta": "0.1", "batch_size": "2", "method": '"exact"'},
}


@st.composite
def configs(draw):
    tables = {name: dict(table) for name, table in BASE.items()}
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(["game", "study", "stationary"]))
        keys = {"game": GAME_KEYS, "study": STUDY_KEYS, "stationary": STAT_KEYS}[table]
        key = draw(st.sampled_from(keys))
        if draw(st.booleans()):
            tables[table][key] = _toml_value(draw(values))
        else:
            tables[table].pop(key, None)
    text = "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {v}" for k, v in t.items())
                     for name, t in tables.items())
    return text


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=configs(), command=st.sampled_from(["weak-order", "invariant"]))
def test_random_configs_never_crash(tmp_path, capsys, text, command):
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        pass  # invalid TOML must also be answered with exit 2
    p = tmp_path / "c.toml"
    p.write_text(text)
    code = main([command, str(p), "--json", "--no-progress"] if command == "weak-order"
                 else [command, str(p), "--json"])
    captured = capsys.readouterr()
    _assert_answered(code, captured)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.sampled_from(["weak-order", "invariant", "--json", "--out", "--paths",
                                      "--seed", "-1", "0", "x", "/nonexistent", "--help-me", ""]),
                     max_size=5))
def test_random_arguments_never_crash(capsys, args):
    # A trailing bad option keeps a valid prefix from starting the (minutes-long) default study.
    code = main(args + ["--paths", "-3"])
    captured = capsys.readouterr()
    assert code == 2, (args, captured.err)
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 or (not args and lines[0].startswith("usage")), captured.err


_NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.integers(-3, 10**6).map(str), st.sampled_from(["", "x", "1e-300", "1e300"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(st.sampled_from(["--sigma", "--lam", "--eta-d", "--eta-g", "--p",
                                                  "--p-gen", "--n-gen", "--dim"]), _NUMBERS),
                       max_size=6),
       convention=st.sampled_from(["theorem", "paper-figure", "other"]))
@example(values=[("--sigma", "1.3407807929942597e+154")], convention="theorem")  # σ² overflows
def test_random_kernel_spectrum_arguments_never_crash(capsys, values, convention):
    args = ["kernel", "spectrum", "--json", "--convention", convention]
    for flag, value in values:
        args += [flag, value]
    if "--n-gen" in args or "--dim" in args:  # keep the dense parts small
        args += ["--n-gen", "2", "--dim", "2"]
    code = main(args)
    captured = capsys.readouterr()
    _assert_answered(code, captured, json_on_success=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sigma=st.text(alphabet="0123456789.:-eax", max_size=12),
       lam=st.text(alphabet="0123456789.:-eax", max_size=12))
def test_random_phase_ranges_never_crash(capsys, sigma, lam):
    code = main(["kernel", "phase", "--json", "--sigma", sigma, "--lam", lam])
    captured = capsys.readouterr()
    _assert_answered(code, captured)


TRAIN_KEYS = ["dataset", "loss", "optimizers", "seeds", "steps", "n_evals", "batch_size", "eta",
              "fdr_epsilon", "fdr_min_samples", "weight_decay", "hidden", "depth", "latent_dim",
              "n_data", "n_latent", "eval_samples", "data_seed", "bogus"]
# A tiny valid study: a drawn value keeps every run to a fraction of a second (integers drawn are
# at most 5), so a config that validates is trained, not just parsed.
TRAIN_BASE = {"optimizers": '["sgd", "fdr"]', "seeds": "[0]", "steps": "4", "n_evals": "1",
              "hidden": "4", "n_data": "16", "n_latent": "16", "eval_samples": "10",
              "batch_size": "4"}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(TRAIN_KEYS), st.one_of(st.none(), values)),
                        min_size=1, max_size=3))
def test_random_train_configs_never_crash(tmp_path, capsys, changes):
    table = dict(TRAIN_BASE)
    for key, value in changes:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = _toml_value(value)
    for key in ("n_data", "n_latent", "eval_samples", "hidden", "steps"):  # removed sizes would
        # fall back to the (large) defaults: keep them small
        table.setdefault(key, TRAIN_BASE[key])
    p = tmp_path / "train.toml"
    p.write_text("[train]\n" + "\n".join(f"{k} = {v}" for k, v in table.items()))
    code = main(["train", str(p), "--json", "--no-progress"])
    captured = capsys.readouterr()
    _assert_answered(code, captured, json_on_success=True)


REPORT_TABLES = {
    "report": ["sections", "seed", "quick", "title", "bogus"],
    "weak_order": ["config", "paths", "seed", "bogus"],
    "invariant": ["config", "bogus"],
    "kernel": ["sigma", "lam", "eta_d", "eta_g", "p", "p_gen", "n_gen", "dim", "parts",
               "conventions", "phase_grid", "convergence_steps", "bogus"],
    "train": ["config", "bogus"],
    "bogus": ["x"],
}
_SECTION_WORDS = st.sampled_from(["weak_order", "invariant", "kernel", "train", "spectrum",
                                  "phase", "theorem", "paper-figure", "c.toml", ".", "", "x"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(st.tuples(st.sampled_from(sorted(REPORT_TABLES)), st.data()),
                        max_size=4),
       data=st.data())
def test_random_report_configs_never_crash(tmp_path, capsys, entries, data):
    """Random report configs: a one-line answer, never a traceback, and no study is started.

    ``--out`` names an existing file, so a config that validates is answered with exit 2 for
    ``--out`` (checked after the config) instead of running the report.
    """
    tables: dict[str, dict[str, str]] = {}
    for table, d in entries:
        key = d.draw(st.sampled_from(REPORT_TABLES[table]))
        value = d.draw(st.one_of(values, st.lists(_SECTION_WORDS, max_size=3), _SECTION_WORDS))
        tables.setdefault(table, {})[key] = _toml_value(value)
    text = "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {v}" for k, v in t.items())
                     for name, t in tables.items())
    (tmp_path / "c.toml").write_text("[game]\n")  # valid TOML a section config may point at
    config = tmp_path / "report.toml"
    config.write_text(text)
    blocker = tmp_path / "out-is-a-file"
    blocker.write_text("")
    code = main(["report", str(config), "--json", "--no-progress", "--out", str(blocker)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "", captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.sampled_from(["--quick", "--json", "--out", "--no-progress", "--no-resume",
                                      "/nonexistent/c.toml", ".", "x", "-1", "--bogus", ""]),
                     max_size=5))
def test_random_report_arguments_never_crash(capsys, args):
    # A trailing flag and a missing CONFIG keep a valid prefix from starting the (minutes-long)
    # report; the flag makes a dangling --out fail rather than take the CONFIG as its folder.
    code = main(["report", *args, "--no-progress", "/nonexistent/report.toml"])
    captured = capsys.readouterr()
    assert code == 2, (args, captured.err)
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
