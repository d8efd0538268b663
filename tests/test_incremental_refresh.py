"""Property: a chain of incremental refreshes equals the SPEC reference (and a full rebuild).

Random stores get random daily syncs: new lines on new and old days, late edits of lines already
synced (quantity, refunds, cancellation, moved to another day or product), manual deletions of
products, a reference date that moves on by 0-3 days and, now and then, a new store timezone.
After every refresh `measurement.performance` and `measurement.daily_sales` must equal the pure-
Python reference of test_refresh_property over everything synced so far; a final `--full` refresh
must give the same daily sales as the chain of incremental ones.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from perftiers.lakehouse import catalog
from perftiers.refresh import edits
from perftiers.rules import DEFAULT_SPEC
from perftiers.settings import load_settings

from tests.pipeline import close, performance, refresh, sync, table_arrow
from tests.storebuilder import MemorySource, line, product
from tests.test_refresh_property import BASE, COMPARED, IDS, SPAN_DAYS, TIMEZONES, money, reference, timestamps

SPEC = DEFAULT_SPEC.model_dump()


def new_line(draw, line_id: str, ids: list[str], first_day: int, last_day: int) -> dict:
    quantity = draw(st.integers(1, 5))
    return line(line_id, draw(st.sampled_from(ids + ["ghost"])), draw(timestamps(first_day, last_day)), quantity,
                order_id=f"order-{draw(st.integers(0, 12))}", unit_price=str(draw(money)),
                discount=str(draw(st.one_of(st.just(0), money))),
                refunded_quantity=draw(st.integers(0, quantity)), cancelled=draw(st.integers(0, 4)) == 0)


def late_edit(draw, old: dict, ids: list[str]) -> dict:
    """A new version of a synced line: the store changed it after it was first synced."""
    edited = dict(old)
    change = draw(st.sampled_from(("refund", "cancel", "quantity", "move_day", "move_product")))
    if change == "refund":
        edited["refunded_quantity"] = draw(st.integers(0, old["quantity"]))
    elif change == "cancel":
        edited["cancelled"] = not old["cancelled"]
    elif change == "quantity":
        edited["quantity"] = draw(st.integers(old["refunded_quantity"], old["refunded_quantity"] + 5))
    elif change == "move_day":
        edited["ordered_at"] = old["ordered_at"] + timedelta(days=draw(st.integers(-20, 20)), hours=draw(st.integers(-5, 5)))
    else:
        edited["artifact_id"] = draw(st.sampled_from(ids + ["ghost"]))
    return edited


@st.composite
def histories(draw):
    """(products, the first sync's lines, the first day, [step, ...]) where a step is a dict."""
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=6, unique=True))
    products = [product(pid, launched_at=draw(st.one_of(st.none(), timestamps(-10, SPAN_DAYS)))) for pid in ids]
    first = [new_line(draw, f"l0-{i}", ids, -5, SPAN_DAYS - 10) for i in range(draw(st.integers(0, 25)))]
    start = (BASE + timedelta(days=draw(st.integers(SPAN_DAYS - 12, SPAN_DAYS - 8)))).date()
    steps = []
    known = list(first)
    for n in range(draw(st.integers(1, 4))):
        added = [new_line(draw, f"l{n + 1}-{i}", ids, SPAN_DAYS - 14, SPAN_DAYS + 2) for i in range(draw(st.integers(0, 8)))]
        edited = [late_edit(draw, old, ids) for old in draw(st.lists(st.sampled_from(known), max_size=4, unique_by=lambda x: x["line_id"]))] if known else []
        known += added
        steps.append({
            "lines": added + edited,
            "advance": draw(st.integers(0, 3)),
            "delete": draw(st.one_of(st.none(), st.sampled_from(ids))),
            "timezone": draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(TIMEZONES))),
        })
    return products, first, start, draw(st.sampled_from(TIMEZONES)), steps


def daily_rows(settings) -> dict:
    return {(d["artifact_id"], d["day"]): (d["net_units"], d["revenue"], d["orders"])
            for d in table_arrow(settings, catalog.DAILY_SALES).to_pylist()}


