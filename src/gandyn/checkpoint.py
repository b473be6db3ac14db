"""One checkpoint store for long studies: finished pieces are saved and reused on restart.

A study is a set of independent pieces (one batch of runs per scheme, SDE and
learning rate; one section of a report), each determined by the configuration
and its seed. :class:`CheckpointStore` saves every finished piece atomically
in a folder: arrays as ``.npz`` files, anything JSON-able as ``.json``. A
study killed at any point and started again with the same command loads the
finished pieces and computes only the rest, and ends with the same numbers as
an uninterrupted run.

Two keys decide what is reused. The store's *fingerprint* (the whole
configuration and the gandyn version, say) is checked when the store is
opened: a different one discards every saved piece. A piece may carry its own
*key* as well (a report section's settings): a piece saved under another key
is computed again, the others are kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .io import atomic_write_bytes, atomic_write_text, jsonable

__all__ = ["CheckpointStore", "fingerprint_key"]


def fingerprint_key(data: Any) -> str:
    """A short, stable hash of a JSON-able value (dict keys sorted)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


class CheckpointStore:
    """Finished pieces of a study in ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | Path, fingerprint: Any):
        self.directory = Path(directory)
        self.key = fingerprint_key(fingerprint)
        meta = self.directory / "fingerprint.json"
        if self.directory.exists():
            try:
                old = json.loads(meta.read_text())["key"]
            except (OSError, ValueError, KeyError, TypeError):
                old = None
            if old != self.key:
                shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(".*.tmp"):  # a write cut off by a kill
            stale.unlink(missing_ok=True)
        atomic_write_text(meta, json.dumps({"key": self.key, "config": fingerprint},
                                           default=str, indent=1))
        self.loaded: list[str] = []

    def path(self, name: str, suffix: str) -> Path:
        """Where the piece ``name`` lives (``suffix`` is ``.npz`` or ``.json``)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.directory / f"{safe}{suffix}"

    # ----------------------------------------------------------------- arrays

    def load_arrays(self, name: str) -> Optional[dict[str, np.ndarray]]:
        """The saved arrays of ``name``, or ``None`` (never saved, or unreadable: then removed)."""
        path = self.path(name, ".npz")
        if not path.exists():
            return None
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
            return None
        self.loaded.append(name)
        return arrays

    def save_arrays(self, name: str, arrays: dict[str, Any]) -> None:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.path(name, ".npz"), buf.getvalue())

    def arrays(self, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, np.ndarray]:
        """The piece ``name``: loaded if saved, else computed and saved."""
        saved = self.load_arrays(name)
        if saved is not None:
            return saved
        arrays = compute()
        self.save_arrays(name, arrays)
        return arrays

    # ----------------------------------------------------------------- JSON documents

    def load_json(self, name: str, key: Optional[str] = None) -> Optional[dict]:
        """The saved document of ``name`` if it is a JSON object saved under ``key``, else ``None``."""
        try:
            saved = json.loads(self.path(name, ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("key") != key:
            return None
        document = saved.get("document")
        if not isinstance(document, dict):
            return None
        self.loaded.append(name)
        return document

    def save_json(self, name: str, document: dict, key: Optional[str] = None) -> None:
        text = json.dumps(jsonable({"key": key, "document": document}), indent=1)
        atomic_write_text(self.path(name, ".json"), text + "\n")
