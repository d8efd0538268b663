"""Every metric window and tier rule of SPEC.md, through the real sync and mart refresh.

Each test builds a tiny store, syncs it (MemorySource -> raw tables), refreshes the mart for a
reference date D and checks the computed metrics, flags and nominal tier of each row.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from perftiers.lakehouse import catalog
from perftiers.metadata import artifacts
from perftiers.metadata.db import engine_for
from perftiers.rules import DEFAULT_SPEC
from perftiers.settings import load_settings

from tests.pipeline import close, flags, performance, refresh, set_spec, sync, table_arrow
from tests.storebuilder import MemorySource, line, product

D = date(2024, 6, 30)
HIGH = 10**6  # a threshold nothing reaches


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=timezone.utc)


def days(n: int) -> timedelta:
    return timedelta(days=n)


class Store:
    """Products and lines with generated line ids."""

    def __init__(self) -> None:
        self.products: list[dict] = []
        self.lines: list[dict] = []

    def product(self, artifact_id: str, launched: date | datetime | None = None, **kw) -> None:
        if isinstance(launched, date) and not isinstance(launched, datetime):
            launched = at(launched, 9)
        self.products.append(product(artifact_id, launched_at=launched, **kw))

    def sale(self, artifact_id: str, when: date | datetime, quantity: int = 1, **kw) -> None:
        if isinstance(when, date) and not isinstance(when, datetime):
            when = at(when)
        self.lines.append(line(f"l{len(self.lines) + 1}", artifact_id, when, quantity, **kw))

    def source(self) -> MemorySource:
        return MemorySource(self.products, self.lines)


def run(settings, store: Store, as_of: date = D, **thresholds: int) -> dict[str, dict]:
    """Sync the store, set the thresholds (if any), refresh for `as_of`; the performance rows."""
    sync(settings, store.source())
    version = set_spec(settings, **thresholds) if thresholds else None
    record = refresh(settings, as_of)
    rows = performance(settings)
    assert {r["as_of"] for r in rows.values()} <= {as_of}
    if version is not None:
        assert record["spec_version"] == version
        assert {r["spec_version"] for r in rows.values()} <= {version}
    return rows


ONLY = dict(top_riser_7_day_threshold=HIGH, top_riser_14_day_threshold=HIGH, winner_30_day_threshold=HIGH,
            banana_count=0)


def spec(**changes: int) -> dict[str, int]:
    return {**ONLY, **changes}


# -- top riser ---------------------------------------------------------------------------------

def test_top_riser_7_day_threshold_is_inclusive_and_window_is_launch_plus_6(settings):
    launch = date(2024, 6, 1)
    s = Store()
    s.product("at", launch)
    s.sale("at", launch, 2)
    s.sale("at", launch + days(6), 3)
    s.sale("at", launch + days(7), 100)      # day 8: only the 14-day window
    s.product("below", launch)
    s.sale("below", launch - days(1), 7)     # before launch: in no launch window
    s.sale("below", launch, 1)
    s.sale("below", launch + days(6), 3)
    s.sale("below", launch + days(7), 50)
    rows = run(settings, s, **spec(top_riser_7_day_threshold=5))

    at_, below = rows["at"], rows["below"]
    assert (at_["sales_first_7_days"], at_["sales_first_14_days"]) == (5, 105)
    assert (below["sales_first_7_days"], below["sales_first_14_days"]) == (4, 54)
    assert at_["launch_date"] == below["launch_date"] == launch
    assert below["aggregate_measurement_value"] == 61
    assert below["sales_last_30_days"] == 54  # D-29 is June 1; May 31 is out
    assert at_["is_top_riser"] and at_["nominal_classification"] == "top_riser"
    assert not below["is_top_riser"] and below["nominal_classification"] == "none"


def test_top_riser_14_day_threshold_is_inclusive_and_window_is_launch_plus_13(settings):
    launch = date(2024, 6, 1)
    s = Store()
    for pid, last_day_units in (("at", 5), ("below", 4)):
        s.product(pid, launch)
        s.sale(pid, launch, 3)
        s.sale(pid, launch + days(13), last_day_units)
        s.sale(pid, launch + days(14), 50)   # day 15: no launch window
    rows = run(settings, s, **spec(top_riser_14_day_threshold=8))

    assert (rows["at"]["sales_first_7_days"], rows["at"]["sales_first_14_days"]) == (3, 8)
    assert (rows["below"]["sales_first_7_days"], rows["below"]["sales_first_14_days"]) == (3, 7)
    assert rows["at"]["is_top_riser"] and rows["at"]["nominal_classification"] == "top_riser"
    assert not rows["below"]["is_top_riser"]


def test_zero_thresholds_flag_every_product(settings):
    """`>=` with a threshold of 0 holds for a product without any sale."""
    s = Store()
    s.product("quiet", date(2023, 1, 1))
    s.product("unlaunched")
    rows = run(settings, s, top_riser_7_day_threshold=0, top_riser_14_day_threshold=HIGH,
               winner_30_day_threshold=0, banana_count=0)
    for row in rows.values():
        assert flags(row) == {"is_top_riser", "is_winner"}
        assert row["nominal_classification"] == "top_riser"
        assert row["sales_first_7_days"] == row["sales_last_30_days"] == 0


def test_default_spec_applies_on_a_fresh_metadata_db(settings):
    top7 = DEFAULT_SPEC.top_riser_7_day_threshold
    assert 2 <= DEFAULT_SPEC.banana_count and top7 < DEFAULT_SPEC.top_riser_14_day_threshold
    launch = date(2024, 6, 1)
    s = Store()
    s.product("at", launch)
    s.sale("at", launch, top7)
    s.product("below", launch)
    s.sale("below", launch + days(1), top7 - 1)
    rows = run(settings, s)  # no spec appended: version 1 with the documented defaults
    assert {r["spec_version"] for r in rows.values()} == {1}
    assert rows["at"]["is_top_riser"] and not rows["below"]["is_top_riser"]
    assert rows["at"]["is_banana"] and rows["below"]["is_banana"]  # 2 products <= banana_count
    assert rows["below"]["nominal_classification"] == (
        "winner" if top7 - 1 >= DEFAULT_SPEC.winner_30_day_threshold else "banana")
    _, current = artifacts.current_spec(engine_for(settings.resolved_database_url))
    assert current == DEFAULT_SPEC


# -- winner ------------------------------------------------------------------------------------

def test_winner_threshold_is_inclusive_and_window_is_d_minus_29_to_d(settings):
    s = Store()
    for pid, units_on_d in (("at", 6), ("below", 5)):
        s.product(pid, date(2023, 1, 1))
        s.sale(pid, D - days(30), 100)                 # May 31: out of the window
        s.sale(pid, D - days(29), 4)                   # June 1: first day in
        s.sale(pid, at(D, 23, 59, 59), units_on_d)     # last second of D
    rows = run(settings, s, **spec(winner_30_day_threshold=10))

    assert rows["at"]["sales_last_30_days"] == 10 and rows["at"]["aggregate_measurement_value"] == 110
    assert rows["below"]["sales_last_30_days"] == 9 and rows["below"]["aggregate_measurement_value"] == 109
    assert rows["at"]["is_winner"] and rows["at"]["nominal_classification"] == "winner"
    assert not rows["below"]["is_winner"] and rows["below"]["nominal_classification"] == "none"


# -- banana ------------------------------------------------------------------------------------

def test_banana_count_zero_and_larger_than_the_table(settings):
    s = Store()
    for i, pid in enumerate(("p1", "p2", "p3", "p4")):
        s.product(pid, date(2023, 1, 1))
        if i:
            s.sale(pid, date(2024, 1, 1), i)
    rows = run(settings, s, **spec(banana_count=0))
    assert not any(r["is_banana"] for r in rows.values())

    for count, expected in ((1, {"p1"}), (3, {"p1", "p2", "p3"}), (4, set(rows)), (1000, set(rows))):
        version = set_spec(settings, **spec(banana_count=count))
        refresh(settings, D)
        rows = performance(settings)
        assert {pid for pid, r in rows.items() if r["is_banana"]} == expected, count
        assert {r["spec_version"] for r in rows.values()} == {version}
        assert all(r["nominal_classification"] == ("banana" if r["is_banana"] else "none") for r in rows.values())


def test_banana_ties_break_by_artifact_id_in_byte_order(settings):
    s = Store()
    s.product("zero", date(2023, 1, 1))
    for pid in ("é", "sku-9", "z", "a", "sku-10", "B"):  # all with lifetime 2
        s.product(pid, date(2023, 1, 1))
        s.sale(pid, date(2024, 2, 1), 2)
    s.product("big", date(2023, 1, 1))
    s.sale("big", date(2024, 2, 1), 50)
    sync(settings, s.source())

    # byte order: 'B' (0x42) < 'a' (0x61) < 'sku-10' < 'sku-9' < 'z' (0x7a) < 'é' (0xc3 0xa9)
    expected = {
        1: {"zero"},
        2: {"zero", "B"},
        3: {"zero", "B", "a"},
        4: {"zero", "B", "a", "sku-10"},
        6: {"zero", "B", "a", "sku-10", "sku-9", "z"},
        7: {"zero", "B", "a", "sku-10", "sku-9", "z", "é"},
    }
    for count, bananas in expected.items():
        set_spec(settings, **spec(banana_count=count))
        refresh(settings, D)
        rows = performance(settings)
        assert {pid for pid, r in rows.items() if r["is_banana"]} == bananas, count
    assert rows["big"]["aggregate_measurement_value"] == 50 and not rows["big"]["is_banana"]


# -- archive candidate -------------------------------------------------------------------------

def test_archive_candidate_is_inactive_without_net_sales_in_30_days(settings):
    s = Store()
    for pid in ("old", "recent", "never", "cancelled", "refunded", "after-d", "active"):
        s.product(pid, date(2023, 1, 1), is_active=pid == "active")
    s.sale("old", D - days(30), 5)
    s.sale("recent", D - days(29), 1)
    s.sale("cancelled", D, 3, cancelled=True)
    s.sale("refunded", D - days(1), 2, refunded_quantity=2)
    s.sale("after-d", D + days(1), 4)
    rows = run(settings, s, **spec())

    archived = {pid for pid, r in rows.items() if r["is_archive"]}
    assert archived == {"old", "never", "cancelled", "refunded", "after-d"}
    assert rows["old"]["aggregate_measurement_value"] == 5 and rows["old"]["sales_last_30_days"] == 0
    assert rows["recent"]["sales_last_30_days"] == 1
    assert rows["recent"]["nominal_classification"] == "none"
    assert rows["active"]["nominal_classification"] == "none"
    assert all(rows[p]["nominal_classification"] == "archive_candidate" for p in archived)


# -- launch day, reference date ----------------------------------------------------------------

def test_without_launch_date_launch_is_first_non_cancelled_sale_day(settings):
    s = Store()
    s.product("nolaunch")
    s.sale("nolaunch", date(2024, 6, 1), 10, cancelled=True)  # cancelled: not a sale
    first = date(2024, 6, 3)
    for offset, units in ((0, 2), (6, 3), (7, 4), (13, 5), (14, 6)):
        s.sale("nolaunch", first + days(offset), units)
    s.product("only-after-d")
    s.sale("only-after-d", D + days(1), 9)
    s.product("no-sales")
    rows = run(settings, s, **spec(banana_count=1))

    r = rows["nolaunch"]
    assert r["launched_at"] is None and r["launch_date"] == first
    assert (r["sales_first_7_days"], r["sales_first_14_days"], r["aggregate_measurement_value"]) == (5, 14, 20)
    for pid in ("only-after-d", "no-sales"):
        r = rows[pid]
        assert r["launch_date"] is None
        assert (r["sales_first_7_days"], r["sales_first_14_days"], r["sales_last_30_days"],
                r["aggregate_measurement_value"]) == (0, 0, 0, 0)
    # ties at 0 between the two: 'no-sales' < 'only-after-d'
    assert {p for p, r in rows.items() if r["is_banana"]} == {"no-sales"}


def test_sales_after_the_reference_date_are_ignored(settings):
    s = Store()
    s.product("p", date(2024, 6, 20))
    s.sale("p", at(D, 23, 59, 59), 1)
    s.sale("p", at(D + days(1), 0, 0, 0), 10, unit_price="3.00")
    s.sale("p", D + days(5), 100)
    rows = run(settings, s, **spec())
    r = rows["p"]
    assert (r["sales_first_7_days"], r["sales_first_14_days"], r["sales_last_30_days"],
            r["aggregate_measurement_value"]) == (0, 1, 1, 1)
    assert r["lifetime_revenue"] == Decimal("10.00") == r["revenue_last_30_days"]
    daily = table_arrow(settings, catalog.DAILY_SALES).to_pylist()
    assert [(d["artifact_id"], d["day"], d["net_units"]) for d in daily] == [("p", D, 1)]

    # the same data seen from a later reference date counts them
    refresh(settings, D + days(5))
    r = performance(settings)["p"]
    assert r["aggregate_measurement_value"] == 111 and r["sales_first_14_days"] == 11
    assert r["as_of"] == D + days(5)


def test_window_caps_at_the_reference_date(settings):
    s = Store()
    s.product("p", D - days(2))
    for offset, units in ((-2, 1), (0, 2), (1, 4), (3, 8)):
        s.sale("p", D + days(offset), units)
    rows = run(settings, s, **spec(top_riser_7_day_threshold=4, top_riser_14_day_threshold=4))
    r = rows["p"]
    assert (r["sales_first_7_days"], r["sales_first_14_days"], r["aggregate_measurement_value"]) == (3, 3, 3)
    assert not r["is_top_riser"]


def test_launch_in_the_future(settings):
    s = Store()
    s.product("preorder", D + days(10))
    s.sale("preorder", D - days(1), 3)
    s.sale("preorder", D + days(10), 7)
    rows = run(settings, s, **spec(top_riser_7_day_threshold=1))
    r = rows["preorder"]
    assert r["launch_date"] == D + days(10)
    assert (r["sales_first_7_days"], r["sales_first_14_days"], r["sales_last_30_days"],
            r["aggregate_measurement_value"]) == (0, 0, 3, 3)
    assert not r["is_top_riser"]


# -- refunds, cancellations, revenue ------------------------------------------------------------

def test_refunds_cancellations_and_net_revenue(settings):
    s = Store()
    s.product("p", date(2024, 5, 1))
    s.sale("p", date(2024, 6, 2), 5, refunded_quantity=2, unit_price="10.00", discount="3.50")
    s.sale("p", date(2024, 6, 3), 4, cancelled=True, unit_price="10.00", discount="1.00")
    s.sale("p", date(2024, 5, 1), 1, unit_price="19.99")
    s.sale("p", date(2024, 6, 4), 3, refunded_quantity=3, unit_price="5.00")
    s.sale("p", date(2024, 6, 5), 2, refunded_quantity=1, unit_price="7.25", discount="0.25", cancelled=True)
    rows = run(settings, s, **spec())
    r = rows["p"]
    assert r["sales_first_7_days"] == 1          # only May 1 is in May 1..7
    assert r["sales_last_30_days"] == 3
    assert r["aggregate_measurement_value"] == 4
    assert r["revenue_last_30_days"] == Decimal("26.50")
    assert r["lifetime_revenue"] == Decimal("46.49")

    daily = {d["day"]: d for d in table_arrow(settings, catalog.DAILY_SALES).to_pylist()}
    assert (daily[date(2024, 6, 2)]["net_units"], daily[date(2024, 6, 2)]["revenue"]) == (3, Decimal("26.50"))
    assert (daily[date(2024, 6, 3)]["net_units"], daily[date(2024, 6, 3)]["revenue"]) == (0, Decimal(0))
    assert daily[date(2024, 6, 3)]["orders"] == 0 and daily[date(2024, 6, 2)]["orders"] == 1


# -- store timezone ----------------------------------------------------------------------------

def _tz_store() -> Store:
    s = Store()
    s.product("p", datetime(2024, 2, 1, 5, 0, tzinfo=timezone.utc))           # LA: Jan 31, 21:00
    s.sale("p", datetime(2024, 3, 1, 3, 0, tzinfo=timezone.utc), 1)           # LA: Feb 29 (= D)
    s.sale("p", datetime(2024, 2, 7, 7, 30, tzinfo=timezone.utc), 2)          # LA: Feb 6 23:30 (L+6)
    s.sale("p", datetime(2024, 2, 7, 8, 30, tzinfo=timezone.utc), 4)          # LA: Feb 7 00:30 (L+7)
    s.sale("p", datetime(2024, 1, 31, 7, 59, 59, tzinfo=timezone.utc), 8)     # LA: Jan 30 23:59:59
    s.sale("p", datetime(2024, 1, 31, 8, 0, 0, tzinfo=timezone.utc), 16)      # LA: Jan 31 00:00 (= D-29)
    s.product("q")
    s.sale("q", datetime(2024, 2, 10, 4, 0, tzinfo=timezone.utc), 1)          # LA: Feb 9
    return s


@pytest.mark.parametrize(
    "tz, launch_p, p_metrics, launch_q",
    [
        # first 7, first 14, last 30, lifetime
        ("America/Los_Angeles", date(2024, 1, 31), (18, 22, 23, 31), date(2024, 2, 9)),
        ("UTC", date(2024, 2, 1), (6, 6, 30, 30), date(2024, 2, 10)),
    ],
)
def test_store_timezone_decides_the_day_of_each_line(tmp_path, monkeypatch, tz, launch_p, p_metrics, launch_q):
    monkeypatch.delenv("PERFTIERS_HOME", raising=False)
    settings = load_settings(home=tmp_path / "data", timezone=tz)
    try:
        rows = run(settings, _tz_store(), as_of=date(2024, 2, 29), **spec())
        p = rows["p"]
        assert p["launch_date"] == launch_p and rows["q"]["launch_date"] == launch_q
        assert (p["sales_first_7_days"], p["sales_first_14_days"], p["sales_last_30_days"],
                p["aggregate_measurement_value"]) == p_metrics
        daily_days = {d["day"] for d in table_arrow(settings, catalog.DAILY_SALES).to_pylist()}
        assert max(daily_days) <= date(2024, 2, 29)
    finally:
        close(settings)


# -- several flags, nominal precedence -----------------------------------------------------------

def test_a_product_carries_every_flag_and_nominal_follows_precedence(settings):
    s = Store()
    s.product("all3", date(2024, 1, 1), is_active=False)       # top riser, banana, archive
    s.sale("all3", date(2024, 1, 1), 5)
    s.product("winban", date(2023, 1, 1))                        # winner, banana
    s.sale("winban", D, 10)
    s.product("banarch", date(2023, 1, 1), is_active=False)    # banana, archive
    s.product("topwin", date(2024, 6, 25))                      # top riser, winner
    s.sale("topwin", date(2024, 6, 25), 12)
    s.product("arch", date(2023, 1, 1), is_active=False)       # archive only
    s.sale("arch", date(2024, 1, 10), 20)
    s.product("plain", date(2023, 1, 1))                         # nothing
    s.sale("plain", date(2024, 3, 1), 30)
    rows = run(settings, s, top_riser_7_day_threshold=5, top_riser_14_day_threshold=HIGH,
               winner_30_day_threshold=10, banana_count=3)

    expected = {
        "all3": ({"is_top_riser", "is_banana", "is_archive"}, "top_riser"),
        "winban": ({"is_winner", "is_banana"}, "winner"),
        "banarch": ({"is_banana", "is_archive"}, "banana"),
        "topwin": ({"is_top_riser", "is_winner"}, "top_riser"),
        "arch": ({"is_archive"}, "archive_candidate"),
        "plain": (set(), "none"),
    }
    assert {pid: (flags(r), r["nominal_classification"]) for pid, r in rows.items()} == expected


# -- spec versions -------------------------------------------------------------------------------

def test_a_new_spec_takes_effect_on_the_next_refresh_only(settings):
    s = Store()
    s.product("p", date(2024, 6, 1))
    s.sale("p", date(2024, 6, 2), 7)
    rows = run(settings, s, **spec(top_riser_7_day_threshold=7))
    v1 = rows["p"]["spec_version"]
    assert rows["p"]["is_top_riser"]

    v2 = set_spec(settings, **spec(top_riser_7_day_threshold=8))
    assert v2 == v1 + 1
    assert performance(settings)["p"]["spec_version"] == v1      # nothing changes before a refresh
    assert performance(settings)["p"]["is_top_riser"]

    record = refresh(settings, D)
    row = performance(settings)["p"]
    assert record["spec_version"] == v2 and row["spec_version"] == v2
    assert not row["is_top_riser"] and row["nominal_classification"] == "none"
    applied = artifacts.latest(engine_for(settings.resolved_database_url), artifacts.MART_REFRESH)
    assert applied.body["spec_version"] == v2 and applied.body["snapshot_id"] == record["snapshot_id"]
    assert applied.body["as_of"] == D.isoformat()


# -- manual overrides ----------------------------------------------------------------------------

def test_a_manual_launched_at_gives_the_store_local_launch_date(tmp_path, monkeypatch):
    from perftiers.metadata import overrides

    monkeypatch.delenv("PERFTIERS_HOME", raising=False)
    settings = load_settings(home=tmp_path / "data", timezone="America/Los_Angeles")
    try:
        s = Store()
        s.product("synced", date(2024, 1, 1))
        engine = engine_for(settings.resolved_database_url)
        launched = "2024-02-01T05:00:00+00:00"  # Jan 31, 21:00 in Los Angeles
        overrides.save(engine, overrides.Override("synced", {"launched_at": launched}), "test")
        overrides.save(engine, overrides.Override("manual", {"launched_at": launched, "product_name": "M"}), "test")
        rows = run(settings, s, as_of=date(2024, 2, 29), **spec())
        for pid in ("synced", "manual"):
            assert rows[pid]["source"] == "manual"
            assert rows[pid]["launched_at"] == datetime(2024, 2, 1, 5, tzinfo=timezone.utc)
            assert rows[pid]["launch_date"] == date(2024, 1, 31), pid
    finally:
        close(settings)
