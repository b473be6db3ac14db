import os
import tempfile

# XLA's LLVM back end at optimisation level 1 for the suite (read when JAX starts, so before
# `import jax`; commands the tests start inherit it). The suite compiles hundreds of programs
# that each run for milliseconds: level 1 compiles them about 20% faster. The operations are
# the same and floating point stays strict (no fast-math); the generated code may differ from
# the default level's in the last bit of a float64 result (measured: at most 1 ulp on the
# SDE steps), which no test's tolerance is near, and every test that compares results bitwise
# runs both sides under this one setting. Users' commands keep XLA's default level.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_backend_optimization_level=1").strip()

import jax
import numpy as np
import pytest
from hypothesis import settings

# Property-based tests: derandomized in CI (CI=true), so a run there is reproducible and cannot
# be flaky; locally the random profile keeps exploring. Every failure either profile ever found
# stays in the tests as an explicit @example.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("true", "1") else "dev")

# One compilation cache for the whole session, not the user's: both pytest-xdist workers and
# every command a test starts (they inherit the variable) load what any of them compiled. The
# command sets a size limit, with which JAX locks the folder around each read and write, so two
# processes never read a half-written entry; the tests' own process does the same below.
os.environ.setdefault("GANDYN_COMPILATION_CACHE",
                      os.path.join(tempfile.mkdtemp(prefix="gandyn-jax-cache-"), "jax"))
jax.config.update("jax_compilation_cache_dir", os.environ["GANDYN_COMPILATION_CACHE"])
jax.config.update("jax_compilation_cache_max_size", 2 * 2**30)
# Only programs worth loading: most of the suite's compilations take milliseconds.
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

# Checks against exact values run in float64.
jax.config.update("jax_enable_x64", True)

from gandyn.games.linear_quadratic import make_spec  # noqa: E402


@pytest.fixture
def generic_lq_spec():
    """A linear-quadratic game with no symmetry that could hide an error term."""
    A = np.array([[1.0, 0.2], [0.2, 0.5]])
    C = np.array([[1.0, 0.3], [-0.2, 0.8]])
    D = np.array([[0.5, 0.0], [0.0, 0.3]])
    s_theta = np.array([[0.3, 0.1], [0.1, 0.2]])
    s_omega = np.array([[0.25, -0.05], [-0.05, 0.15]])
    s_cross = np.array([[0.1, 0.05], [0.0, -0.08]])
    return make_spec(A, C, D, s_theta, s_omega, [1.0, -0.5], [0.5, 1.0], s_cross)


@pytest.fixture(scope="session")
def quick_report(tmp_path_factory):
    """``gandyn report --quick --json`` run once in a fresh process, for the whole session.

    Returns ``(completed process, output folder)``; the tests only read them. Built once even
    under pytest-xdist: the first worker to ask builds it under a file lock in the folder the
    workers share, and the other reads what it left (exit status, stdout, stderr).
    """
    import json
    import subprocess
    import sys

    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "quick-report" / "quick"
    record = shared / "quick-report" / "process.json"
    with FileLock(str(shared / "quick-report.lock")):
        if not record.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            runner = "import sys; from gandyn.cli import main; sys.exit(main())"
            proc = subprocess.run([sys.executable, "-c", runner, "report", "--quick", "--out",
                                   str(out), "--json"], capture_output=True, text=True, timeout=900)
            record.write_text(json.dumps({"args": proc.args, "returncode": proc.returncode,
                                          "stdout": proc.stdout, "stderr": proc.stderr}))
    saved = json.loads(record.read_text())
    return subprocess.CompletedProcess(**saved), out


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster with 2 CPUs, started once per test session (tests/test_ray.py).

    Its workers share this session's compilation cache (the folder the command uses), so a
    program one worker compiled is loaded, not compiled, by the next pool of workers.
    """
    import ray  # in the test extra: the Ray tests run wherever the suite does
    jax.config.update("jax_compilation_cache_dir", os.environ["GANDYN_COMPILATION_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # Workers at this process's priority (Ray's default niceness, 15, would let anything else
    # on the machine slow these tests down), and idle ones kept while another job (a test's
    # second driver) has its own workers: each new worker costs a JAX start-up.
    settings = {"RAY_worker_niceness": "0", "RAY_num_workers_soft_limit": "8"}
    os.environ.update(settings)
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    finally:
        for name in settings:
            del os.environ[name]
    yield ray
    ray.shutdown()
