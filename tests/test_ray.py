"""The studies on a local Ray cluster: the same numbers in every layout, and faults survived.

The reference for every check is the same study run in process (``LocalExecutor``). One
local Ray cluster with 2 CPUs serves the whole session (``ray_cluster`` in conftest.py).
The study is tiny (400 Monte Carlo paths in 16 tasks): what is checked is where the tasks
run and how their results come back, not the maths. That every other study's tasks are
plain data, which is all Ray adds to them, is checked in tests/test_executor.py.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gandyn.cli import main
from gandyn.studies import weak_order
from gandyn.studies.config import parse_config
from gandyn.studies.executor import Executor, Task
from small_studies import WEAK_ORDER

pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture(scope="module", autouse=True)
def _functions_by_value(ray_cluster):
    """This module is not importable on the workers: its functions travel by value."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])

# The numbers a weak-order study reports (everything but timings and the executor).
NUMBERS = ("signed_error_final", "error_final", "error_max", "error_final_ci", "order_final",
           "order_final_ci", "errors_over_time", "integrator_error", "n_diverged")


def _numbers(result: dict) -> list:
    return [{k: c[k] for k in NUMBERS} for c in result["comparisons"]]


@pytest.fixture(scope="module")
def weak_config():
    return parse_config(weak_order.WeakOrderConfig, WEAK_ORDER)


@pytest.fixture(scope="module")
def in_process(weak_config):
    """The reference: the study in this process."""
    return weak_order.run(weak_config).to_json()


def _ray(**options):
    from gandyn.studies.ray_executor import RayExecutor

    return RayExecutor(**options)


def test_weak_order_numbers_are_the_same_in_every_layout(weak_config, in_process):
    assert weak_order.n_pieces(weak_config) == 16
    assert in_process["executor"] == {"kind": "local"}
    two = _ray()
    on_two = weak_order.run(weak_config, executor=two).to_json()
    assert on_two["executor"] == {"kind": "ray", "workers": 2}
    assert two.last_run["tasks"] == 16 and two.last_run["processes"] == 2
    one = _ray(max_workers=1)
    on_one = weak_order.run(weak_config, executor=one).to_json()
    assert on_one["executor"] == {"kind": "ray", "workers": 1}
    # Bitwise: the same blocks of runs with the same keys, merged in the same order.
    assert _numbers(on_two) == _numbers(on_one) == _numbers(in_process)
    assert in_process["comparisons"][0]["error_final"][0] > 0  # not trivially equal


def test_two_forced_host_devices_in_each_worker_give_the_same_numbers(weak_config, in_process):
    """Inside a task JAX still shards the runs over the worker's devices."""
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    sharded = _ray(env=flags)
    devices = sharded.map([Task("devices", _local_device_count)])
    assert devices == [2]
    result = weak_order.run(weak_config, executor=sharded).to_json()
    # The sums over runs are split between the devices: equal to float64 rounding.
    for a, b in zip(_numbers(result), _numbers(in_process)):
        np.testing.assert_allclose(a["signed_error_final"], b["signed_error_final"], rtol=1e-12,
                                   atol=1e-15)
        for curve_a, curve_b in zip(a["errors_over_time"], b["errors_over_time"]):
            np.testing.assert_allclose(curve_a, curve_b, rtol=1e-10, atol=1e-14)
        assert a["n_diverged"] == b["n_diverged"]


def _local_device_count():
    import jax

    return jax.local_device_count()


# --------------------------------------------------------------------------- faults


def _die_once(marker: str, fn, args):
    """Compute the task, then SIGKILL this worker before it returns, once (the marker says)."""
    result = fn(*args)
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return result


class _KillOneWorker(Executor):
    """A Ray executor whose ``victim``-th task kills its worker in the middle, the first time."""

    kind = "ray"

    def __init__(self, inner, marker, victim):
        self.inner, self.marker, self.victim = inner, str(marker), victim

    def map(self, tasks, on_done=None):
        wrapped = [Task(t.id, _die_once, (self.marker, t.fn, t.args), t.label)
                   if i == self.victim else t for i, t in enumerate(tasks)]
        originals = {t.id: t for t in tasks}
        done = None if on_done is None else (lambda t, r: on_done(originals[t.id], r))
        return self.inner.map(wrapped, done)


def test_a_worker_killed_in_a_task_is_retried_and_the_numbers_stand(weak_config, in_process,
                                                                   tmp_path):
    marker = tmp_path / "killed"
    executor = _KillOneWorker(_ray(), marker, victim=5)
    result = weak_order.run(weak_config, executor=executor).to_json()
    killed = int(marker.read_text())
    with pytest.raises(ProcessLookupError):  # that worker really died
        os.kill(killed, 0)
    assert _numbers(result) == _numbers(in_process)


_KILLED_DRIVER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from gandyn.studies import weak_order
    from gandyn.studies.config import read_config
    from gandyn.studies.ray_executor import RayExecutor

    config_path, out, address = sys.argv[1:4]
    config = read_config(weak_order.WeakOrderConfig, config_path)
    store = weak_order.checkpoint_store(Path(out), config)
    finished = []

    def progress(label, done, total):  # called after each task is checkpointed
        finished.append(label)
        if len(finished) == 5:
            os.kill(os.getpid(), signal.SIGKILL)  # the driver dies, its tasks still running

    weak_order.run(config, executor=RayExecutor(address=address), progress=progress,
                   checkpoint=store)
""")


def test_a_killed_driver_resumes_on_ray_from_its_checkpoints(ray_cluster, in_process, tmp_path,
                                                              capsys):
    """The driver is SIGKILLed after 5 of 16 tasks; the same command then resumes on Ray."""
    from gandyn.report.toml_text import dumps_toml

    config = tmp_path / "study.toml"
    config.write_text(dumps_toml(WEAK_ORDER))
    out = tmp_path / "out"
    address = ray_cluster.get_runtime_context().gcs_address
    # float64 as in this session (where the reference ran); its workers load the programs this
    # session's workers compiled from the shared compilation cache.
    env = {**os.environ, "JAX_ENABLE_X64": "1",
           "JAX_COMPILATION_CACHE_DIR": os.environ["GANDYN_COMPILATION_CACHE"],
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    killed = subprocess.run([sys.executable, "-c", _KILLED_DRIVER, str(config), str(out), address],
                            capture_output=True, text=True, timeout=600, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert len(list((out / ".checkpoints" / "weak-order").glob("*.npz"))) == 5
    assert not (out / "weak_order.json").exists()
    # Started again with the command line (here, in this process: a driver of the same cluster).
    assert main(["weak-order", str(config), "--json", "--no-progress", "--out", str(out),
                 "--executor", "ray", "--ray-address", address]) == 0
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    assert result["resumed_pieces"] == 5
    assert f"resumed 5 of 16 pieces from {out}/.checkpoints/weak-order" in printed.err
    assert result["executor"] == {"kind": "ray", "workers": 2}
    assert _numbers(result) == _numbers(in_process)
