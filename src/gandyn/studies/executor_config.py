"""The ``[executor]`` table and ``--executor``: where a study's tasks run, and the executor.

:class:`ExecutorConfig` is the table (and the options that override it);
:func:`make_executor` builds the executor it asks for: a
:class:`~gandyn.studies.executor.LocalExecutor` (in process, the default) or
a :class:`~gandyn.studies.ray_executor.RayExecutor`, whose module imports Ray
only when one is built. The executor never changes a study's numbers, so
study configs keep this table out of their dumps and checkpoint keys.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from .config import StrictModel
from .executor import Executor, LocalExecutor

__all__ = ["ExecutorKind", "ExecutorConfig", "make_executor"]

#: Where a study's tasks run: in this process, or on a Ray cluster.
ExecutorKind = Literal["local", "ray"]


class ExecutorConfig(StrictModel):
    """Where a study's tasks run: the ``[executor]`` table and ``--executor``, ``--ray-*``.

    ``kind = "local"`` (the default) runs everything in this process, as
    without the table. ``kind = "ray"`` runs the tasks on Ray: on the cluster
    at ``address`` (``"auto"``: the one started on this machine with ``ray
    start``; or ``HOST:PORT``), else on a local Ray started for the study with
    ``num_cpus`` CPUs (default: this machine's). ``cpus_per_task`` CPUs are
    reserved per task (JAX in the worker uses that many threads);
    ``gpus_per_task`` GPUs (0: CPU only); a task whose worker dies is run
    again up to ``max_retries`` times; ``max_workers`` caps the tasks that
    run at once (a share of a bigger cluster).
    """

    kind: ExecutorKind = "local"
    address: Optional[str] = None
    num_cpus: Optional[int] = Field(None, ge=1, le=100_000)
    cpus_per_task: int = Field(1, ge=1, le=1024)
    gpus_per_task: float = Field(0.0, ge=0, le=64)
    max_retries: int = Field(3, ge=0, le=100)
    max_workers: Optional[int] = Field(None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _ray_options_need_ray(self):
        if self.kind == "local":
            given = [n for n in ("address", "num_cpus") if getattr(self, n) is not None]
            if given:
                raise ValueError(f"{given[0]} needs kind = \"ray\"")
        if self.address is not None:
            from .ray_executor import parse_address  # light: Ray itself is imported on use

            parse_address(self.address)
            if self.num_cpus is not None:
                raise ValueError("num_cpus sizes a local Ray; a cluster at an address has its "
                                 "own CPUs (give one of address and num_cpus)")
        return self

    def argv(self) -> list[str]:
        """The command-line options that ask for this executor (none for ``local``)."""
        if self.kind == "local":
            return []
        out = ["--executor", "ray"]
        if self.address is not None:
            out += ["--ray-address", self.address]
        if self.num_cpus is not None:
            out += ["--ray-num-cpus", str(self.num_cpus)]
        return out


def make_executor(config: Optional[ExecutorConfig]) -> Executor:
    """The executor ``config`` asks for (in process when ``None`` or ``kind = "local"``).

    A Ray executor connects (or starts a local Ray) here, so a cluster that
    cannot be reached is reported before any work starts
    (:class:`gandyn.errors.UsageError`).
    """
    if config is None or config.kind == "local":
        return LocalExecutor()
    from .ray_executor import RayExecutor  # Ray (the optional extra) is imported there, now

    return RayExecutor(address=config.address, num_cpus=config.num_cpus,
                       cpus_per_task=config.cpus_per_task, gpus_per_task=config.gpus_per_task,
                       max_retries=config.max_retries, max_workers=config.max_workers)
