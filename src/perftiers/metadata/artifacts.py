"""Versioned `macrodata_artifact` rows: classification_spec versions and mart_refresh records.

Rows are only ever inserted. A new version is `max(version) + 1` for its kind; the unique
(kind, version) constraint turns two concurrent writers into one success and one conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa

from perftiers.errors import PreconditionFailed
from perftiers.metadata.db import macrodata_artifact
from perftiers.rules import DEFAULT_SPEC, ClassificationSpec

CLASSIFICATION_SPEC = "classification_spec"
MART_REFRESH = "mart_refresh"
SYSTEM = "system (defaults)"


@dataclass(frozen=True)
class Artifact:
    kind: str
    version: int
    body: dict[str, Any]
    created_at: datetime
    created_by: str


def _row(row: Any) -> Artifact:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    return Artifact(row.kind, row.version, dict(row.body), created, row.created_by)


def latest(engine: sa.Engine, kind: str) -> Artifact | None:
    t = macrodata_artifact
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t).where(t.c.kind == kind).order_by(t.c.version.desc()).limit(1)
        ).first()
    return _row(row) if row else None


def get(engine: sa.Engine, kind: str, version: int) -> Artifact | None:
    t = macrodata_artifact
    with engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.kind == kind, t.c.version == version)).first()
    return _row(row) if row else None


def history(engine: sa.Engine, kind: str, limit: int | None = None) -> list[Artifact]:
    t = macrodata_artifact
    query = sa.select(t).where(t.c.kind == kind).order_by(t.c.version.desc())
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def append(
    engine: sa.Engine, kind: str, body: dict[str, Any], created_by: str, *, expected_version: int | None = None,
    also: Callable[[sa.Connection], Any] | None = None,
) -> Artifact:
    """Insert the next version. With `expected_version`, fail if the latest is another one.

    `also(conn)` writes more rows in the same transaction (the alerts outbox of a refresh)."""
    t = macrodata_artifact
    now = datetime.now(timezone.utc)
    try:
        with engine.begin() as conn:
            current = conn.execute(sa.select(sa.func.max(t.c.version)).where(t.c.kind == kind)).scalar() or 0
            if expected_version is not None and current != expected_version:
                raise PreconditionFailed(
                    f"{kind} changed since you read it (now version {current}); reload and try again.",
                    details={"current_version": current, "expected_version": expected_version},
                )
            version = current + 1
            conn.execute(
                sa.insert(t).values(kind=kind, version=version, body=body, created_at=now, created_by=created_by)
            )
            if also is not None:
                also(conn)
    except sa.exc.IntegrityError as exc:
        if expected_version is not None:
            raise PreconditionFailed(
                f"{kind} was changed by someone else at the same moment; reload and try again.",
                details={"expected_version": expected_version},
            ) from exc
        return append(engine, kind, body, created_by, also=also)
    return Artifact(kind, version, body, now, created_by)


# -- classification_spec -------------------------------------------------------------------

def current_spec(engine: sa.Engine) -> tuple[int, ClassificationSpec]:
    """The newest classification_spec; version 1 with the documented defaults on a fresh DB."""
    art = latest(engine, CLASSIFICATION_SPEC)
    if art is None:
        try:
            art = append(engine, CLASSIFICATION_SPEC, DEFAULT_SPEC.model_dump(), SYSTEM, expected_version=0)
        except PreconditionFailed:
            art = latest(engine, CLASSIFICATION_SPEC)
            assert art is not None
    return art.version, ClassificationSpec(**art.body)


def spec_at(engine: sa.Engine, version: int) -> ClassificationSpec:
    art = get(engine, CLASSIFICATION_SPEC, version)
    if art is None:
        if version == 0:
            return DEFAULT_SPEC
        raise LookupError(f"classification_spec version {version} does not exist")
    return ClassificationSpec(**art.body)


def applied_spec_version(engine: sa.Engine) -> int | None:
    """The spec version the latest refresh applied, if any refresh ran."""
    art = latest(engine, MART_REFRESH)
    return int(art.body["spec_version"]) if art and "spec_version" in art.body else None
