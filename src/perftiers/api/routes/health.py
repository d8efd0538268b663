"""Health checks (no auth): `/healthz` (the process answers) and `/readyz` (it can serve data)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from perftiers.api import models
from perftiers.api.deps import EngineDep, MetaDbDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=models.Health, summary="Liveness")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=models.Readiness, summary="Readiness: a snapshot is loaded, the DB answers",
            responses={503: {"model": models.Readiness, "description": "Not ready yet"}})
def readyz(engine: EngineDep, db: MetaDbDep):
    if engine.current() is None:
        try:
            engine.check(force=True)
        except Exception:
            pass  # reported through last_error
    try:
        with db.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        db_ok = True
    except Exception:
        db_ok = False
    current = engine.current()
    ready = current is not None and db_ok
    body = {
        "status": "ready" if ready else "not_ready",
        "snapshot_id": current.snapshot_id if current else None,
        "raw_snapshot_id": current.raw_snapshot_id if current else None,
        "rows": current.row_count if current else None,
        "loaded_at": current.loaded_at.isoformat() if current else None,
        "has_data": bool(current and current.ids.order_lines is not None),
        "metadata_db": db_ok,
        "last_error": engine.last_error,
    }
    if ready:
        return body
    return JSONResponse(body, status_code=503)
