"""A progress bar on stderr (rich) for long Monte Carlo work."""

from __future__ import annotations

import contextlib
import sys

__all__ = ["progress_reporter"]


@contextlib.contextmanager
def progress_reporter(enabled: bool = True):
    """Yield ``progress(label, done, total)``; draws one bar per label on stderr.

    Disabled (a no-op callback) when ``enabled`` is false; when stderr is not
    a terminal, it prints one plain line per finished label instead.
    """
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        finished = set()

        def plain(label, done, total):
            if done >= total and label not in finished:
                finished.add(label)
                sys.stderr.write(f"  done: {label}\n")
                sys.stderr.flush()

        yield plain
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=False) as bar:
        def update(label, done, total):
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        yield update
