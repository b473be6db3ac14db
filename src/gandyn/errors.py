"""The one exception for bad input.

Everything a user can get wrong (a config field, a command-line argument, a
path, a parameter outside the range where a computation means anything)
raises :class:`InputError` or a subclass, with a message of one line naming
the problem in the user's words. The command line maps it to exit status 2;
library callers catch it as a ``ValueError``.
"""

from __future__ import annotations

__all__ = ["InputError", "ConfigError", "UsageError", "one_line"]


class InputError(ValueError):
    """Bad input, phrased as one line naming the field or argument and the problem."""


class ConfigError(InputError):
    """A configuration (TOML file or typed config) that does not validate."""


class UsageError(InputError):
    """A command-line argument, path or option that cannot be used."""


def one_line(text: str) -> str:
    """``text`` with its white space folded to single spaces (never empty)."""
    return " ".join(str(text).split()) or "invalid input"
