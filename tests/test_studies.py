"""The study layer: the CLI prints ``studies.X.run(config).to_json()``, configs speak the user's words.

Each study is run twice on the same configuration, once through ``gandyn X --json`` and once
through its ``run`` function in this process; the two JSON objects must be equal (run times
aside). Configuration errors from every study and the report go through one formatter.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gandyn.cli import main
from gandyn.errors import ConfigError, InputError
from gandyn.io import jsonable
from gandyn.studies import invariant, kernel, train, weak_order
from gandyn.studies.config import load_toml, parse_config
from gandyn.studies.executor import Executor, LocalExecutor, task_seed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMINGS = {"elapsed_s"}

TINY_TRAIN = {"train": {"optimizers": ["sgd", "fdr"], "seeds": [0], "steps": 20, "n_evals": 1,
                        "hidden": 8, "n_data": 64, "n_latent": 64, "eval_samples": 50,
                        "batch_size": 8}}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _cli_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _same(cli, result):
    assert _strip(cli) == _strip(json.loads(json.dumps(jsonable(result.to_json()))))


def test_weak_order_cli_prints_the_study_result(capsys):
    path = EXAMPLES / "linear_quadratic.toml"
    config = parse_config(weak_order.WeakOrderConfig, load_toml(path))
    _same(_cli_json(capsys, ["weak-order", str(path), "--no-progress"]), weak_order.run(config))


def test_invariant_cli_prints_the_study_result(capsys):
    path = EXAMPLES / "invariant_lq.toml"
    config = parse_config(invariant.InvariantConfig, load_toml(path))
    _same(_cli_json(capsys, ["invariant", str(path)]), invariant.run(config))


def test_train_cli_prints_the_study_result(capsys, tmp_path):
    path = tmp_path / "train.toml"
    path.write_text("[train]\n" + "\n".join(f"{k} = {json.dumps(v)}"
                                            for k, v in TINY_TRAIN["train"].items()))
    config = parse_config(train.TrainConfig, TINY_TRAIN)
    _same(_cli_json(capsys, ["train", str(path), "--no-progress"]), train.run(config))


@pytest.mark.parametrize("argv,study,config", [
    (["spectrum", "--sigma", "0.7", "--n-gen", "2"], kernel.spectrum,
     kernel.SpectrumConfig(sigma=0.7, n_gen=2)),
    (["simulate", "--steps", "50"], kernel.simulate, kernel.SimulateConfig(steps=50)),
    (["phase", "--sigma", "0.1:1:5", "--lam", "0.1:1:4"], kernel.phase,
     kernel.PhaseConfig(sigma_grid=kernel.GridRange(lo=0.1, hi=1.0, count=5),
                        lam_grid=kernel.GridRange(lo=0.1, hi=1.0, count=4))),
    (["convergence", "--steps", "30", "--lams", "1,0.1"], kernel.convergence,
     kernel.ConvergenceConfig(steps=30, lams=[1.0, 0.1])),
])
def test_kernel_cli_prints_the_study_result(capsys, argv, study, config):
    _same(_cli_json(capsys, ["kernel", *argv]), study(config))


def test_out_and_files_are_always_present(capsys, tmp_path):
    path = str(EXAMPLES / "linear_quadratic.toml")
    plain = _cli_json(capsys, ["weak-order", path])
    assert plain["out"] is None and plain["files"] is None
    written = _cli_json(capsys, ["weak-order", path, "--out", str(tmp_path)])
    assert written["out"] == str(tmp_path) and all(Path(f).is_file() for f in written["files"])


def test_results_have_tidy_frames_and_readable_reprs():
    pd = pytest.importorskip("pandas")
    config = parse_config(weak_order.WeakOrderConfig, load_toml(EXAMPLES / "linear_quadratic.toml"))
    result = weak_order.run(config)
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3 * 3  # comparisons x etas
    assert {"scheme", "sde", "eta", "error_final", "order_final"} <= set(frame.columns)
    assert set(frame["eta"]) == {0.2, 0.1, 0.05}
    assert "np.float64" not in repr(result) and "order (final)" in str(result)
    spectrum = kernel.spectrum(kernel.SpectrumConfig())
    assert set(spectrum.to_frame()["mode"]) >= {"a", "c+", "c-"}


class _Reversed(Executor):
    """Runs the tasks last first: numbers must not depend on the order."""

    kind = "reversed"

    def map(self, tasks, on_done=None):
        return LocalExecutor().map(tasks[::-1], on_done)[::-1]


def test_monte_carlo_numbers_do_not_depend_on_the_executions_order():
    raw = load_toml(EXAMPLES / "linear_quadratic.toml")
    raw["study"].update(method="monte-carlo", paths=64, etas=[0.2, 0.1], horizon=0.4, substeps=2,
                        richardson=False, comparisons=[{"scheme": "alt", "sde": "alt-sde"}])
    config = parse_config(weak_order.WeakOrderConfig, raw)
    a = weak_order.run(config).to_json()
    b = weak_order.run(config, executor=_Reversed()).to_json()
    assert (a.pop("executor"), b.pop("executor")) == ({"kind": "local"}, {"kind": "reversed"})
    assert _strip(a) == _strip(b)


def test_task_seeds_come_from_the_seed_and_the_task():
    assert task_seed(0, "a") == task_seed(0, "a")
    assert len({task_seed(s, t) for s in range(3) for t in "abc"}) == 9


# --------------------------------------------------------------------------- configuration errors


@pytest.mark.parametrize("table,needle", [
    ({"kind": "tanh_wgan"}, "game.kind must be one of linear-quadratic, tanh-wgan, dirac, "
                            "mlp-gan, dcgan, python; got 'tanh_wgan'"),
    ({}, "game.kind is missing"),
    ({"kind": "tanh-wgan", "n_latnt": 3}, "game.n_latnt: unknown field (unknown key 'n_latnt' "
                                          "in [game]; did you mean 'n_latent'?)"),
])
def test_game_errors_in_the_users_words(table, needle):
    raw = load_toml(EXAMPLES / "tanh_wgan.toml")
    raw["game"] = table
    with pytest.raises(ConfigError) as err:
        parse_config(weak_order.WeakOrderConfig, raw)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert "tag" not in str(err.value) and "discriminator" not in str(err.value)


def test_unknown_field_is_named_even_when_a_required_one_is_missing():
    raw = load_toml(EXAMPLES / "linear_quadratic.toml")
    del raw["study"]["batch_size"]
    raw["study"]["bogus"] = 1
    with pytest.raises(ConfigError, match=r"study\.bogus: unknown field"):
        parse_config(weak_order.WeakOrderConfig, raw)


def test_strings_are_not_numbers():
    raw = load_toml(EXAMPLES / "linear_quadratic.toml")
    raw["study"]["batch_size"] = "4"
    with pytest.raises(ConfigError, match=r"study\.batch_size: must be a valid integer; got '4'"):
        parse_config(weak_order.WeakOrderConfig, raw)


def test_kernel_arguments_are_named_as_options(capsys):
    assert main(["kernel", "spectrum", "--eta-d", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--eta-d: must be greater than 0" in err and len(err.splitlines()) == 1


def test_input_errors_are_value_errors():
    assert issubclass(ConfigError, InputError) and issubclass(InputError, ValueError)


def test_report_sections_accept_the_command_spelling(tmp_path):
    from gandyn.report.config import load_report_config

    path = tmp_path / "report.toml"
    path.write_text('[report]\nsections = ["weak-order", "kernel"]\n[weak-order]\npaths = 100\n')
    config, _ = load_report_config(str(path))
    assert config.report.sections == ["weak_order", "kernel"] and config.weak_order.paths == 100


# --------------------------------------------------------------------------- games written in Python


def test_python_game_from_a_config(monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    raw = load_toml(EXAMPLES / "python_game.toml")
    raw["study"]["paths"] = 100
    config = parse_config(weak_order.WeakOrderConfig, raw)
    game = config.game.build()
    sys.path.insert(0, str(EXAMPLES))
    try:
        import python_game
    finally:
        sys.path.remove(str(EXAMPLES))
    reference = python_game.make_game(coupling=2.0, n_data=256)
    np.testing.assert_array_equal(np.asarray(game.u0), np.asarray(reference.u0))
    theta, omega = np.array([0.3]), np.array([-0.2])
    np.testing.assert_allclose(np.concatenate(game.gradients(theta, omega)),
                               np.concatenate(reference.gradients(theta, omega)))


@pytest.mark.parametrize("entry,options,needle", [
    ("no_such_module_here:make", {}, "cannot import 'no_such_module_here'"),
    ("json:no_such_function", {}, "has no callable 'no_such_function'"),
    ("json:dumps", {"obj": 1}, "returned str, expected a gandyn.games.Game"),
    ("examples.python_game:make_game", {"bogus": 1}, "game.options"),
])
def test_python_game_errors(monkeypatch, entry, options, needle):
    monkeypatch.chdir(EXAMPLES.parent)
    raw = load_toml(EXAMPLES / "python_game.toml")
    raw["game"] = {"kind": "python", "entry": entry, "options": options}
    config = parse_config(weak_order.WeakOrderConfig, raw)
    with pytest.raises(ConfigError, match=needle):
        config.game.build()


def test_python_game_entry_must_name_a_function():
    raw = load_toml(EXAMPLES / "python_game.toml")
    raw["game"]["entry"] = "just_a_module"
    with pytest.raises(ConfigError, match="game.entry: entry must be 'module:function'"):
        parse_config(weak_order.WeakOrderConfig, raw)


# --------------------------------------------------------------------------- no global state


def test_studies_leave_float64_and_the_matplotlib_backend_alone(tmp_path):
    """An exact study runs in float64 and plots, yet JAX's flag and the backend are as before."""
    code = f"""
import jax, matplotlib
matplotlib.use("template")
from gandyn.studies import invariant, kernel, weak_order
from gandyn.studies.config import load_toml, parse_config
r = invariant.run(parse_config(invariant.InvariantConfig, load_toml({str(EXAMPLES / 'invariant_lq.toml')!r})))
k = kernel.simulate(kernel.SimulateConfig(steps=20))
w = weak_order.run(parse_config(weak_order.WeakOrderConfig, load_toml({str(EXAMPLES / 'linear_quadratic.toml')!r})))
weak_order.write_outputs(w, {str(tmp_path)!r})
print(jax.config.jax_enable_x64, matplotlib.get_backend(), r.fdr1["lhs"] == r.fdr1["rhs_discrete"] or abs(r.fdr1["lhs"] - r.fdr1["rhs_discrete"]) < 1e-9)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "template", "True"]
    assert (tmp_path / "weak_order.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv,needle", [
    (["kernel", "convergence", "--lams", "1e300"], "lam must lie in"),
    (["kernel", "simulate", "--steps", "100000000"], "--steps: must be less than or equal to"),
    (["kernel", "phase", "--simulate", "10000000"], "--simulate"),
    (["kernel", "spectrum", "--n-gen", "100000"], "--n-gen"),
])
def test_numeric_arguments_outside_their_meaningful_range_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.splitlines()) == 1


def test_runs_too_long_to_finish_are_bad_input():
    raw = load_toml(EXAMPLES / "linear_quadratic.toml")
    raw["study"].update(horizon=1e6, etas=[1e-3, 1e-4])
    with pytest.raises(ConfigError, match="at most 1e\\+07 steps per run"):
        parse_config(weak_order.WeakOrderConfig, raw)
    with pytest.raises(ConfigError, match="train.hidden"):
        parse_config(train.TrainConfig, {"train": {"hidden": 10**6}})


def test_the_drift_level_is_a_stationary_setting():
    raw = load_toml(EXAMPLES / "invariant_tanh.toml")
    raw["stationary"].update(paths=40, burn_in=20, steps=60, n_batches=6, drift_alpha=0.01)
    result = invariant.run(parse_config(invariant.InvariantConfig, raw))
    assert result.diagnostics["drift_alpha"] == 0.01
    assert set(result.diagnostics) >= {"converged", "failed_checks", "drifting"}
    raw["stationary"]["drift_alpha"] = 1.5
    with pytest.raises(ConfigError, match="stationary.drift_alpha"):
        parse_config(invariant.InvariantConfig, raw)
