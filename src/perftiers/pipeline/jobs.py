"""The two pipeline jobs as the CLI, the API and the scheduler start them."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from perftiers.pipeline.runs import run_job
from perftiers.runcontext import Progress, no_progress
from perftiers.settings import Settings


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
    progress: Progress = no_progress,
    background: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    from perftiers.refresh.mart import refresh_mart

    return run_job(settings, "refresh", trigger, lambda ctx: refresh_mart(ctx, as_of), progress=progress,
                   background=background, on_done=on_done)
