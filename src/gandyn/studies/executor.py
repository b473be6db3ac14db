"""Independent units of work and the executors that run them.

A study splits its work into :class:`Task` objects (a batch of Monte Carlo
runs, a block of grid rows, an optimiser's seeds), each with a stable
identifier. The identifier, not the position in the list or the time a task
runs, is what its random keys derive from (:func:`task_seed`), so every
executor and every order of execution gives the same numbers. An executor
takes the list and returns the results in the same order; the study then
merges them in that fixed order. Executors start the tasks in the list's
order, so a study lists them as they pack best: the largest first, and tasks
of different compiled programs next to each other (parallel workers then
compile different programs, not the same one twice).

A task is *data*: a module-level function and its arguments (plain values:
a configuration as a dict, indices, ranges), never a closure over JAX
objects. In process that costs nothing; on a cluster
(:class:`gandyn.studies.ray_executor.RayExecutor`) it is what lets the task
travel to another machine, where the function rebuilds the game from the
configuration (once per worker, see :func:`cached_setup`) and computes.

:class:`LocalExecutor` (the default) runs the tasks in this process, one
after another, in the order given.
:func:`gandyn.studies.executor_config.make_executor` builds the executor the
``[executor]`` table or ``--executor`` asks for.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

__all__ = ["Task", "Executor", "LocalExecutor", "task_seed", "default_executor",
           "map_with_checkpoints", "cached_setup", "config_key", "split_runs"]


@dataclass(frozen=True)
class Task:
    """One independent unit of work: ``fn(*args)`` computes it; ``id`` names it for good.

    ``fn`` is a module-level function and ``args`` plain data, so the task
    can be pickled and run on another machine. ``label`` is what a progress
    bar shows.
    """

    id: str
    fn: Callable[..., Any]
    args: tuple = ()
    label: str = ""

    def run(self) -> Any:
        """Compute the task here."""
        return self.fn(*self.args)


def task_seed(seed: int, task_id: str) -> int:
    """A 32-bit seed from ``(seed, task_id)``: the same for the same pair, in any layout."""
    digest = hashlib.sha256(f"{int(seed)}/{task_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def split_runs(n_runs: int, block: int) -> list[range]:
    """``n_runs`` runs as consecutive ranges of at most ``block`` runs, as equal as possible.

    The fewest blocks of at most ``block`` runs; their sizes differ by at most
    one, so a study's blocks share one or two compiled shapes. The split
    depends only on its arguments (a study's configuration), never on the
    executor: every layout runs the same blocks and merges them in order.
    """
    if n_runs < 1 or block < 1:
        raise ValueError(f"need n_runs >= 1 and block >= 1, got {n_runs}, {block}")
    n_blocks = -(-n_runs // block)
    base, extra = divmod(n_runs, n_blocks)
    out, start = [], 0
    for i in range(n_blocks):
        size = base + (i < extra)
        out.append(range(start, start + size))
        start += size
    return out


def config_key(config: dict) -> str:
    """A canonical text of a JSON-able configuration (the key of :func:`cached_setup`)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def cached_setup(build: Callable[[dict], Any]) -> Callable[[dict], Any]:
    """Memoise ``build(config)`` per process on the configuration's canonical text.

    A task function calls its study's setup (the game, the steps, the test
    function) through this: in process the driver's first task builds it and
    every later task reuses it (and with it JAX's compiled programs); on a
    cluster each worker builds it once.
    """
    @functools.lru_cache(maxsize=4)
    def from_key(key: str, x64: bool):
        return build(json.loads(key))

    @functools.wraps(build)
    def setup(config: dict):
        import jax

        # Arrays built with and without float64 differ: the setting is part of the key.
        return from_key(config_key(config), bool(jax.config.jax_enable_x64))

    setup.cache_clear = from_key.cache_clear  # type: ignore[attr-defined]
    return setup


class Executor(abc.ABC):
    """Runs a list of tasks and returns their results in the list's order.

    Executors are context managers: leaving the ``with`` block releases what
    they started (a local Ray cluster, say).
    """

    kind: str

    @abc.abstractmethod
    def map(self, tasks: Sequence[Task],
            on_done: Optional[Callable[[Task, Any], None]] = None) -> list:
        """Results of ``tasks`` in order; ``on_done(task, result)`` after each one finishes.

        ``on_done`` runs in this process (it saves checkpoints and moves
        progress bars), in the order the tasks finish.
        """

    def to_json(self) -> dict:
        """The ``executor`` field of a study's JSON."""
        return {"kind": self.kind}

    def close(self) -> None:
        """Release what this executor started (nothing, unless a subclass says otherwise)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class LocalExecutor(Executor):
    """Every task in this process, one after another, in the order given."""

    kind = "local"

    def map(self, tasks, on_done=None):
        results = []
        for task in tasks:
            result = task.run()
            if on_done is not None:
                on_done(task, result)
            results.append(result)
        return results


def default_executor(executor: Optional[Executor]) -> Executor:
    return LocalExecutor() if executor is None else executor


def map_with_checkpoints(executor: Executor, tasks: Sequence[Task], store=None, *,
                         encode: Callable[[Any], dict] = lambda r: r,
                         decode: Callable[[dict], Any] = lambda a: a,
                         on_done: Optional[Callable[[Task, Any], None]] = None) -> list:
    """``executor.map(tasks)``, resuming from and saving to a checkpoint store.

    With a :class:`gandyn.checkpoint.CheckpointStore`, a task whose arrays are
    saved under its id is loaded, not run; every other task is saved (here,
    in the driver, as it finishes: workers need no shared disk) with
    ``encode(result)`` (a dict of arrays) and read back with ``decode``.
    ``on_done(task, result)`` is called for loaded and computed tasks alike.
    Results come back in the order of ``tasks``.
    """
    results: dict[str, Any] = {}
    todo = []
    for task in tasks:
        saved = store.load_arrays(task.id) if store is not None else None
        if saved is None:
            todo.append(task)
            continue
        results[task.id] = decode(saved)
        if on_done is not None:
            on_done(task, results[task.id])

    def finished(task, result):
        if store is not None:
            store.save_arrays(task.id, encode(result))
        if on_done is not None:
            on_done(task, result)

    for task, result in zip(todo, executor.map(todo, finished) if todo else []):
        results[task.id] = result
    return [results[task.id] for task in tasks]
