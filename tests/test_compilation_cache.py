"""The command keeps compiled programs between runs: a second run of a command compiles nothing."""

import os
import subprocess
import sys

RUNNER = """
import collections, contextlib, io, sys, jax
counts = collections.Counter()
jax.monitoring.register_event_listener(lambda name, **kw: counts.update([name]))
from gandyn.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(code, counts["/jax/compilation_cache/cache_misses"], counts["/jax/compilation_cache/cache_hits"])
"""
COMMAND = ["kernel", "convergence", "--steps", "20", "--lams", "1", "--sigmas", "1", "--json"]


def _run(cache, *extra):
    env = {**os.environ, "GANDYN_COMPILATION_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", RUNNER, *extra, *COMMAND], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return [int(x) for x in out.stdout.split()]


def test_second_run_compiles_nothing(tmp_path):
    # The folder already holds an entry written without a size limit (no access-time file, as
    # an older gandyn leaves them): JAX's size-limited cache would fail every write beside it.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "jit_old_program-0123abcd-cache").write_bytes(b"an entry of an earlier version")
    code, misses, hits = _run(cache)
    assert code == 0 and misses > 0 and len(list(cache.glob("*-cache"))) > 1
    assert (cache / "jit_old_program-0123abcd-atime").is_file()
    code, misses, hits = _run(cache)
    assert code == 0 and misses == 0 and hits > 0


def test_the_cache_can_be_switched_off(tmp_path, monkeypatch):
    code, misses, hits = _run(tmp_path / "cache", "--no-compile-cache")
    assert code == 0 and hits == 0 and not (tmp_path / "cache").exists()
    from gandyn.cli import compilation_cache_dir

    monkeypatch.setenv("GANDYN_COMPILATION_CACHE", "off")
    assert compilation_cache_dir() is None
    monkeypatch.delenv("GANDYN_COMPILATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == str(tmp_path / "gandyn" / "jax")
