"""The Iceberg catalog and the five tables perftiers owns.

Catalog properties come from settings and reach PyIceberg unchanged. Tables are created on first
use with properties that keep metadata small under frequent commits (`TABLE_PROPERTIES`:
manifests merged, old metadata.json files deleted).
"""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.table import Table
from pyiceberg.transforms import MonthTransform

from perftiers import faults, fencing
from perftiers.lakehouse import schemas
from perftiers.settings import Settings

PRODUCTS = ("raw", "products")
ORDER_LINES = ("raw", "order_lines")
PERFORMANCE = ("measurement", "performance")
DAILY_SALES = ("measurement", "daily_sales")
TIER_HISTORY = ("measurement", "tier_history")

TABLE_SCHEMAS: dict[tuple[str, str], pa.Schema] = {
    PRODUCTS: schemas.PRODUCTS,
    ORDER_LINES: schemas.ORDER_LINES,
    PERFORMANCE: schemas.PERFORMANCE,
    DAILY_SALES: schemas.DAILY_SALES,
    TIER_HISTORY: schemas.TIER_HISTORY,
}

TABLE_PROPERTIES = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "10",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
    "write.parquet.compression-codec": "zstd",
}

_catalogs: dict[tuple, Catalog] = {}
_lock = threading.Lock()


def catalog(settings: Settings) -> Catalog:
    """The configured catalog (cached per process and configuration)."""
    props = settings.catalog_properties
    key = (settings.catalog_name, tuple(sorted(props.items())))
    with _lock:
        cat = _catalogs.get(key)
        if cat is None:
            if not settings.catalog:
                settings.home.mkdir(parents=True, exist_ok=True)
                (settings.home / "warehouse").mkdir(exist_ok=True)
            cat = _fenced(faults.instrument(_load_catalog(settings.catalog_name, props)))
            _catalogs[key] = cat
        return cat


def _fenced(cat: Catalog) -> Catalog:
    """Every table commit (and table creation) first checks that the job making it still holds
    the pipeline lock (`perftiers.fencing`; a no-op outside a job)."""
    commit = cat.commit_table

    def commit_table(table: Any, requirements: Any, updates: Any) -> Any:
        fencing.check()
        return commit(table, requirements, updates)

    cat.commit_table = commit_table  # type: ignore[method-assign]
    return cat


CATALOG_INIT_LOCK = 7243002
"""PostgreSQL advisory lock key held while a SQL catalog creates its tables."""


def _load_catalog(name: str, props: dict[str, str]) -> Catalog:
    """`load_catalog`, serialised across processes for a SQL catalog on PostgreSQL.

    PyIceberg's SqlCatalog creates its tables on first use with a check-then-create that races:
    two replicas starting at once on a fresh database fail with `DuplicateTable` or a
    `pg_type` unique violation. Holding an advisory lock on another connection meanwhile makes the
    second process wait and then find the tables.
    """
    uri = props.get("uri", "")
    if props.get("type", "sql") != "sql" or not uri.startswith("postgresql"):
        return load_catalog(name, **props)
    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CATALOG_INIT_LOCK})
            return load_catalog(name, **props)
    finally:
        engine.dispose()


def table_name(ident: tuple[str, str]) -> str:
    return ".".join(ident)


def load(settings: Settings, ident: tuple[str, str]) -> Table:
    """Load a table, creating it (and its namespace) when absent."""
    cat = catalog(settings)
    try:
        return cat.load_table(ident)
    except NoSuchTableError:
        pass
    try:
        cat.create_namespace(ident[0])
    except NamespaceAlreadyExistsError:
        pass
    try:
        # One commit creates the table with its partition spec: a process killed in between
        # must not leave an unpartitioned table that later runs would keep.
        with cat.create_table_transaction(ident, schema=TABLE_SCHEMAS[ident], properties=TABLE_PROPERTIES) as tx:
            if ident == ORDER_LINES:
                # Month, not day: PyIceberg 0.12 splits a write by filtering the whole batch once per
                # partition (2.3 s of a 1M-line sync with ~730 day partitions, 0.1 s with 24 months), and
                # day partitions of a small store are ~1,400-row files. Month still prunes date ranges.
                with tx.update_spec() as spec:
                    spec.add_field("ordered_at", MonthTransform(), "ordered_month")
            elif ident == DAILY_SALES:
                # An incremental refresh replaces the rows of the days it recomputed: with month
                # partitions only those months' files are rewritten (`refresh.daily_sales`).
                with tx.update_spec() as spec:
                    spec.add_field("day", MonthTransform(), "day_month")
    except TableAlreadyExistsError:
        pass
    return cat.load_table(ident)


def load_existing(settings: Settings, ident: tuple[str, str]) -> Table | None:
    try:
        return catalog(settings).load_table(ident)
    except NoSuchTableError:
        return None


def current_snapshot_id(table: Table | None) -> int | None:
    if table is None:
        return None
    snap = table.current_snapshot()
    return snap.snapshot_id if snap else None