def check(settings, products, lines_by_id, deleted, tz, as_of) -> None:
    live = [p for p in products if p["artifact_id"] not in deleted]
    want, want_daily = reference(live, list(lines_by_id.values()), SPEC, tz, as_of)
    got = performance(settings)
    assert set(got) == set(want)
    for pid, row in want.items():
        assert {k: got[pid][k] for k in COMPARED} == row, (pid, tz, as_of)
    assert daily_rows(settings) == want_daily


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories())
def test_incremental_refreshes_equal_the_reference_and_a_full_rebuild(history):
    products, first, as_of, tz, steps = history
    lines_by_id = {ln["line_id"]: ln for ln in first}
    deleted: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="perftiers-incr-") as tmp:
        home = Path(tmp) / "data"
        s = load_settings(home=home, timezone=tz, database_url=None)
        try:
            sync(s, MemorySource(products, first))
            assert refresh(s, as_of)["daily_sales"] == {"mode": "full", "reason": "no earlier daily sales to build on"}
            check(s, products, lines_by_id, deleted, tz, as_of)
            for step in steps:
                if step["timezone"] not in (None, tz):
                    close(s)
                    tz = step["timezone"]
                    s = load_settings(home=home, timezone=tz, database_url=None)
                    tz_changed = True
                else:
                    tz_changed = False
                sync(s, MemorySource(products, step["lines"]))
                lines_by_id.update({ln["line_id"]: ln for ln in step["lines"]})
                if step["delete"] is not None and step["delete"] not in deleted and step["delete"] in performance(s):
                    edits.delete(s, step["delete"], by="test")
                    deleted.add(step["delete"])
                as_of += timedelta(days=step["advance"])
                built = refresh(s, as_of)["daily_sales"]
                assert built["mode"] == ("full" if tz_changed else "incremental"), built
                check(s, products, lines_by_id, deleted, tz, as_of)
            chained = daily_rows(s)
            assert refresh(s, as_of, full=True)["daily_sales"]["mode"] == "full"
            assert daily_rows(s) == chained
        finally:
            close(s)


# -- the cases the property does not draw --------------------------------------------------------

DAY = BASE.date() + timedelta(days=30)


def small_store():
    products = [product("a", launched_at=BASE), product("b")]
    lines = [line("1", "a", BASE + timedelta(days=29, hours=3), 2), line("2", "b", BASE + timedelta(days=30), 1)]
    return products, lines


def pending_days(settings) -> set:
    from perftiers.metadata import sales_changes
    from perftiers.metadata.db import engine_for

    return set(sales_changes.pending(engine_for(settings.resolved_database_url)).days)


def test_only_the_changed_and_new_days_are_recomputed_and_their_records_consumed(tmp_path):
    products, lines = small_store()
    s = load_settings(home=tmp_path / "data", database_url=None)
    try:
        sync(s, MemorySource(products, lines))
        assert pending_days(s) == {DAY - timedelta(days=1), DAY}
        assert refresh(s, DAY)["daily_sales"]["mode"] == "full"
        assert pending_days(s) == set()

        sync(s, MemorySource(products, lines))  # unchanged: nothing recorded, nothing recomputed
        assert pending_days(s) == set()
        again = refresh(s, DAY)
        assert again["daily_sales"] == {"mode": "incremental"} and again["counts"]["daily_sales_days_computed"] == 0

        moved = dict(lines[0], ordered_at=BASE + timedelta(days=10))  # a late edit moves a line 19 days back
        sync(s, MemorySource(products, [moved]))
        assert pending_days(s) == {DAY - timedelta(days=1), BASE.date() + timedelta(days=10)}
        record = refresh(s, DAY + timedelta(days=2))  # and the reference date moves on by two days
        assert record["daily_sales"] == {"mode": "incremental"}
        assert record["counts"]["daily_sales_days_computed"] == 4
        check(s, products, {"1": moved, "2": lines[1]}, set(), "UTC", DAY + timedelta(days=2))
    finally:
        close(s)


def test_object_storage_reads_through_pyiceberg_give_the_same_rows(tmp_path, monkeypatch):
    """On S3 / R2 DuckDB cannot read the data files itself; the kept rows and lines come via PyIceberg."""
    from perftiers.refresh import daily_sales

    monkeypatch.setattr(daily_sales.scan, "parquet_relation", lambda *args, **kwargs: None)
    products, lines = small_store()
    s = load_settings(home=tmp_path / "data", database_url=None)
    try:
        sync(s, MemorySource(products, lines))
        refresh(s, DAY)
        late = [dict(lines[1], refunded_quantity=1), line("3", "a", BASE + timedelta(days=31), 4)]
        sync(s, MemorySource(products, late))
        assert refresh(s, DAY + timedelta(days=1))["daily_sales"] == {"mode": "incremental"}
        check(s, products, {"1": lines[0], "2": late[0], "3": late[1]}, set(), "UTC", DAY + timedelta(days=1))
    finally:
        close(s)


def test_a_rebuild_when_the_kept_rows_cannot_be_trusted(tmp_path):
    products, lines = small_store()
    home = tmp_path / "data"
    s = load_settings(home=home, database_url=None)
    try:
        sync(s, MemorySource(products, lines))
        refresh(s, DAY)
        close(s)
        s = load_settings(home=home, database_url=None, currency="EUR")
        assert refresh(s, DAY)["daily_sales"]["reason"] == "the store currency changed (USD -> EUR)"
        assert refresh(s, DAY)["daily_sales"] == {"mode": "incremental"}

        # a refresh that wrote daily sales and died before its artifact: the next one cannot build on it
        from perftiers.refresh.mart import write_table

        write_table(s, catalog.DAILY_SALES, table_arrow(s, catalog.DAILY_SALES).slice(0, 1), {})
        assert refresh(s, DAY)["daily_sales"]["reason"] == "measurement.daily_sales changed since the last refresh wrote it"
        check(s, products, {ln["line_id"]: ln for ln in lines}, set(), "UTC", DAY)
        assert refresh(s, DAY, full=True)["daily_sales"]["reason"] == "asked for (--full)"
    finally:
        close(s)
