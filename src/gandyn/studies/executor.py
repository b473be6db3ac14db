"""Independent units of work and the executors that run them.

A study splits its work into :class:`Task` objects (a Monte Carlo batch, a
grid cell, an optimiser's seeds), each with a stable identifier. The
identifier, not the position in the list or the time a task runs, is what
its random keys derive from (:func:`task_seed`), so every executor and every
order of execution gives the same numbers. An executor takes the list and
returns the results in the same order.

:class:`LocalExecutor` (the default) runs the tasks in this process, one
after another, in the order given. Other executors (a cluster, say) plug in
by subclassing :class:`Executor`.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

__all__ = ["Task", "Executor", "LocalExecutor", "task_seed", "default_executor"]


@dataclass(frozen=True)
class Task:
    """One independent unit of work: ``run()`` computes it; ``id`` names it for good."""

    id: str
    run: Callable[[], Any]
    label: str = ""


def task_seed(seed: int, task_id: str) -> int:
    """A 32-bit seed from ``(seed, task_id)``: the same for the same pair, in any layout."""
    digest = hashlib.sha256(f"{int(seed)}/{task_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class Executor(abc.ABC):
    """Runs a list of tasks and returns their results in the list's order."""

    kind: str

    @abc.abstractmethod
    def map(self, tasks: Sequence[Task],
            on_done: Optional[Callable[[Task, Any], None]] = None) -> list:
        """Results of ``tasks`` in order; ``on_done(task, result)`` after each one finishes."""

    def to_json(self) -> dict:
        return {"kind": self.kind}


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
