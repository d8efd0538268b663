"""Helpers that drive the real pipeline (sync -> refresh) in tests and read its tables back."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa

from perftiers.lakehouse import catalog
from perftiers.metadata import artifacts
from perftiers.metadata.db import engine_for
from perftiers.pipeline.runs import run_job, telemetry
from perftiers.refresh.mart import refresh_mart
from perftiers.rules import ClassificationSpec
from perftiers.settings import Settings
from perftiers.sync import sync_store

FLAGS = ("is_top_riser", "is_winner", "is_banana", "is_archive")


def set_spec(settings: Settings, **thresholds: int) -> int:
    """Append a classification_spec version (unnamed thresholds keep their defaults); its version."""
    body = ClassificationSpec(**thresholds).model_dump()
    engine = engine_for(settings.resolved_database_url)
    return artifacts.append(engine, artifacts.CLASSIFICATION_SPEC, body, "test").version


def sync(settings: Settings, source: Any) -> dict[str, Any]:
    return run_job(settings, "sync", "cli", lambda ctx: sync_store(ctx, source))


def refresh(settings: Settings, as_of: date | None, *, full: bool = False) -> dict[str, Any]:
    return run_job(settings, "refresh", "cli", lambda ctx: refresh_mart(ctx, as_of, full=full))


def table_arrow(settings: Settings, ident: tuple[str, str]) -> pa.Table:
    return catalog.load(settings, ident).scan().to_arrow()


def performance(settings: Settings) -> dict[str, dict[str, Any]]:
    """measurement.performance as {artifact_id: row}."""
    return {r["artifact_id"]: r for r in table_arrow(settings, catalog.PERFORMANCE).to_pylist()}


def flags(row: dict[str, Any]) -> set[str]:
    return {f for f in FLAGS if row[f]}


def snapshot_ids(settings: Settings) -> dict[str, int | None]:
    return {
        catalog.table_name(ident): catalog.current_snapshot_id(catalog.load_existing(settings, ident))
        for ident in catalog.TABLE_SCHEMAS
    }


def runs(settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    return telemetry(settings).list(limit=limit)


def close(settings: Settings) -> None:
    """Drop this process's cached engines and catalogs (many short-lived data folders per test)."""
    from perftiers.metadata import db

    props_key = (settings.catalog_name, tuple(sorted(settings.catalog_properties.items())))
    with catalog._lock:
        cat = catalog._catalogs.pop(props_key, None)
    engine = getattr(cat, "engine", None)
    if engine is not None:
        engine.dispose()
    with db._engines_lock:
        engine = db._engines.pop(settings.resolved_database_url, None)
    if engine is not None:
        engine.dispose()
