"""The result convention of every study: ``to_json()`` for the CLI, ``to_frame()`` for pandas.

A study returns a typed result (a dataclass). :meth:`StudyResult.to_json` is
the command line's JSON contract, exactly what ``gandyn STUDY --json``
prints; :meth:`StudyResult.to_frame` is a tidy :class:`pandas.DataFrame`
(one row per observation; pandas is an optional extra, imported only here).
"""

from __future__ import annotations

import abc
from ..io import jsonable

__all__ = ["StudyResult", "frame"]


class StudyResult(abc.ABC):
    """A study's typed result (subclasses are dataclasses)."""

    @abc.abstractmethod
    def to_json(self) -> dict:
        """The JSON object the command line prints (NaN and infinities as ``null``)."""

    @abc.abstractmethod
    def rows(self) -> list[dict]:
        """The tidy rows behind :meth:`to_frame`."""

    def to_frame(self):
        """A tidy :class:`pandas.DataFrame` of the result (needs ``pip install pandas``)."""
        return frame(self.rows())

    def __repr__(self) -> str:
        name = type(self).__name__
        rows = self.rows()
        return f"{name}({len(rows)} rows; .to_json() for everything, .to_frame() for a table)"


def frame(rows: list[dict]):
    try:
        import pandas as pd
    except ModuleNotFoundError:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError("to_frame() needs pandas: pip install pandas") from None
    return pd.DataFrame(jsonable(rows))

