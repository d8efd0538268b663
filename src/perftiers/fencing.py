"""Fencing: a commit made for a job that holds the pipeline lock first checks that it still does.

A job runs inside `fenced(lock.ensure_held)`; the Iceberg catalog (`lakehouse.catalog`) calls
`check()` before every table commit, and other writes a job makes call it too. Outside a job
(tests, read-only code) `check()` does nothing. The check lives in a context variable, so each
thread (a background run, an API request) sees only its own job's lock.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_check: ContextVar[Callable[[], None] | None] = ContextVar("perftiers_fence", default=None)


@contextmanager
def fenced(ensure_held: Callable[[], None]) -> Iterator[None]:
    """Within the block, `check()` calls `ensure_held` (which raises when the lock was lost)."""
    token = _check.set(ensure_held)
    try:
        yield
    finally:
        _check.reset(token)


def check() -> None:
    """Raise unless the current job still holds its lock (no-op outside a job)."""
    ensure_held = _check.get()
    if ensure_held is not None:
        ensure_held()
