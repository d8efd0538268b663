"""The in-process scheduler of `perftiers serve`: the daily sync (then a refresh) and an optional
extra refresh, on cron expressions from settings, in the store timezone.

Jobs are registered in `JOBS` (list them with `describe()` or `GET /api/schedule`). A due run is
claimed by inserting `(job, due_at)` into `schedule_claim` (primary key: one replica wins), then
the job takes the pipeline lock through `perftiers.pipeline.jobs` like every other sync or refresh,
so two replicas never run the same job twice and never run two jobs at once. Missed runs (the server
was down) are not caught up; `perftiers sync` / `refresh` or the API run one now.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import sqlalchemy as sa
from croniter import croniter

from perftiers.errors import AlreadyRunning, ConfigurationError
from perftiers.metadata.db import engine_for, schedule_claim
from perftiers.pipeline import jobs
from perftiers.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    cron: Callable[[Settings], str | None]
    """The cron expression from settings; None turns the job off."""
    run: Callable[[Settings], None]
    description: str


def _sync_then_refresh(settings: Settings) -> None:
    jobs.sync_then_refresh(settings, trigger="schedule")


def _refresh(settings: Settings) -> None:
    jobs.refresh(settings, trigger="schedule")


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("sync", lambda s: s.sync_cron, _sync_then_refresh,
                 "Daily sync from the configured source, then a mart refresh when it succeeds."),
    ScheduledJob("refresh", lambda s: s.refresh_cron, _refresh, "Extra mart refresh (off unless refresh_cron is set)."),
)


def next_due(cron: str, tz, after: datetime) -> datetime:
    """The first time strictly after `after` matching `cron` in timezone `tz` (returned in UTC)."""
    return croniter(cron, after.astimezone(tz)).get_next(datetime).astimezone(timezone.utc)


def validate(settings: Settings, registry: tuple[ScheduledJob, ...] = JOBS) -> None:
    for job in registry:
        cron = job.cron(settings)
        if cron is not None and not croniter.is_valid(cron):
            raise ConfigurationError(f"{job.name} schedule {cron!r} is not a valid cron expression "
                                     "(five fields, e.g. '0 2 * * *')")


def describe(settings: Settings, now: datetime | None = None, registry: tuple[ScheduledJob, ...] = JOBS) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    out = []
    for job in registry:
        cron = job.cron(settings)
        valid = cron is not None and croniter.is_valid(cron)
        out.append({"name": job.name, "cron": cron or "off", "timezone": settings.timezone,
                    "next_run": next_due(cron, settings.tz, now) if valid else None,
                    "description": job.description})
    return out


def claim(db: sa.Engine, job: str, due_at: datetime, holder: str) -> bool:
    """True for exactly one caller per (job, due_at), across processes and replicas."""
    try:
        with db.begin() as conn:
            conn.execute(sa.insert(schedule_claim).values(job=job, due_at=due_at, claimed_by=holder,
                                                          claimed_at=datetime.now(timezone.utc)))
        return True
    except sa.exc.IntegrityError:
        return False


class Scheduler:
    """Runs due jobs on one background thread, one at a time."""

    def __init__(self, settings: Settings, *, registry: tuple[ScheduledJob, ...] = JOBS,
                 on_done: Callable[[str], None] | None = None, retry_seconds: float = 60, retries: int = 30):
        validate(settings, registry)
        self.settings, self.registry, self.on_done = settings, registry, on_done
        self.retry_seconds, self.retries = retry_seconds, retries
        self.holder = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: dict[str, datetime] = {}

    def start(self) -> None:
        self._plan(datetime.now(timezone.utc))
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()
        for name, at in sorted(self._next.items()):
            log.info("scheduled %s: next run %s", name, at.isoformat())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _plan(self, now: datetime) -> None:
        for job in self.registry:
            cron = job.cron(self.settings)
            if cron is not None:
                self._next[job.name] = next_due(cron, self.settings.tz, now)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(timezone.utc)
            self.run_due(now)
            upcoming = min(self._next.values(), default=now + timedelta(hours=1))
            self._stop.wait(max(0.05, min(30.0, (upcoming - datetime.now(timezone.utc)).total_seconds())))

    def run_due(self, now: datetime) -> list[str]:
        """Run every job due at `now` that this process claims; returns their names."""
        ran = []
        db = engine_for(self.settings.resolved_database_url)
        for job in self.registry:
            due = self._next.get(job.name)
            if due is None or due > now:
                continue
            cron = job.cron(self.settings)
            self._next[job.name] = next_due(cron, self.settings.tz, max(now, due)) if cron else None
            if not claim(db, job.name, due, self.holder):
                log.info("%s due %s was claimed by another replica", job.name, due.isoformat())
                continue
            self._run(job)
            ran.append(job.name)
        self._next = {k: v for k, v in self._next.items() if v is not None}
        return ran

    def _run(self, job: ScheduledJob) -> None:
        for attempt in range(self.retries + 1):
            try:
                job.run(self.settings)
                break
            except AlreadyRunning:
                if attempt == self.retries or self._stop.wait(self.retry_seconds):
                    log.warning("scheduled %s skipped: another run held the lock", job.name)
                    break
            except Exception as exc:  # recorded in telemetry by run_job
                log.warning("scheduled %s failed: %s", job.name, exc)
                break
        if self.on_done is not None:
            self.on_done(job.name)
