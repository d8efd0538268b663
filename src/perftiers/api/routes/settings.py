"""`/api/performance-metrics/settings/classification`: thresholds, preview, history.

Every change is a new `classification_spec` version (append-only). It takes effect at the next
mart refresh; until then the response says `pending: true`. GET and PUT send `ETag: "v<n>"`;
PUT honours `If-Match` (412 when another version was saved since).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, Response

from perftiers.api import models
from perftiers.api.deps import EditorDep, EngineDep, MetaDbDep, ReaderDep, ViewerDep
from perftiers.errors import PreconditionFailed
from perftiers.metadata import artifacts
from perftiers.query import performance as perf
from perftiers.query.engine import QueryEngine
from perftiers.rules import ClassificationSpec

router = APIRouter(prefix="/api/performance-metrics/settings/classification", tags=["classification settings"])
_ETAG = re.compile(r'^\s*(?:W/)?"v(\d{1,9})"\s*$')


def _applied(db: sa.Engine, engine: QueryEngine) -> int | None:
    """The newer of the latest refresh record and the version the served rows carry.

    Versions only grow and a refresh applies the newest, so the larger one is right both when this
    replica has not yet loaded a new snapshot and when a refresh died between its table commit and
    its `mart_refresh` record.
    """
    current = engine.current()
    known = [v for v in (artifacts.applied_spec_version(db), current.spec_version if current else None) if v is not None]
    return max(known) if known else None


def _settings_body(db: sa.Engine, engine: QueryEngine, art: artifacts.Artifact) -> dict[str, Any]:
    applied = _applied(db, engine)
    return {**ClassificationSpec(**art.body).model_dump(), "version": art.version, "applied_version": applied,
            "pending": applied != art.version, "created_at": art.created_at, "created_by": art.created_by}


def _latest(db: sa.Engine) -> artifacts.Artifact:
    artifacts.current_spec(db)  # writes version 1 (the defaults) on a fresh metadata DB
    art = artifacts.latest(db, artifacts.CLASSIFICATION_SPEC)
    assert art is not None
    return art


@router.get("", response_model=models.ClassificationSettings, summary="Current thresholds")
def get_settings(_: ViewerDep, db: MetaDbDep, engine: EngineDep, response: Response) -> dict:
    art = _latest(db)
    response.headers["ETag"] = f'"v{art.version}"'
    return _settings_body(db, engine, art)


@router.put("", response_model=models.ClassificationSettings,
            responses={412: {"model": models.ErrorBody, "description": "If-Match names an older version"}},
            summary="Save new thresholds (they apply at the next refresh)")
def put_settings(
    principal: EditorDep,
    body: models.ClassificationThresholds,  # type: ignore[valid-type]
    db: MetaDbDep,
    engine: EngineDep,
    response: Response,
    if_match: Annotated[str | None, Header(description='`"v<version>"` from the ETag; 412 when stale.')] = None,
) -> dict:
    expected = None
    if if_match is not None and if_match.strip() != "*":
        match = _ETAG.match(if_match)
        if match is None:
            raise PreconditionFailed('If-Match must be an ETag of these settings, e.g. "v3".',
                                     details={"if_match": if_match[:100]})
        expected = int(match.group(1))
    spec = ClassificationSpec(**body.model_dump())
    art = artifacts.append(db, artifacts.CLASSIFICATION_SPEC, spec.model_dump(), principal.name,
                           expected_version=expected)
    response.headers["ETag"] = f'"v{art.version}"'
    return _settings_body(db, engine, art)


@router.post("/preview", response_model=models.ClassificationPreview, responses=models.NOT_READY,
             summary="Tier counts proposed thresholds would give now (nothing is saved)")
def preview(_: ViewerDep, body: models.ClassificationThresholds, reader: ReaderDep,  # type: ignore[valid-type]
            db: MetaDbDep, engine: EngineDep) -> dict:
    spec = ClassificationSpec(**body.model_dump())
    return {"thresholds": spec.model_dump(), "counts": perf.preview(reader.snapshot, reader.cur, spec),
            "current": perf.current_counts(reader.snapshot, reader.cur),
            "applied_version": _applied(db, engine)}


@router.get("/history", response_model=models.ClassificationHistory,
            summary="Every version, who saved it, and which refreshes applied it")
def history(_: ViewerDep, db: MetaDbDep, engine: EngineDep) -> dict:
    latest = _latest(db)
    refreshes: dict[int, list[dict[str, Any]]] = {}
    for art in artifacts.history(db, artifacts.MART_REFRESH, limit=5000):
        body = art.body
        refreshes.setdefault(int(body.get("spec_version", 0)), []).append({
            "run_id": body.get("run_id"), "snapshot_id": body.get("snapshot_id"), "as_of": body.get("as_of"),
            "refreshed_at": art.created_at})
    applied = _applied(db, engine)
    versions = [
        {**ClassificationSpec(**art.body).model_dump(), "version": art.version, "created_at": art.created_at,
         "created_by": art.created_by, "in_force": art.version == applied, "refreshes": refreshes.get(art.version, [])}
        for art in artifacts.history(db, artifacts.CLASSIFICATION_SPEC)
    ]
    return {"applied_version": applied, "latest_version": latest.version, "versions": versions}
