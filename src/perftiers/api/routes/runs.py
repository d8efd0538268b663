"""Pipeline control: start a sync or a refresh (202 + run id; 409 while one runs), list runs of every kind."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from perftiers.api import models
from perftiers.api.deps import EditorDep, EngineDep, SettingsDep, ViewerDep
from perftiers.errors import BadRequest, NotFound
from perftiers.lakehouse.telemetry import RunKind
from perftiers.pipeline import jobs
from perftiers.pipeline.runs import telemetry
from perftiers.query.engine import QueryEngine
from perftiers.query.filters import IsoDate

log = logging.getLogger(__name__)
router = APIRouter(tags=["pipeline runs"])
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def _reload(engine: QueryEngine) -> None:
    try:
        engine.check(force=True)
    except Exception as exc:  # the watcher will try again
        log.warning("reload after run failed: %s", exc)


JUST_FINISHED = timedelta(minutes=2)


def _served(engine: QueryEngine, records: list[dict]) -> list[dict]:
    """Make sure this replica serves the snapshot of a refresh it reports as just finished.

    A run is recorded as succeeded before any replica has swapped to its snapshot (the watcher
    looks every second; loading takes a moment more), and the dashboard redraws as soon as it
    reads "succeeded": without this it could draw the old numbers and keep them."""
    newest = next((r for r in records if r.get("kind") == "refresh" and r.get("status") == "succeeded"
                   and r.get("snapshot_id") is not None), None)
    current = engine.current()
    if newest is None or (current is not None and current.snapshot_id == str(newest["snapshot_id"])):
        return records
    finished = datetime.fromisoformat(newest["finished_at"]) if newest.get("finished_at") else None
    if finished is not None and datetime.now(timezone.utc) - finished < JUST_FINISHED:
        _reload(engine)
    return records


@router.post("/api/sync", response_model=models.RunStarted, status_code=status.HTTP_202_ACCEPTED,
             responses={409: {"model": models.ErrorBody,
                              "description": "A sync or refresh is running, or the sync source lacks its settings"}},
             summary="Start a sync (then a refresh) in the background")
def start_sync(
    _: EditorDep,
    settings: SettingsDep,
    engine: EngineDep,
    refresh: Annotated[bool, Query(description="Refresh the mart after a successful sync.")] = True,
) -> dict:
    record = jobs.sync_then_refresh(settings, trigger="manual", then_refresh=refresh, background=True,
                                    on_done=lambda record: _reload(engine))
    return {**record, "then_refresh": refresh}


@router.post("/api/performance-metrics/refresh", response_model=models.RunStarted,
             status_code=status.HTTP_202_ACCEPTED,
             responses={409: {"model": models.ErrorBody, "description": "A sync or refresh is running"}},
             summary="Start a mart refresh in the background")
def start_mart_refresh(
    _: EditorDep,
    settings: SettingsDep,
    engine: EngineDep,
    as_of: Annotated[IsoDate | None, Query(description="Reference date D (default today, store timezone).")] = None,
) -> dict:
    if as_of is not None and not 1900 <= as_of.year <= 2200:
        raise BadRequest("as_of must be between the years 1900 and 2200",
                         details=[{"loc": ["query", "as_of"], "msg": "out of range"}])
    record = jobs.refresh(settings, trigger="manual", as_of=as_of, background=True,
                          on_done=lambda record: _reload(engine))
    return {**record, "then_refresh": False}


@router.get("/api/sync/runs", response_model=models.RunList, summary="Recent runs (sync, refresh, backfill, tags), newest first")
def list_runs(
    _: ViewerDep,
    settings: SettingsDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100, description="How many runs.")] = 10,
    kind: Annotated[RunKind | None, Query(description="Only runs of this kind.")] = None,
) -> dict:
    return {"items": _served(engine, telemetry(settings).list(limit=limit, kind=kind))}


@router.get("/api/sync/runs/{run_id}", response_model=models.RunRecord, summary="One run")
def get_run(_: ViewerDep, settings: SettingsDep, engine: EngineDep,
            run_id: Annotated[str, Path(max_length=200)]) -> dict:
    record = telemetry(settings).get(run_id) if _RUN_ID.match(run_id) else None
    if record is None:
        raise NotFound(f"no run {run_id!r}", details={"run_id": run_id})
    return _served(engine, [record])[0]


@router.get("/api/schedule", response_model=models.Schedule, summary="Scheduled jobs and their next runs")
def schedule(_: ViewerDep, request: Request, settings: SettingsDep) -> dict:
    from perftiers.pipeline import schedule as scheduler

    running = getattr(request.app.state, "scheduler", None)
    return {"enabled": running is not None, "jobs": scheduler.describe(settings)}
