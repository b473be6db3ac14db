"""Tasks, executors and the ``--executor`` options, without a cluster.

Every study's tasks are plain data (a module-level function and picklable arguments),
so any executor can ship them; the task split depends on the configuration only; the
options and the ``[executor]`` table are checked with one-line errors (exit 2); and a
study run without ``--executor`` never imports Ray.
"""

import pickle
import subprocess
import sys

import jax
import numpy as np
import pytest

from gandyn.cli import main
from gandyn.studies import invariant, kernel, train, weak_order
from gandyn.studies.config import parse_config
from gandyn.studies.executor import (Executor, LocalExecutor, cached_setup, map_with_checkpoints,
                                     split_runs, Task)
from gandyn.studies.executor_config import ExecutorConfig
from small_studies import WEAK_ORDER


class _Stop(Exception):
    pass


class _Capture(Executor):
    """Records the tasks a study hands over, then stops the study."""

    kind = "capture"

    def map(self, tasks, on_done=None):
        self.tasks = list(tasks)
        raise _Stop


def _tasks(study, config) -> list:
    capture = _Capture()
    with pytest.raises(_Stop):
        study(config, executor=capture)
    return capture.tasks


WEAK = {"game": {"kind": "tanh-wgan", "n_latent": 8, "n_data": 8},
        "study": {"batch_size": 8, "horizon": 1.0, "etas": [0.5, 0.25], "method": "monte-carlo",
                  "paths": 1000, "chunk_size": 300, "seed": 1,
                  "comparisons": [{"scheme": "alt", "sde": "alt-sde"},
                                  {"scheme": "sml", "sde": "sml-sde"}]}}


def test_every_study_hands_over_tasks_that_are_plain_data():
    studies = [
        (weak_order.run, parse_config(weak_order.WeakOrderConfig, WEAK), 2 * 4 * 4),
        (invariant.run, parse_config(invariant.InvariantConfig, {
            "game": {"kind": "tanh-wgan", "weight_decay": 0.5},
            "stationary": {"scheme": "sml", "eta": 0.1, "batch_size": 8,
                           "method": "monte-carlo", "paths": 600}}), 3),
        (kernel.convergence, kernel.ConvergenceConfig(steps=20), 3),
        (kernel.phase, kernel.PhaseConfig(sigma_grid={"lo": 0.1, "hi": 1.0, "count": 30},
                                          lam_grid={"lo": 0.1, "hi": 1.0, "count": 10},
                                          simulate=20, paths=2), 2 * 2),
        (train.run, parse_config(train.TrainConfig, {"train": {"optimizers": ["sgd", "adam"],
                                                               "steps": 10}}), 2),
    ]
    for study, config, count in studies:
        tasks = _tasks(study, config)
        assert len(tasks) == count, study
        assert len({t.id for t in tasks}) == count  # stable, distinct identities
        for task in tasks:
            # By reference: the function is found by name where the task runs; the arguments
            # are values (no arrays, no closures over this process).
            copy = pickle.loads(pickle.dumps(task))
            assert copy.fn is task.fn and copy.args == task.args
            assert "<locals>" not in task.fn.__qualname__
        # The same configuration gives the same tasks.
        assert [t.id for t in _tasks(study, config)] == [t.id for t in tasks]


def test_weak_order_blocks_cover_the_runs_once_and_merge_to_the_whole_batch():
    config = parse_config(weak_order.WeakOrderConfig, WEAK)
    tasks = _tasks(weak_order.run, config)
    by_piece = {}
    for t in tasks:
        by_piece.setdefault(t.args[1], []).append(range(t.args[2], t.args[3]))
    assert all(sorted(blocks, key=lambda r: r.start) == split_runs(1000, 300)
               for blocks in by_piece.values())
    # A block simulates the whole batch's runs (the same keys): merged in order, the blocks
    # are the batch simulated in one call, to the float64 rounding of the merge (the chunks'
    # pairwise sums group the runs differently).
    small = parse_config(weak_order.WeakOrderConfig, WEAK_ORDER)
    for piece in weak_order._setup(small.model_dump(mode="json")).values():
        whole = piece.compute(None)
        parts = [piece.compute(None, r) for r in split_runs(400, 100)]
        merged = parts[0].merge(parts[1]).merge(parts[2]).merge(parts[3])
        assert merged.n_runs == whole.n_runs == 400
        np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13, atol=1e-16)
        np.testing.assert_allclose(merged.variance, whole.variance, rtol=1e-11, atol=1e-18)
        assert np.min(whole.variance[1:, 0]) > 0  # the runs spread out: not trivially equal
        # Another block of runs is other runs.
        assert not np.array_equal(parts[0].mean, parts[1].mean)


