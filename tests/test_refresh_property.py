"""Property: the DuckDB mart refresh equals a small pure-Python reading of SPEC.md on random stores.

The reference below is written from SPEC.md alone (it does not import perftiers.rules): store-local
calendar days, net units and net revenue per line, launch day, the four windows capped at D, the
four flags, banana ranking over the whole table by (lifetime units, artifact_id bytes), and the
nominal tier by precedence.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from perftiers.lakehouse import catalog
from perftiers.settings import load_settings

from tests.pipeline import close, performance, refresh, set_spec, sync, table_arrow
from tests.storebuilder import MemorySource, line, product

TIMEZONES = ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham", "Europe/Berlin")
BASE = datetime(2024, 2, 20, tzinfo=timezone.utc)  # the 60 days cross the US and EU DST changes
SPAN_DAYS = 60
IDS = ("a", "B", "b", "sku-9", "sku-10", "Z", "é", "ä-1", "p_1", "p%2", "zz")

# Seconds of a UTC day close to some zone's local midnight (standard and daylight time).
_MIDNIGHTS = {0, 7 * 3600, 8 * 3600, 18 * 3600 + 1800, 10 * 3600 + 900, 11 * 3600 + 900, 22 * 3600, 23 * 3600}
EDGE_SECONDS = sorted({(m + d) % 86400 for m in _MIDNIGHTS for d in (-1, 0, 1)})


def timestamps(first_day: int, last_day: int) -> st.SearchStrategy[datetime]:
    second = st.one_of(st.sampled_from(EDGE_SECONDS), st.integers(0, 86399))
    return st.builds(lambda d, s: BASE + timedelta(days=d, seconds=s), st.integers(first_day, last_day), second)


money = st.integers(0, 9999).map(lambda cents: Decimal(cents) / 100)


def local_time(zone: ZoneInfo, day: date, second: int) -> datetime:
    """The UTC instant of `second` seconds after local midnight of `day` in `zone`."""
    naive = datetime.combine(day, time()) + timedelta(seconds=second)
    return naive.replace(tzinfo=zone).astimezone(timezone.utc)


@st.composite
def stores(draw):
    tz = draw(st.sampled_from(TIMEZONES))
    zone = ZoneInfo(tz)
    as_of = (BASE + timedelta(days=draw(st.integers(-3, SPAN_DAYS + 15)))).date()
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=8, unique=True))
    products = [
        product(
            pid,
            is_active=draw(st.booleans()),
            launched_at=draw(st.one_of(st.none(), timestamps(-20, SPAN_DAYS + 10))),
        )
        for pid in ids
    ]
    launched = {p["artifact_id"]: p["launched_at"] for p in products}
    local_second = st.one_of(st.sampled_from([0, 1, 43200, 86399]), st.integers(0, 86399))

    n_lines = draw(st.integers(0, 40))
    lines = []
    for i in range(n_lines):
        # now and then a line of a product the store does not list: no performance row
        pid = draw(st.sampled_from(ids + ["ghost"]) if i % 7 == 3 else st.sampled_from(ids))
        anchor = draw(st.sampled_from(("free", "free", "launch", "as_of")))
        if anchor == "launch" and launched.get(pid) is not None:
            # on the edges of the launch windows (store-local days L-1, L, L+6, L+7, L+13, L+14)
            launch_day = launched[pid].astimezone(zone).date()
            day = launch_day + timedelta(days=draw(st.sampled_from([-1, 0, 6, 7, 13, 14])))
            ordered_at = local_time(zone, day, draw(local_second))
        elif anchor == "as_of":
            # on the edges of the 30-day window and of D (D-30, D-29, D, D+1)
            day = as_of + timedelta(days=draw(st.sampled_from([-30, -29, -1, 0, 1])))
            ordered_at = local_time(zone, day, draw(local_second))
        else:
            ordered_at = draw(timestamps(-5, SPAN_DAYS))
        quantity = draw(st.integers(1, 6))
        lines.append(
            line(
                f"line-{i}",
                pid,
                ordered_at,
                quantity,
                order_id=f"order-{draw(st.integers(0, max(1, n_lines // 2)))}",
                unit_price=str(draw(money)),
                discount=str(draw(st.one_of(st.just(Decimal(0)), money))),
                refunded_quantity=draw(st.integers(0, quantity)),
                cancelled=draw(st.integers(0, 3)) == 0,
            )
        )
    spec = dict(
        top_riser_7_day_threshold=draw(st.integers(0, 15)),
        top_riser_14_day_threshold=draw(st.integers(0, 25)),
        winner_30_day_threshold=draw(st.integers(0, 25)),
        banana_count=draw(st.integers(0, 10)),
    )
    return products, lines, spec, tz, as_of


# -- the reference --------------------------------------------------------------------------------

@dataclass
class Sale:
    day: date
    units: int
    revenue: Decimal
    order_id: str
    cancelled: bool


def reference(products, lines, spec, tz, as_of):
    """(performance rows by artifact_id, daily sales by (artifact_id, day)) as SPEC.md defines them."""
    zone = ZoneInfo(tz)

    def local_day(ts: datetime) -> date:
        return ts.astimezone(zone).date()

    sales: dict[str, list[Sale]] = defaultdict(list)
    for ln in lines:
        day = local_day(ln["ordered_at"])
        if day > as_of:
            continue
        if ln["cancelled"]:
            units, revenue = 0, Decimal(0)
        else:
            units = ln["quantity"] - ln["refunded_quantity"]
            revenue = units * ln["unit_price"] - ln["discount"]
        sales[ln["artifact_id"]].append(Sale(day, units, revenue, ln["order_id"], ln["cancelled"]))

    daily: dict[tuple[str, date], tuple[int, Decimal, int]] = {}
    for pid, items in sales.items():
        for day in {s.day for s in items}:
            today = [s for s in items if s.day == day]
            daily[(pid, day)] = (
                sum(s.units for s in today),
                sum((s.revenue for s in today), Decimal(0)),
                len({s.order_id for s in today if not s.cancelled}),
            )

    rows = {}
    window_start = as_of - timedelta(days=29)
    for p in products:
        pid = p["artifact_id"]
        items = sales[pid]
        if p["launched_at"] is not None:
            launch = local_day(p["launched_at"])
        else:
            launch = min((s.day for s in items if not s.cancelled), default=None)

        def units(first: date | None, last: date | None) -> int:
            if first is None:
                return 0
            return sum(s.units for s in items if first <= s.day <= last)

        row = dict(
            launch_date=launch,
            sales_first_7_days=units(launch, launch and launch + timedelta(days=6)),
            sales_first_14_days=units(launch, launch and launch + timedelta(days=13)),
            sales_last_30_days=units(window_start, as_of),
            aggregate_measurement_value=sum(s.units for s in items),
            revenue_last_30_days=sum((s.revenue for s in items if s.day >= window_start), Decimal(0)),
            lifetime_revenue=sum((s.revenue for s in items), Decimal(0)),
            is_active=p["is_active"],
        )
        row["is_top_riser"] = (row["sales_first_7_days"] >= spec["top_riser_7_day_threshold"]
                               or row["sales_first_14_days"] >= spec["top_riser_14_day_threshold"])
        row["is_winner"] = row["sales_last_30_days"] >= spec["winner_30_day_threshold"]
        row["is_archive"] = not p["is_active"] and row["sales_last_30_days"] == 0
        rows[pid] = row

    ranked = sorted(rows, key=lambda pid: (rows[pid]["aggregate_measurement_value"], pid.encode("utf-8")))
    bananas = set(ranked[: spec["banana_count"]])
    for pid, row in rows.items():
        row["is_banana"] = pid in bananas
        row["nominal_classification"] = next(
            (tier for tier, flag in (("top_riser", "is_top_riser"), ("winner", "is_winner"),
                                     ("banana", "is_banana"), ("archive_candidate", "is_archive")) if row[flag]),
            "none",
        )
    return rows, daily


# -- the property --------------------------------------------------------------------------------

COMPARED = ("launch_date", "sales_first_7_days", "sales_first_14_days", "sales_last_30_days",
            "aggregate_measurement_value", "revenue_last_30_days", "lifetime_revenue", "is_active",
            "is_top_riser", "is_winner", "is_banana", "is_archive", "nominal_classification")


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stores())
def test_refresh_equals_the_reference_implementation(store):
    products, lines, spec, tz, as_of = store
    with tempfile.TemporaryDirectory(prefix="perftiers-prop-") as tmp:
        s = load_settings(home=Path(tmp) / "data", timezone=tz, database_url=None)
        try:
            sync(s, MemorySource(products, lines))
            version = set_spec(s, **spec)
            record = refresh(s, as_of)
            got = performance(s)
            got_daily = {
                (d["artifact_id"], d["day"]): (d["net_units"], d["revenue"], d["orders"])
                for d in table_arrow(s, catalog.DAILY_SALES).to_pylist()
            }
        finally:
            close(s)

    want, want_daily = reference(products, lines, spec, tz, as_of)
    assert set(got) == set(want)
    for pid, row in want.items():
        actual = {k: got[pid][k] for k in COMPARED}
        assert actual == row, (pid, tz, as_of, spec)
        assert got[pid]["spec_version"] == version and got[pid]["as_of"] == as_of
    assert got_daily == want_daily
    assert record["spec_version"] == version
    counts = record["counts"]
    assert counts["products"] == len(want)
    assert counts["bananas"] == sum(r["is_banana"] for r in want.values()) == min(spec["banana_count"], len(want))
    assert counts["top_risers"] == sum(r["is_top_riser"] for r in want.values())
