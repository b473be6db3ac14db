"""Output folders, atomic file writes, JSON-safe values and figure files.

Every file is written to a temporary name in its folder and then renamed
over the final name (``os.replace`` is atomic on POSIX), so an interrupted
run never leaves a half-written file where a finished one is expected.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .errors import UsageError

__all__ = ["jsonable", "prepare_out_dir", "atomic_write_bytes", "atomic_write_text", "write_json", "write_csv",
           "save_figure", "new_figure"]


def prepare_out_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents); a clear error if it exists as a file or is not writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"--out {p} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {p}: {err.strerror or err}") from None
    if not os.access(p, os.W_OK):
        raise UsageError(f"output directory {p} is not writable")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(x):
    """A JSON-safe copy of ``x``: NaN/Inf become null, NumPy scalars and arrays plain."""
    import numpy as np

    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x


def write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return atomic_write_text(path, buf.getvalue())


def new_figure(**kwargs):
    """A :class:`matplotlib.figure.Figure` not registered with pyplot (no backend is switched).

    ``kwargs`` go to ``Figure`` (``figsize``, ``constrained_layout``, ...).
    """
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig, out_dir: str | os.PathLike, stem: str) -> list[str]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` in ``out_dir`` (atomically)."""
    written = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
        written.append(str(atomic_write_bytes(Path(out_dir) / f"{stem}.{ext}", buf.getvalue())))
    return written