def test_split_runs_is_balanced_and_exact():
    for n, block in [(1, 1), (7, 3), (40_000, 8192), (8192, 8192), (10, 100)]:
        blocks = split_runs(n, block)
        assert [i for b in blocks for i in b] == list(range(n))
        assert max(len(b) for b in blocks) <= block
        assert max(len(b) for b in blocks) - min(len(b) for b in blocks) <= 1
        assert len(blocks) == -(-n // block)
    with pytest.raises(ValueError):
        split_runs(0, 3)


def test_cached_setup_builds_once_per_configuration_and_float64_setting():
    calls = []

    @cached_setup
    def setup(config):
        calls.append(config)
        return jax.numpy.zeros(1).dtype

    assert setup({"a": 1, "b": [2]}) == setup({"b": [2], "a": 1})  # key order does not matter
    assert len(calls) == 1
    with jax.enable_x64(False):
        assert setup({"a": 1, "b": [2]}) == jax.numpy.float32
    assert len(calls) == 2


def test_checkpointed_map_loads_saved_tasks_and_saves_the_rest(tmp_path):
    from gandyn.checkpoint import CheckpointStore

    tasks = [Task(f"t{i}", np.full, (2, float(i))) for i in range(4)]
    store = CheckpointStore(tmp_path, {"study": "test"})
    store.save_arrays("t1", {"x": np.array([-1.0, -1.0])})  # an earlier run's result
    seen = []
    out = map_with_checkpoints(LocalExecutor(), tasks, store, encode=lambda r: {"x": r},
                               decode=lambda a: a["x"], on_done=lambda t, r: seen.append(t.id))
    assert [list(r) for r in out] == [[0, 0], [-1, -1], [2, 2], [3, 3]]
    assert store.loaded == ["t1"] and sorted(seen) == ["t0", "t1", "t2", "t3"]
    assert sorted(p.stem for p in tmp_path.glob("*.npz")) == ["t0", "t1", "t2", "t3"]


@pytest.mark.parametrize("argv,needle", [
    (["--executor", "ray", "--ray-address", "127.0.0.1:1"],
     "cannot reach a Ray cluster at 127.0.0.1:1: Connection refused"),
    (["--executor", "ray", "--ray-num-cpus", "0"], "--ray-num-cpus: expected a positive integer"),
    (["--ray-address", "auto"], "--ray-address needs --executor ray"),
    (["--ray-num-cpus", "2"], "--ray-num-cpus needs --executor ray"),
    (["--executor", "ray", "--ray-address", "nohost"], "--ray-address must be auto or HOST:PORT"),
    (["--executor", "ray", "--ray-address", "auto", "--ray-num-cpus", "2"],
     "--ray-num-cpus sizes a local Ray"),
    (["--executor", "dask"], "--executor: invalid choice: 'dask'"),
])
def test_bad_executor_options_exit_2_with_one_line(capsys, argv, needle):
    assert main(["kernel", "convergence", "--steps", "20", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


@pytest.mark.parametrize("table,needle", [
    ('kind = "ray"\nnum_cpus = 0', "executor.num_cpus: must be greater than or equal to 1"),
    ('kind = "local"\naddress = "auto"', "address needs kind = \"ray\""),
    ('kind = "ray"\naddress = "h:1"\nnum_cpus = 2', "num_cpus sizes a local Ray"),
    ('kind = "ray"\nworkers = 2', "executor.workers: unknown field"),
    ('kind = "spark"', "executor.kind must be one of local or ray"),
])
def test_bad_executor_tables_exit_2_with_one_line(tmp_path, capsys, table, needle):
    path = tmp_path / "study.toml"
    path.write_text('[train]\nsteps = 10\n[executor]\n' + table + "\n")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


def test_the_executor_table_is_not_part_of_the_numbers():
    a = parse_config(weak_order.WeakOrderConfig, WEAK)
    b = parse_config(weak_order.WeakOrderConfig, {**WEAK, "executor": {"kind": "ray"}})
    assert b.executor == ExecutorConfig(kind="ray")
    assert a.model_dump() == b.model_dump()  # the fingerprint of checkpoints, the JSON's config
    assert ExecutorConfig(kind="ray", num_cpus=3).argv() == ["--executor", "ray",
                                                             "--ray-num-cpus", "3"]


def test_a_study_without_an_executor_never_imports_ray():
    code = ("import sys; from gandyn.cli import main; "
            "rc = main(['kernel', 'convergence', '--steps', '12', '--lams', '1', '--sigmas', '1',"
            " '--json']); print(rc, 'ray' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert '"executor": {"kind": "local"}' in lines[0]
    assert lines[-1] == "0 False"


def test_ray_workers_pin_themselves_to_distinct_free_cpus(tmp_path):
    """Each worker process claims CPUs no other holds; a dead worker's CPU is free again."""
    import os
    import signal

    code = ("import sys; from gandyn.studies.ray_executor import pin_worker; "
            "print(sorted(pin_worker(1) or []), flush=True); sys.stdin.read()")
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # a lock folder of its own

    def start():
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        return proc, eval(proc.stdout.readline())

    n = len(os.sched_getaffinity(0))
    procs = [start() for _ in range(3)]
    try:
        pinned = [cpus for _, cpus in procs if cpus]
        assert len(pinned) == (min(3, n) if n > 1 else 0)
        assert all(len(c) == 1 for c in pinned) and len({c[0] for c in pinned}) == len(pinned)
        if n == 2:  # both CPUs taken: the third runs unpinned; a killed worker frees its CPU
            assert procs[2][1] == []
            procs[0][0].send_signal(signal.SIGKILL)
            procs[0][0].wait()
            late = start()
            procs.append(late)
            assert late[1] == procs[0][1]
    finally:
        for proc, _ in procs:
            proc.kill()
            proc.wait()
