"""Checkpoints for long studies: finished pieces are saved and reused on restart.

A study is a sequence of independent pieces (one batch of runs per scheme,
SDE and learning rate), each determined by the configuration and its seed.
:class:`CheckpointStore` saves every finished piece atomically in a folder,
under a fingerprint of the configuration; a study killed at any point and
started again with the same command loads the finished pieces and computes
only the rest, and ends with the same numbers as an uninterrupted run. A
changed configuration (another fingerprint) discards the old pieces.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .report.io import atomic_write_bytes, atomic_write_text
from .runs import RunStatistics

__all__ = ["CheckpointStore"]


class CheckpointStore:
    """Finished pieces of a study, as ``.npz`` files in ``directory``."""

    def __init__(self, directory: str | Path, fingerprint: dict):
        self.directory = Path(directory)
        self.key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str)
                                  .encode()).hexdigest()[:16]
        meta = self.directory / "fingerprint.json"
        if self.directory.exists():
            try:
                old = json.loads(meta.read_text())["key"]
            except (OSError, ValueError, KeyError):
                old = None
            if old != self.key:
                shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(".*.tmp"):  # a write cut off by a kill
            stale.unlink(missing_ok=True)
        atomic_write_text(meta, json.dumps({"key": self.key, "config": fingerprint},
                                           default=str, indent=1))
        self.loaded: list[str] = []

    def _path(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.directory / f"{safe}.npz"

    def statistics(self, name: str, compute: Callable[[], RunStatistics]) -> RunStatistics:
        """The piece ``name``: loaded if saved, else computed and saved."""
        path = self._path(name)
        if path.exists():
            try:
                with np.load(path) as z:
                    stats = RunStatistics(z["steps"], z["mean"], z["variance"], z["count"],
                                          int(z["n_runs"]))
                self.loaded.append(name)
                return stats
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)  # unreadable: compute again
        stats = compute()
        buf = io.BytesIO()
        np.savez(buf, steps=stats.steps, mean=stats.mean, variance=stats.variance,
                 count=stats.count, n_runs=stats.n_runs)
        atomic_write_bytes(path, buf.getvalue())
        return stats
