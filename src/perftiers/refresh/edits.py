"""Manual changes to `measurement.performance` (the API's POST / PUT / DELETE).

Under the pipeline lock (so no sync or refresh interleaves; concurrent edits queue briefly): save the change as an override
(`perftiers.metadata.overrides`, which later refreshes apply again), then rewrite the table in
one overwrite commit: load the current rows, apply the change and reclassify every row with
`refresh.mart.classify` using the spec version the rows were classified with (the
applied spec, never a pending one), so flags and banana ranks follow the rules exactly as after a refresh. Then old
snapshots are expired and unreferenced files deleted (`lakehouse.maintenance`), as after a refresh.
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa

from perftiers import duck, fencing
from perftiers.errors import AlreadyRunning, Conflict, NotFound
from perftiers.lakehouse import catalog, maintenance
from perftiers.metadata import artifacts, locks, overrides
from perftiers.metadata.db import engine_for
from perftiers.refresh import mart
from perftiers.settings import Settings


def create(settings: Settings, artifact_id: str, fields: dict[str, Any], by: str) -> int | None:
    """Add a row (409 if it exists); returns the new snapshot id."""
    return _change(settings, overrides.Override(artifact_id, fields), by, must_exist=False)


def update(settings: Settings, artifact_id: str, fields: dict[str, Any], by: str) -> int | None:
    """Set the given fields of an existing row (404 if absent)."""
    return _change(settings, overrides.Override(artifact_id, fields), by, must_exist=True)


def delete(settings: Settings, artifact_id: str, by: str) -> int | None:
    """Remove a row (404 if absent); it stays removed across refreshes until the override goes."""
    return _change(settings, overrides.Override(artifact_id, {}, deleted=True), by, must_exist=True)


EDIT_HOLDER = "edit-"
EDIT_WAIT_SECONDS = 10.0


@contextmanager
def _pipeline_lock(engine: sa.Engine, settings: Settings) -> Iterator[None]:
    """The pipeline lock. Another edit (seconds) is waited for; a sync or refresh is a 409."""
    deadline = time.monotonic() + EDIT_WAIT_SECONDS
    while True:
        try:
            lock = locks.acquire(engine, lease_seconds=settings.lock_lease_seconds,
                                 holder=f"{EDIT_HOLDER}{uuid.uuid4().hex[:12]}")
            break
        except AlreadyRunning:
            holder = locks.current_holder(engine) or ""
            if not holder.startswith(EDIT_HOLDER) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        with fencing.fenced(lock.ensure_held):  # the overwrite and the upkeep commits check the lock first
            yield
    finally:
        lock.release()


def _change(settings: Settings, change: overrides.Override, by: str, *, must_exist: bool) -> int | None:
    engine = engine_for(settings.resolved_database_url)
    with _pipeline_lock(engine, settings):
        table = catalog.load(settings, catalog.PERFORMANCE)
        con = duck.connect(settings)
        try:
            con.register("performance_arrow", table.scan().to_arrow())
            con.execute("CREATE TABLE performance AS SELECT * FROM performance_arrow")
            con.unregister("performance_arrow")
            exists = con.execute("SELECT COUNT(*) FROM performance WHERE artifact_id = ?",
                                 [change.artifact_id]).fetchone()[0] > 0
            if must_exist and not exists:
                raise NotFound(f"no performance metric with artifact_id {change.artifact_id!r}",
                               details={"artifact_id": change.artifact_id})
            if not must_exist and exists:
                raise Conflict(f"a performance metric with artifact_id {change.artifact_id!r} already exists; "
                               "use PUT to change it", details={"artifact_id": change.artifact_id})
            stamps = con.execute(  # through Arrow: DuckDB's TIMESTAMPTZ -> Python needs pytz
                "SELECT MAX(spec_version) AS v, MAX(as_of) AS d, MAX(refreshed_at) AS t FROM performance"
            ).to_arrow_table().to_pylist()[0]
            spec_version, as_of, refreshed_at = stamps["v"], stamps["d"], stamps["t"]
            if spec_version is None:
                spec_version = artifacts.applied_spec_version(engine) or artifacts.current_spec(engine)[0]
            spec = artifacts.spec_at(engine, int(spec_version))
            previous = _stored(engine, change.artifact_id)
            overrides.save(engine, change, updated_by=by)
            try:
                data = mart.classify(con, "performance", [change], spec=spec, spec_version=int(spec_version),
                                     as_of=_as_date(as_of) or mart.today(settings),
                                     refreshed_at=refreshed_at or datetime.now(timezone.utc), tz=settings.timezone)
                props = {"perftiers.run_id": f"manual-{uuid.uuid4().hex[:12]}",
                         "perftiers.spec_version": str(spec_version),
                         "perftiers.change": "delete" if change.deleted else "upsert",
                         "perftiers.artifact_id": change.artifact_id[:200]}
                snapshot_id = mart.write_table(settings, catalog.PERFORMANCE, data, props)
            except BaseException:
                _restore(engine, change.artifact_id, previous)
                raise
        finally:
            con.close()
        maintenance.maintain(settings, catalog.PERFORMANCE)
        return snapshot_id


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _stored(engine: sa.Engine, artifact_id: str) -> overrides.Override | None:
    with engine.connect() as conn:
        return overrides.get(conn, artifact_id)


def _restore(engine: sa.Engine, artifact_id: str, previous: overrides.Override | None) -> None:
    """Put the override back as it was when the table rewrite failed."""
    overrides.remove(engine, artifact_id)
    if previous is not None:
        overrides.save(engine, previous, updated_by="restore")
