"""Metadata DB migrations: each applies once per database, on start, and doctor reports them."""

from __future__ import annotations

import sqlalchemy as sa

from perftiers import doctor
from perftiers.metadata import db


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_a_migration_applies_once_and_is_recorded(settings, monkeypatch):
    url = settings.resolved_database_url
    db.engine_for(url)  # a database created by the previous version
    db.dispose_all()
    calls = []

    def add_column(conn: sa.Connection) -> None:
        calls.append(1)
        conn.execute(sa.text("ALTER TABLE job_lock ADD COLUMN note VARCHAR(20)"))

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, ("9999-test-add-a-column", add_column)])
    engine = db.engine_for(url)
    assert "note" in _columns(engine, "job_lock")
    db.dispose_all()
    db.engine_for(url)  # a restart: nothing left to do
    assert calls == [1]
    check = next(c for c in doctor.run(settings).checks if c.name == "schema")
    assert check.status == "ok" and "1 migration(s) applied" in check.detail
    db.dispose_all()


def test_doctor_warns_about_a_database_from_a_newer_version(settings):
    engine = db.engine_for(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(db.schema_migration).values(id="9998-from-the-future", applied_at=sa.func.now()))
    check = next(c for c in doctor.run(settings).checks if c.name == "schema")
    assert check.status == "warn" and "9998-from-the-future" in check.detail and "upgrade" in check.fix
    db.dispose_all()
