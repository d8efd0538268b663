"""The pipeline jobs as the CLI, the API and the scheduler start them: a sync, a refresh, and the
daily job `sync_then_refresh` (the one place that says a refresh follows a successful sync), the
history backfill, and the Shopify tag push (which follows each successful refresh when enabled)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Callable

from perftiers.errors import AlreadyRunning
from perftiers.pipeline.runs import run_job
from perftiers.runcontext import Progress, no_progress
from perftiers.settings import Settings

log = logging.getLogger(__name__)


def sync(
    settings: Settings,
    *,
    trigger: str,
    source: str | None = None,
    path: str | None = None,
    progress: Progress = no_progress,
    background: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    from perftiers.sources import make_source
    from perftiers.sync import sync_store

    src = make_source(settings, source, path)  # bad source names fail before a run is recorded
    return run_job(settings, "sync", trigger, lambda ctx: sync_store(ctx, src), progress=progress,
                   background=background, on_done=on_done)


def refresh(
    settings: Settings,
    *,
    trigger: str,
    as_of: date | None = None,
    full: bool = False,
    progress: Progress = no_progress,
    background: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """A mart refresh; `full` rebuilds the daily sales from every order line (`refresh.daily_sales`)."""
    from perftiers.refresh.mart import refresh_mart

    if settings.shopify_tags_enabled:
        on_done = _then_push_tags(settings, trigger, progress, on_done)
    return run_job(settings, "refresh", trigger, lambda ctx: refresh_mart(ctx, as_of, full=full), progress=progress,
                   background=background, on_done=on_done)


def _then_push_tags(settings: Settings, trigger: str, progress: Progress,
                    on_done: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    """After a successful refresh, the tag push (`shopify_tags_enabled`). It never fails the refresh:
    its failure is its own failed `tags` run, with a `tags.failed` alert."""

    def done(record: dict[str, Any]) -> None:
        if on_done is not None:
            on_done(record)
        if record.get("status") != "succeeded":
            return
        try:
            push_tags(settings, trigger=trigger, progress=progress, on_done=on_done)
        except AlreadyRunning:
            log.warning("tag push after refresh %s skipped: another run holds the lock", record["run_id"])
        except Exception as exc:  # recorded in its own telemetry record
            log.warning("tag push after refresh %s failed: %s", record["run_id"], exc)

    return done


def push_tags(
    settings: Settings,
    *,
    trigger: str,
    progress: Progress = no_progress,
    background: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Tag the shop's products with their tiers (`perftiers.pipeline.tags`), as a `tags` run.
    `options` go to the tag writer (tests: `sleep`, `poll_interval`, `bulk_threshold`)."""
    from perftiers.pipeline import tags

    return run_job(settings, "tags", trigger, lambda ctx: tags.push(ctx, **options), progress=progress,
                   background=background, on_done=on_done)


def sync_then_refresh(
    settings: Settings,
    *,
    trigger: str,
    source: str | None = None,
    path: str | None = None,
    then_refresh: bool = True,
    progress: Progress = no_progress,
    background: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The daily job: a sync, then a mart refresh when the sync succeeded (and `then_refresh`).

    `on_done(record)` is called with each run's final record: the sync's, then the refresh's.
    In the foreground a failure is raised like `sync` and `refresh` raise it (a refresh that finds
    the lock taken raises AlreadyRunning) and the last record is returned. With `background=True`
    both runs happen one after the other on one thread, the sync's `running` record is returned at
    once, and a refresh that cannot start or fails is logged (its failure is in its own record).
    """
    if not background:
        record = sync(settings, trigger=trigger, source=source, path=path, progress=progress, on_done=on_done)
        if then_refresh:
            record = refresh(settings, trigger=trigger, progress=progress, on_done=on_done)
        return record

    def after_sync(record: dict[str, Any]) -> None:
        if on_done is not None:
            on_done(record)
        if not then_refresh or record.get("status") != "succeeded":
            return
        try:
            refresh(settings, trigger=trigger, progress=progress, on_done=on_done)
        except AlreadyRunning:
            log.info("refresh after sync %s skipped: another run holds the lock", record["run_id"])
        except Exception as exc:  # recorded in its own telemetry record
            log.warning("refresh after sync %s failed: %s", record["run_id"], exc)

    return sync(settings, trigger=trigger, source=source, path=path, progress=progress, background=True,
                on_done=after_sync)


def backfill(
    settings: Settings,
    *,
    trigger: str,
    start: date,
    end: date | None = None,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """The tier history of past days (`perftiers.refresh.backfill`), as a run like any other."""
    from perftiers.refresh.backfill import backfill as compute

    return run_job(settings, "backfill", trigger, lambda ctx: compute(ctx, start, end), progress=progress)
