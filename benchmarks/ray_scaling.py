"""Ray executor: task overhead, and the default weak-order study on 1 and 2 workers.

Three measurements, each layout in its own subprocess with its own local Ray
(``ray.init(num_cpus=k)``), so every layout starts cold (new worker processes,
nothing compiled, an empty compilation cache). Ray's workers run at the driver's
priority here (``RAY_worker_niceness=0``; Ray's default, 15, makes them yield to
any other work on the machine, which would favour the in-process layout):

* **Task overhead.** ``--noop-tasks`` tasks that do nothing
  (``split_runs(1, 1)``) on 2 workers: tasks per second and, from one task
  at a time, the round trip of one task (submit, run, fetch).
* **The default weak-order study** (``gandyn weak-order`` with no CONFIG:
  40 000 paths, η = 0.4, 0.2, 0.1, 60 tasks) in process and on Ray with 1 and
  2 workers: wall time of a first run (``cold``: worker start-up and JAX
  compilation included, with an empty persistent compilation cache that the
  workers share, as the command's) and of a second run on the same workers
  (``warm``: every program compiled once already), the executor's measured
  utilisation (task seconds over ``workers ×`` wall seconds), tasks per
  second, and the speed-up and scaling efficiency ``T(1) / (2 · T(2))``.
  The numbers of every layout must equal the in-process ones bitwise (exit 1
  otherwise).

Output: a Markdown table on stdout, then ONE JSON line (the last line of stdout,
``{"benchmark": "ray_scaling", ...}``); progress on stderr.

    python benchmarks/ray_scaling.py                       # the default study (~10 min on 2 cores)
    python benchmarks/ray_scaling.py --paths 4000          # a smaller study
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CHILD = r"""
import json, sys, tempfile, time
import jax
kind, workers, paths, noop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
# As the command does: a persistent compilation cache (here a fresh, empty one), which the
# workers of this machine share: a program one worker compiled, another loads.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="ray-scaling-jax-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
started = time.perf_counter()
executor = None
if kind == "ray":
    import os
    # Ray runs its workers at niceness 15 by default: on a machine shared with other work they
    # would yield to it while the in-process layout does not. Same priority for every layout.
    os.environ["RAY_worker_niceness"] = "0"
    import ray
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING")
    from gandyn.studies.ray_executor import RayExecutor
    executor = RayExecutor()
init_s = time.perf_counter() - started
from gandyn.studies import weak_order
from gandyn.studies.executor import Task, split_runs
import os, resource
out = {"kind": kind, "workers": workers, "init_s": init_s, "load_before": os.getloadavg()}
if noop:
    tasks = [Task(f"noop-{i}", split_runs, (1, 1)) for i in range(noop)]
    executor.map(tasks[:4])  # start the workers
    t = time.perf_counter(); executor.map(tasks); span = time.perf_counter() - t
    t = time.perf_counter()
    for task in tasks[:50]:
        executor.map([task])
    out.update(noop_tasks=noop, noop_tasks_per_s=noop / span,
               round_trip_s=(time.perf_counter() - t) / 50)
else:
    config = weak_order.default_config(paths=paths)
    for run in ("cold", "warm"):
        t, cpu = time.perf_counter(), time.process_time()
        result = weak_order.run(config, executor=executor).to_json()
        out[f"{run}_s"] = time.perf_counter() - t
        if executor is not None:
            out[f"{run}_run"] = executor.last_run
        else:  # in process: this process's CPU seconds over the wall time
            out[f"{run}_run"] = {"cpu_s": time.process_time() - cpu,
                                 "cpu_share": (time.process_time() - cpu) / out[f"{run}_s"]}
        out[f"load_after_{run}"] = os.getloadavg()
    out["tasks"] = weak_order.n_pieces(config)
    out["numbers"] = [[c["signed_error_final"], c["error_max"], c["order_final_ci"]]
                      for c in result["comparisons"]]
print(json.dumps(out))
"""


def _child(kind: str, workers: int, paths: int, noop: int = 0) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    sys.stderr.write(f"ray_scaling: {kind} with {workers} worker(s)"
                     f"{' (no-op tasks)' if noop else ''} ...\n")
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(workers), str(paths), str(noop)],
                          capture_output=True, text=True, env=env, timeout=7200)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"child {kind}/{workers} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=40_000,
                        help="paths of the weak-order study (default: 40000, the built-in study)")
    parser.add_argument("--noop-tasks", type=int, default=500,
                        help="no-op tasks for the overhead measurement (default: 500)")
    args = parser.parse_args()

    overhead = _child("ray", 2, args.paths, noop=args.noop_tasks)
    local = _child("local", 1, args.paths)
    one = _child("ray", 1, args.paths)
    two = _child("ray", 2, args.paths)
    same = one["numbers"] == two["numbers"] == local["numbers"]

    pct = lambda u: "—" if u is None else f"{100 * u:.0f}%"
    print(f"Default weak-order study, {args.paths} paths, {local['tasks']} tasks "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)\n")
    print("| layout | run | wall s | tasks/s | utilisation | task CPU s | CPU share | "
          "load avg (1 min) after |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in (local, one, two):
        name = "in process" if r["kind"] == "local" else f"Ray, {r['workers']} worker(s)"
        for run in ("cold", "warm"):
            m = r[f"{run}_run"]
            print(f"| {name} | {run} | {r[f'{run}_s']:.1f} | {r['tasks'] / r[f'{run}_s']:.2f} | "
                  f"{pct(m.get('utilisation'))} | {m['cpu_s']:.1f} | {pct(m['cpu_share'])} | "
                  f"{r[f'load_after_{run}'][0]:.1f} |")
    speedup = {k: one[f"{k}_s"] / two[f"{k}_s"] for k in ("cold", "warm")}
    print(f"\nspeed-up 1 → 2 workers: {speedup['cold']:.2f}× cold, {speedup['warm']:.2f}× warm "
          f"(efficiency {speedup['cold'] / 2:.0%} cold, {speedup['warm'] / 2:.0%} warm)")
    print(f"task overhead: {overhead['noop_tasks_per_s']:.0f} no-op tasks/s on 2 workers, "
          f"round trip of one task {1000 * overhead['round_trip_s']:.1f} ms; "
          f"local Ray start-up {overhead['init_s']:.1f} s")
    print(f"numbers identical in every layout: {same}")
    print(json.dumps({"benchmark": "ray_scaling", "paths": args.paths, "cpus": os.cpu_count(),
                      "overhead": overhead, "local": local, "ray_1": one, "ray_2": two,
                      "speedup": speedup, "identical": same, "time": time.time()}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
