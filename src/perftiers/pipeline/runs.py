"""Running a pipeline job: the pipeline lock, a sync.telemetry record, success or failure.

Every sync and refresh (CLI, API, scheduler) goes through `run_job`, so each one holds the lock,
leaves a `running` record when it starts and a `succeeded` / `failed` record when it ends.

A run whose process died (SIGKILL, OOM, power loss) leaves its `running` record and a lock that
expires after its lease. The next run to take the lock knows no other run is alive, so it rewrites
such records as `failed` ("interrupted"): the history never shows a dead run as running for ever,
and never shows it as succeeded.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from perftiers import faults, fencing
from perftiers.errors import PerftiersError
from perftiers.lakehouse.objectstore import ObjectStore
from perftiers.lakehouse.telemetry import RunKind, Telemetry, new_run_id, utcnow
from perftiers.metadata import locks, webhooks
from perftiers.metadata.db import engine_for
from perftiers.runcontext import Progress, RunContext, no_progress
from perftiers.settings import Settings

log = logging.getLogger(__name__)

JobFn = Callable[[RunContext], dict[str, Any]]
"""A job returns the fields to merge into its telemetry record (counts, spec_version, ...)."""


def telemetry(settings: Settings) -> Telemetry:
    return Telemetry(ObjectStore.from_settings(settings))


INTERRUPTED_LOOKBACK = 5
"""How many of the newest records a run checks for interrupted ones (each run checks, so a few do)."""


def close_interrupted(tel: Telemetry, by_run: str,
                      on_closed: Callable[[dict[str, Any]], None] | None = None) -> list[str]:
    """Mark `running` records as failed; only call while holding the pipeline lock."""
    closed = []
    for record in tel.list(limit=INTERRUPTED_LOOKBACK):
        if record.get("status") != "running" or record.get("run_id") == by_run:
            continue
        record.update(status="failed", error=f"Interrupted: the process ended before the run finished "
                                             f"(found by run {by_run}); nothing it was writing was committed "
                                             "unless a later snapshot says so.")
        if on_closed is not None:
            on_closed(record)
        tel.write(record)
        closed.append(record["run_id"])
    return closed


def alert_failed(settings: Settings, record: dict[str, Any]) -> None:
    """Write a failed run's alert (`<kind>.failed`) to the outbox, once per run, before its final
    record; an error here is logged and never hides the run's own failure."""
    try:
        webhooks.enqueue_run_failed(engine_for(settings.resolved_database_url), record, settings.public_url)
    except Exception as exc:
        log.warning("could not record the alert of failed run %s: %s", record.get("run_id"), exc)


def _with_fault_points(progress: Progress) -> Progress:
    def traced(step: str, done: int | None = None, total: int | None = None) -> None:
        faults.point(f"progress:{step}")
        progress(step, done, total)

    return traced


def run_job(
    settings: Settings,
    kind: RunKind,
    trigger: str,
    job: JobFn,
    *,
    progress: Progress = no_progress,
    background: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Take the pipeline lock (or raise AlreadyRunning), record the run, execute `job`.

    With `background=True` the job runs on a thread and the `running` record is returned at
    once; otherwise the final record is returned (and a failure re-raised after recording).
    """
    engine = engine_for(settings.resolved_database_url)
    started = utcnow()
    run_id = new_run_id(kind, started)
    lock = locks.acquire(engine, lease_seconds=settings.lock_lease_seconds, holder=run_id)
    faults.point("run:lock-taken")
    tel = telemetry(settings)
    record: dict[str, Any] = {
        "run_id": run_id,
        "kind": kind,
        "trigger": trigger,
        "started_at": started.isoformat(),
        "finished_at": None,
        "duration_ms": None,
        "status": "running",
        "counts": {},
        "error": None,
    }
    try:
        try:
            close_interrupted(tel, run_id, on_closed=lambda closed: alert_failed(settings, closed))
        except Exception as exc:  # housekeeping must not stop the run
            log.warning("could not check for interrupted runs: %s", exc)
        tel.write(record)
    except Exception:
        lock.release()
        raise
    faults.point("run:started-record")
    if faults.armed():
        progress = _with_fault_points(progress)
    ctx = RunContext(run_id, kind, trigger, settings, progress, record)

    def execute() -> dict[str, Any]:
        t0 = time.perf_counter()
        error: BaseException | None = None
        try:
            with fencing.fenced(lock.ensure_held):  # every commit of the job checks the lock first
                record.update(job(ctx))
            faults.point("run:job-returned")
            record["status"] = "succeeded"
        except BaseException as exc:  # recorded, then re-raised to the caller
            error = exc
            record["status"] = "failed"
            record["error"] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, PerftiersError):
                log.info("%s run %s failed: %s", kind, run_id, exc)
            else:
                log.exception("%s run %s failed", kind, run_id)
        finally:
            record["finished_at"] = utcnow().isoformat()
            record["duration_ms"] = int((time.perf_counter() - t0) * 1000)
            if record["status"] == "failed":
                alert_failed(settings, record)
            try:
                tel.write(record)
                faults.point("run:final-record")
            finally:
                lock.release()
                faults.point("run:lock-released")
        if on_done is not None:
            on_done(record)
        if error is not None and not background:
            raise error
        return record

    if background:
        threading.Thread(target=execute, name=f"{kind}-{run_id}", daemon=True).start()
        return dict(record)
    return execute()
