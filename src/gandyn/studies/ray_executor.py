"""Run a study's tasks on a Ray cluster (the optional ``[ray]`` extra; Ray core tasks).

:class:`RayExecutor` sends every :class:`~gandyn.studies.executor.Task` to
Ray as one remote call of its module-level function with its arguments
(plain data), so a task rebuilds what it needs on the worker (see
:func:`gandyn.studies.executor.cached_setup`). Nothing else in gandyn
imports Ray; this module imports it when an executor is built.

* **Where.** ``address=None`` starts a local Ray for the study (``num_cpus``
  CPUs, default this machine's) and stops it on :meth:`close`;
  ``address="auto"`` or ``"HOST:PORT"`` connects to a running cluster (``ray
  start --head``, ``ray up``, a SLURM allocation). If Ray is already
  initialised in this process (a notebook, a test session), it is used as it
  is and left running.
* **Same numbers.** A task's random keys come from the study's seed and the
  task's identity, and its float64 setting is the driver's at :meth:`map`
  (``jax.enable_x64``), so a worker computes exactly what this process
  would. The study merges the results in the tasks' order, never in the
  order they finish.
* **Packing.** Tasks start in the order the study lists them (the largest
  first), one CPU each by default (``cpus_per_task``). A worker pins itself
  to that many CPUs that no other gandyn worker on its machine holds
  (:func:`pin_worker`), so JAX in the worker uses the task's CPUs and
  workers do not fight over cores. Inside a task, JAX still shards runs
  over the worker's own devices. :attr:`RayExecutor.last_run` holds the
  measured utilisation of the last map. Workers share the driver's
  persistent compilation cache on this machine, so a program compiled once
  (by the driver or a worker) is loaded by the others.
* **Faults.** A task whose worker dies (killed, out of memory, a lost node)
  is run again by Ray up to ``max_retries`` times; a task that raises is not
  retried, and the error is raised here. Interrupting :meth:`map` cancels
  the tasks still pending.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Callable, Optional, Sequence

from ..errors import UsageError, one_line
from .executor import Executor, Task

__all__ = ["RayExecutor", "worker_env", "pin_worker", "parse_address"]


def parse_address(address: str) -> Optional[tuple[str, int]]:
    """``None`` for ``"auto"``, else ``(host, port)`` from ``HOST:PORT`` (a ``ValueError`` if not)."""
    if address == "auto":
        return None
    text = address.split("://", 1)[-1]  # ray://host:port is accepted as host:port
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address must be auto or HOST:PORT, got {address!r}")
    return host, int(port)


def _import_ray():
    try:
        import ray
    except ModuleNotFoundError:
        raise UsageError("--executor ray needs Ray: pip install \"gandyn[ray]\"") from None
    return ray


def _execute(fn: Callable, args: tuple, x64: bool, cpus: int):
    """Run one task on a worker: ``fn(*args)`` under the driver's float64 setting, timed.

    The first task of a worker process pins it to ``cpus`` CPUs (:func:`pin_worker`).
    Returns the value and ``(start, end, pid, cpu_seconds)``: wall-clock times and the
    worker process's CPU time spent on the task (all threads).
    """
    if _PINNED is None:
        pin_worker(cpus)
    import jax

    started, cpu = time.time(), time.process_time()
    with jax.enable_x64(x64):
        value = fn(*args)
    return value, (started, time.time(), os.getpid(), time.process_time() - cpu)


_PINNED: Optional[list] = None  # this worker process's CPU claims (open lock files), once pinned


def pin_worker(cpus: int) -> Optional[set]:
    """Pin this process to ``cpus`` CPUs that no other gandyn worker on this machine holds.

    JAX sizes its CPU thread pools by the CPUs a process may run on, and its
    threads inherit the mask, so a pinned worker computes on exactly its
    task's CPUs: ``n`` workers on ``n`` cores never oversubscribe them. CPUs
    are claimed with one lock file each (``fcntl.flock`` in
    ``$TMPDIR/gandyn-cpus-UID``), held for the life of the process and
    released by the system when it ends, however it ends. When fewer than
    ``cpus`` CPUs are free (more workers than cores, say), the process is left
    as it is. Returns the CPUs it is pinned to, or ``None``.
    """
    global _PINNED
    _PINNED = []
    if not hasattr(os, "sched_setaffinity"):  # not Linux: JAX picks its own threads
        return None
    import fcntl
    import tempfile
    from pathlib import Path

    allowed = sorted(os.sched_getaffinity(0))
    if cpus >= len(allowed):
        return None
    folder = Path(tempfile.gettempdir()) / f"gandyn-cpus-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    claimed = []
    for cpu in allowed:
        lock = open(folder / f"cpu{cpu}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another worker's
            lock.close()
            continue
        claimed.append((cpu, lock))
        if len(claimed) == cpus:
            break
    if len(claimed) < cpus:
        for _, lock in claimed:
            lock.close()
        return None
    _PINNED = [lock for _, lock in claimed]
    chosen = {cpu for cpu, _ in claimed}
    os.sched_setaffinity(0, chosen)
    return chosen


def worker_env(cpus_per_task: int, *, cache_dir: Optional[str] = None,
               extra: Optional[dict] = None) -> dict[str, str]:
    """Environment variables of the worker processes that run gandyn tasks.

    OpenMP gets ``cpus_per_task`` threads (JAX's own threads follow the CPUs
    a worker is pinned to, :func:`pin_worker`); GPU memory is not
    preallocated (several workers may share a GPU); the driver's
    ``XLA_FLAGS`` (forced host devices, say) are kept, with those of
    ``extra`` (any further variables) added. With ``cache_dir`` the workers
    share a persistent compilation cache, the driver's: with the same XLA
    flags (they are part of its keys) a program compiled by the driver or by
    one worker is loaded by the others.
    """
    threads = int(cpus_per_task)
    flags = (os.environ.get("XLA_FLAGS", "") + " " + (extra or {}).get("XLA_FLAGS", "")).split()
    env = {"OMP_NUM_THREADS": str(threads), "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           **{k: v for k, v in (extra or {}).items() if k != "XLA_FLAGS"}}
    if flags:
        env["XLA_FLAGS"] = " ".join(dict.fromkeys(flags))
    if cache_dir:
        import jax

        env.update(JAX_COMPILATION_CACHE_DIR=str(cache_dir),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        # The driver's size limit, and with it JAX's lock around every read and write of the
        # shared folder (without a limit JAX reads and writes unlocked).
        max_size = int(jax.config.jax_compilation_cache_max_size)
        if max_size > 0:
            env["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(max_size)
    return env


def _check_reachable(address: str) -> None:
    """A clear error, fast, when nothing listens at ``HOST:PORT`` (Ray itself waits long)."""
    host_port = parse_address(address)
    if host_port is None:
        return
    try:
        with socket.create_connection(host_port, timeout=5):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UsageError(f"cannot reach a Ray cluster at {address}: {reason}") from None


class RayExecutor(Executor):
    """Tasks as Ray remote calls (see the module docstring)."""

    kind = "ray"

    def __init__(self, address: Optional[str] = None, num_cpus: Optional[int] = None, *,
                 cpus_per_task: int = 1, gpus_per_task: float = 0.0, max_retries: int = 3,
                 max_workers: Optional[int] = None, env: Optional[dict] = None):
        if num_cpus is not None and num_cpus < 1:
            raise UsageError(f"--ray-num-cpus must be at least 1, got {num_cpus}")
        if cpus_per_task < 1:
            raise UsageError(f"cpus_per_task must be at least 1, got {cpus_per_task}")
        if address is not None and num_cpus is not None:
            raise UsageError("--ray-num-cpus sizes a local Ray; a cluster at --ray-address has "
                             "its own CPUs")
        ray = _import_ray()
        self.address = address
        self.cpus_per_task = int(cpus_per_task)
        self.started = False
        if address is not None:
            _check_reachable(address)
        if not ray.is_initialized():
            self._connect(ray, address, num_cpus)
            self.started = True
        if max_workers is not None and max_workers < 1:
            raise UsageError(f"max_workers must be at least 1, got {max_workers}")
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        #: Tasks that run at once: the cluster's CPUs over the CPUs each task takes (at most
        #: ``max_workers``, which also holds the other tasks back in this process).
        self.workers = max(1, int(cpus // self.cpus_per_task))
        self.max_workers = max_workers
        if max_workers is not None:
            self.workers = min(self.workers, int(max_workers))
        local = address in (None, "auto") or self.started
        cache_dir = _compilation_cache_dir() if local else None
        self._remote = ray.remote(_execute).options(
            num_cpus=self.cpus_per_task, num_gpus=gpus_per_task, max_retries=int(max_retries),
            retry_exceptions=False,
            runtime_env={"env_vars": worker_env(self.cpus_per_task, cache_dir=cache_dir,
                                                extra=env)})
        self.max_retries = int(max_retries)
        #: Measurements of the last :meth:`map`: tasks, workers, seconds busy and spanned, utilisation.
        self.last_run: Optional[dict] = None

    @staticmethod
    def _connect(ray, address, num_cpus) -> None:
        options = dict(logging_level="WARNING", log_to_driver=True)
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **options)
            return
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise UsageError(f"cannot reach a Ray cluster at {address}: {one_line(str(err))}") \
                from None

    def to_json(self) -> dict:
        return {"kind": "ray", "workers": self.workers}

    def map(self, tasks: Sequence[Task],
            on_done: Optional[Callable[[Task, Any], None]] = None) -> list:
        ray = _import_ray()
        import jax

        x64 = bool(jax.config.jax_enable_x64)
        queue = list(range(len(tasks)))[::-1]  # pop() takes the next in the list's order
        limit = len(tasks) if self.max_workers is None else self.workers
        index: dict = {}
        pending: list = []
        results: list = [None] * len(tasks)
        timings = []
        started = time.time()

        def submit():
            while queue and len(pending) < limit:
                i = queue.pop()
                ref = self._remote.remote(tasks[i].fn, tasks[i].args, x64, self.cpus_per_task)
                index[ref] = i
                pending.append(ref)

        try:
            submit()
            while pending:
                ready, rest = ray.wait(pending, num_returns=1)
                if rest:  # everything else already finished, in one call
                    more, rest = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready += more
                pending[:] = rest
                for ref in ready:
                    i = index.pop(ref)
                    value, timing = self._get(ray, ref, tasks[i])
                    results[i] = value
                    timings.append(timing)
                    if on_done is not None:
                        on_done(tasks[i], value)
                submit()
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        self.last_run = _utilisation(timings, self.workers, started, time.time())
        return results

    def _get(self, ray, ref, task: Task):
        """The task's result; its own exception if it raised; a clear error if its workers died."""
        from ray import exceptions

        try:
            return ray.get(ref)
        except exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise RuntimeError(f"task {task.id} failed on a Ray worker: {one_line(str(err))}") \
                from None
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError,
                exceptions.ObjectLostError) as err:
            raise RuntimeError(f"task {task.id}: its Ray worker died {self.max_retries + 1} times "
                               f"({type(err).__name__})") from None

    def close(self) -> None:
        """Stop the local Ray this executor started (a cluster it connected to keeps running)."""
        if self.started:
            ray = _import_ray()
            ray.shutdown()
            self.started = False


def _compilation_cache_dir() -> Optional[str]:
    """The driver's persistent compilation cache folder, if it uses one."""
    import jax

    return jax.config.jax_compilation_cache_dir or None


def _utilisation(timings, workers: int, started: float, finished: float) -> dict:
    """How busy the workers were during one map.

    ``utilisation``: seconds inside tasks over ``workers ×`` the map's wall time
    (1: no worker waited for work); ``cpu_share``: the tasks' CPU seconds over
    the same (below the utilisation when the machine's cores are shared with
    other work, or when tasks wait on something else than computing).
    """
    busy = sum(end - start for start, end, _, _ in timings)
    cpu = sum(c for *_, c in timings)
    span = max(finished - started, 1e-9)
    return {"tasks": len(timings), "workers": workers, "busy_s": busy, "cpu_s": cpu,
            "span_s": span, "utilisation": busy / (workers * span),
            "cpu_share": cpu / (workers * span),
            "processes": len({pid for _, _, pid, _ in timings})}
