"""Tables of the metadata DB and the engine that reaches it (SQLite or PostgreSQL by URL).

The schema is created on first use: missing tables, then the `MIGRATIONS` a database has not had
(recorded in `schema_migration`). On PostgreSQL both run under an advisory lock, so processes
starting at once do not race: one does the work, the others wait and find it done.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Callable

import sqlalchemy as sa
from sqlalchemy import event

metadata = sa.MetaData()

macrodata_artifact = sa.Table(
    "macrodata_artifact",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("kind", "version", name="uq_artifact_kind_version"),
)

job_lock = sa.Table(
    "job_lock",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

api_token = sa.Table(
    "api_token",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

performance_override = sa.Table(
    "performance_override",
    metadata,
    sa.Column("artifact_id", sa.String(512), primary_key=True),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

api_session = sa.Table(
    "api_session",
    metadata,
    sa.Column("id_hash", sa.String(128), primary_key=True),
    sa.Column("token_id", sa.Integer, nullable=False),
    sa.Column("csrf_hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

schedule_claim = sa.Table(
    "schedule_claim",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("claimed_by", sa.String(200), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
)

sales_day_change = sa.Table(
    "sales_day_change",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)
"""Store-local days whose order lines a sync added or changed (`perftiers.metadata.sales_changes`)."""

sync_input = sa.Table(
    "sync_input",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("products_snapshot", sa.BigInteger, nullable=True),
    sa.Column("order_lines_snapshot", sa.BigInteger, nullable=True),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
"""The input each source's last sync read, and the raw snapshots it left (`perftiers.sync`)."""

# -- webhooks: subscriptions, the outbox of events, one delivery per (event, subscription) ----
# (perftiers.metadata.webhooks; the secret is kept to sign with, and never returned after creation)
webhook_subscription = sa.Table(
    "webhook_subscription",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("tiers", sa.JSON, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.String(500), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

webhook_event = sa.Table(
    "webhook_event",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

webhook_delivery = sa.Table(
    "webhook_delivery",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), sa.ForeignKey("webhook_event.id", ondelete="CASCADE"), nullable=False),
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("webhook_subscription.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claim", sa.String(64), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("event_id", "subscription_id", name="uq_webhook_delivery_event_subscription"),
    sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_delivery_subscription", "subscription_id", "id"),
)

schema_migration = sa.Table(
    "schema_migration",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

Migration = Callable[[sa.Connection], None]

MIGRATIONS: list[tuple[str, Migration]] = []
"""Changes to tables that already exist in deployed databases, applied once each, in order, on start.
New tables need no entry (`create_all` adds them). Append only: never edit, reorder or remove an
entry that has shipped; name each `NNNN-what-it-does`."""

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine_for(url: str) -> sa.Engine:
    """One engine per URL per process, with the schema in place."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
        return engine


def _create(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path:
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        metadata.create_all(engine)
        with engine.begin() as conn:
            migrate(conn)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7243001)"))
            metadata.create_all(conn)
            migrate(conn)
    return engine


def migrate(conn: sa.Connection) -> list[str]:
    """Apply the migrations this database has not had; returns their ids.

    Runs in the caller's transaction: on PostgreSQL under the advisory lock `_create` holds, so of
    processes starting at once one migrates and the others find the work done.
    """
    done = set(conn.execute(sa.select(schema_migration.c.id)).scalars())
    applied = []
    for migration_id, apply in MIGRATIONS:
        if migration_id in done:
            continue
        apply(conn)
        conn.execute(sa.insert(schema_migration).values(id=migration_id, applied_at=datetime.now(timezone.utc)))
        applied.append(migration_id)
    return applied


def dispose_all() -> None:
    """Close every engine (tests and forked workers)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
