"""A small store with known values, built through the real pipeline (sync -> refresh).

Reference date AS_OF = 2025-03-31 (UTC). Thresholds: top riser 10 (7 days) / 15 (14 days),
winner 20, banana_count 2. Expected tiers (worked out by hand from SPEC.md):

| artifact | 7d | 14d | 30d | lifetime | active | flags |
|---|---|---|---|---|---|---|
| SKU-001 Alpha Tee        | 12 | 25 | 25 | 25 | yes | top_riser, winner |
| SKU-002 Beta Hoodie      |  0 |  0 | 28 | 28 | yes | winner |
| SKU-003 Gamma_Cap 100%   |  1 |  1 |  0 |  1 | yes | banana |
| sku-004 delta mug        |  0 |  0 |  0 |  5 | no  | archive_candidate |
| SKU-005 Epsilon Scarf    |  0 |  0 |  0 |  0 | no  | banana, archive_candidate |
| SKU-006 Zeta Hat         |  0 |  0 |  0 |  8 | yes | (none) |
| SKU-007 ALPHA Socks      |  3 |  3 |  3 |  3 | yes | (none) |
| SKU-008 Eta 50_50 Blend  | 10 | 10 | 10 | 10 | yes | top_riser |
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from perftiers.metadata import artifacts
from perftiers.metadata.db import engine_for
from perftiers.pipeline.runs import run_job
from perftiers.refresh.mart import refresh_mart
from perftiers.settings import Settings
from perftiers.sync import sync_store
from tests.storebuilder import MemorySource, line, product

AS_OF = date(2025, 3, 31)
THRESHOLDS = {"top_riser_7_day_threshold": 10, "top_riser_14_day_threshold": 15,
              "winner_30_day_threshold": 20, "banana_count": 2}


def ts(y: int, m: int, d: int, h: int = 12, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=timezone.utc)


PRODUCTS = [
    product("SKU-001", name="Alpha Tee", product_type="Tee", vendor="Acme", tags=["color:red", "size:M"],
            launched_at=ts(2025, 3, 21, 9)),
    product("SKU-002", name="Beta Hoodie", product_type="Hoodie", vendor="Acme", tags=["color:blue", "size:L"],
            launched_at=ts(2024, 1, 1)),
    product("SKU-003", name="Gamma_Cap 100%", product_type="Cap", vendor="Bolt", tags=["color:red"],
            launched_at=ts(2024, 6, 1)),
    product("sku-004", name="delta mug", product_type="Mug", vendor="Bolt", tags=["size:M"], is_active=False,
            launched_at=ts(2024, 2, 1)),
    product("SKU-005", name="Epsilon Scarf", product_type="Scarf", vendor="Acme", tags=[], is_active=False,
            launched_at=ts(2023, 1, 1)),
    product("SKU-006", name="Zeta Hat", product_type="Hat", vendor="Crown", tags=["season:summer", "gift"],
            launched_at=ts(2024, 3, 1)),
    product("SKU-007", name="ALPHA Socks", product_type="Socks", vendor="Crown", tags=["color:red", "size:S"],
            launched_at=ts(2025, 3, 1, 8)),
    product("SKU-008", name="Eta 50_50 Blend", product_type="Tee", vendor="Crown", tags=["color:blue"],
            launched_at=ts(2025, 3, 28, 8)),
]

LINES = [
    line("L1", "SKU-001", ts(2025, 3, 22, 10), 12, order_id="o1", unit_price="20.00"),
    line("L2", "SKU-001", ts(2025, 3, 29, 12), 13, order_id="o2", unit_price="20.00", discount="10"),
    line("L3", "SKU-008", ts(2025, 3, 29, 12), 10, order_id="o2", unit_price="15.00"),
    line("L4", "SKU-002", ts(2025, 3, 26, 9), 30, order_id="o3", unit_price="50.00", refunded_quantity=2),
    line("L5", "SKU-002", ts(2025, 3, 27, 9), 5, order_id="o4", unit_price="50.00", cancelled=True),
    line("L6", "SKU-003", ts(2024, 6, 10, 8), 1, order_id="o5", unit_price="25.00"),
    line("L7", "sku-004", ts(2024, 12, 1, 8), 5, order_id="o6", unit_price="12.00"),
    line("L8", "SKU-006", ts(2025, 2, 15, 8), 8, order_id="o7", unit_price="30.00"),
    line("L9", "SKU-007", ts(2025, 3, 2, 23, 30), 3, order_id="o8", unit_price="9.99"),
    line("L10", "SKU-001", ts(2025, 4, 2, 10), 4, order_id="o9", unit_price="20.00"),
]

EXPECTED_FLAGS = {
    "SKU-001": ["top_riser", "winner"],
    "SKU-002": ["winner"],
    "SKU-003": ["banana"],
    "sku-004": ["archive_candidate"],
    "SKU-005": ["banana", "archive_candidate"],
    "SKU-006": [],
    "SKU-007": [],
    "SKU-008": ["top_riser"],
}
DEFAULT_ORDER = ["SKU-001", "SKU-008", "SKU-002", "SKU-003", "SKU-005", "sku-004", "SKU-006", "SKU-007"]
"""Tier by precedence (top riser, winner, banana, archive candidate, none), then lifetime units DESC."""
SUMMARY = {"total_artifacts": 8, "top_risers": 2, "winners": 2, "bananas": 2, "archive_candidates": 2,
           "aggregate_measurement_total": 80, "sales_last_30_days": 66,
           # one refresh: no previous one to compare with (tests/api/test_history.py has two)
           "previous_as_of": None, "entered": dict.fromkeys(("top_riser", "winner", "banana", "archive_candidate"), 0),
           "left": dict.fromkeys(("top_riser", "winner", "banana", "archive_candidate"), 0)}


def source(products=None, lines=None) -> MemorySource:
    return MemorySource(list(products or PRODUCTS), list(lines or LINES))


def set_thresholds(settings: Settings, by: str = "test", **thresholds: int) -> int:
    db = engine_for(settings.resolved_database_url)
    return artifacts.append(db, artifacts.CLASSIFICATION_SPEC, {**THRESHOLDS, **thresholds}, by).version


def sync(settings: Settings, src: MemorySource | None = None) -> dict:
    return run_job(settings, "sync", "cli", lambda ctx: sync_store(ctx, src or source()))


def refresh(settings: Settings, as_of: date = AS_OF) -> dict:
    return run_job(settings, "refresh", "cli", lambda ctx: refresh_mart(ctx, as_of))


def build(settings: Settings) -> Settings:
    """Thresholds, one sync and one refresh as of AS_OF."""
    set_thresholds(settings)
    sync(settings)
    refresh(settings)
    return settings
