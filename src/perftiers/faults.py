"""Test-only fault injection: named points where a test can SIGKILL the process, and a trace of them.

Inert unless one of two environment variables is set (nothing here runs in normal use):

- `PERFTIERS_TEST_KILL_AT=<point>:<n>` kills this process with SIGKILL the n-th time it reaches
  `point` (`n` defaults to 1), as a crash, an OOM kill or a pulled plug would;
- `PERFTIERS_TEST_TRACE=<file>` appends every point reached to `file`, one per line, so a test can
  list the points of an uninterrupted run and then kill a run at each of them;
- `PERFTIERS_TEST_PAUSE_AT=<point>:<n>` with `PERFTIERS_TEST_PAUSE_UNTIL=<file>` makes the n-th
  pass of `point` wait until `file` exists (at most a minute), so a test can hold a run mid-way.

Points: `run_job` (lock taken, telemetry written, job returned, lock released), every progress
step of a job (`progress:<step>`), every Iceberg catalog commit and table creation
(`iceberg.commit:<table>:before|metadata|after`, via `instrument`), and named steps of the jobs
(`refresh:artifact`, `maintenance:deleted`, ...). tests/reliability/test_crash.py drives them.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

KILL_ENV = "PERFTIERS_TEST_KILL_AT"
TRACE_ENV = "PERFTIERS_TEST_TRACE"
PAUSE_ENV = "PERFTIERS_TEST_PAUSE_AT"
PAUSE_UNTIL_ENV = "PERFTIERS_TEST_PAUSE_UNTIL"

_seen: dict[str, int] = {}
_lock = threading.Lock()


def armed() -> bool:
    return bool(os.environ.get(KILL_ENV) or os.environ.get(TRACE_ENV) or os.environ.get(PAUSE_ENV))


def _target(env: str = KILL_ENV) -> tuple[str, int] | None:
    raw = os.environ.get(env)
    if not raw:
        return None
    name, _, count = raw.rpartition(":")
    if name and count.isdigit():
        return name, int(count)
    return raw, 1


def point(name: str) -> None:
    """A place where a test may kill this process (no-op unless armed)."""
    if not armed():
        return
    with _lock:
        _seen[name] = n = _seen.get(name, 0) + 1
        trace = os.environ.get(TRACE_ENV)
        if trace:
            with open(trace, "a", encoding="utf-8") as out:
                out.write(f"{name}\n")
    if _target() == (name, n):
        os.kill(os.getpid(), signal.SIGKILL)
    if _target(PAUSE_ENV) == (name, n):
        release = os.environ.get(PAUSE_UNTIL_ENV, "")
        deadline = time.monotonic() + 60
        while release and not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)


def instrument(catalog: Any) -> Any:
    """When armed, add points around the catalog's commits and table creations (else unchanged).

    `before`: data files and manifests are written, the catalog still names the old metadata;
    `metadata`: the new metadata.json is written too (SQL catalogs); `after`: committed.
    """
    if not armed():
        return catalog
    commit, create = catalog.commit_table, catalog.create_table

    def commit_table(table: Any, requirements: Any, updates: Any) -> Any:
        name = ".".join(table.name()[-2:])
        point(f"iceberg.commit:{name}:before")
        response = commit(table, requirements, updates)
        point(f"iceberg.commit:{name}:after")
        return response

    def create_table(identifier: Any, *args: Any, **kwargs: Any) -> Any:
        name = ".".join(identifier) if isinstance(identifier, tuple) else str(identifier)
        point(f"iceberg.create:{name}:before")
        table = create(identifier, *args, **kwargs)
        point(f"iceberg.create:{name}:after")
        return table

    catalog.commit_table, catalog.create_table = commit_table, create_table
    write_metadata = getattr(catalog, "_write_metadata", None)
    if write_metadata is not None:
        def _write_metadata(metadata: Any, io: Any, metadata_path: str) -> None:
            write_metadata(metadata, io, metadata_path)
            point("iceberg.metadata:written")

        catalog._write_metadata = _write_metadata
    return catalog
