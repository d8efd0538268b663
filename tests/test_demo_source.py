"""The demo source: exact schemas, repeatability, scale behaviour and a believable store."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tracemalloc
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from perftiers.errors import ConfigurationError
from perftiers.lakehouse import schemas
from perftiers.settings import Settings
from perftiers.sources.demo import HISTORY_DAYS, DemoSource, _daily_totals

END = dt.date(2025, 6, 30)
TZ = "America/New_York"


def lines_table(source: DemoSource) -> pa.Table:
    return pa.Table.from_batches(list(source.extract().order_lines()), schema=schemas.ORDER_LINES)


@pytest.fixture(scope="module")
def store() -> tuple[DemoSource, pa.Table, pa.Table]:
    source = DemoSource(products=1500, order_lines=300_000, seed=7, end_date=END, timezone=TZ, currency="CAD")
    extract = source.extract()
    return source, extract.products, lines_table(source)


@pytest.fixture(scope="module")
def db(store) -> duckdb.DuckDBPyConnection:
    _, products, lines = store
    con = duckdb.connect()
    con.register("products", products)
    con.register("lines", lines)
    con.execute(
        """create view units as
           select p.*, coalesce(s.units, 0) as units, s.last_sale
           from products p left join (
               select artifact_id, sum(case when cancelled then 0 else quantity - refunded_quantity end) as units,
                      max(ordered_at) as last_sale
               from lines group by 1) s using (artifact_id)"""
    )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()


def local_midnight_utc(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(dt.timezone.utc)


# -- interface and schemas ----------------------------------------------------------------------


def test_schemas_are_exact(store):
    source, products, _ = store
    extract = source.extract()
    assert source.name == "demo"
    assert extract.products.schema.equals(schemas.PRODUCTS)
    batches = list(extract.order_lines())
    assert batches
    for batch in batches:
        assert isinstance(batch, pa.RecordBatch)
        assert batch.schema.equals(schemas.ORDER_LINES)
        assert batch.schema.field("unit_price").type == pa.decimal128(18, 4)
        assert batch.schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")
    assert products.num_rows == 1500
    for column in ("order_id", "line_id", "ordered_at", "artifact_id", "quantity", "unit_price", "discount",
                   "refunded_quantity", "cancelled", "currency"):
        assert batches[0].column(column).null_count == 0


def test_default_batches_are_about_a_quarter_million_rows():
    source = DemoSource(products=100, order_lines=600_000, seed=1, end_date=END)
    sizes = [b.num_rows for b in source.extract().order_lines()]
    assert sizes == [250_000, 250_000, 100_000]


def test_from_settings_uses_the_demo_settings(settings):
    configured = settings.model_copy(update=dict(
        demo_products=40, demo_order_lines=5_000, demo_seed=11, demo_end_date=dt.date(2024, 2, 29),
        timezone="Europe/Berlin", currency="EUR"))
    source = DemoSource.from_settings(configured)
    assert (source.products, source.order_lines_target, source.seed) == (40, 5_000, 11)
    assert source.end_date == dt.date(2024, 2, 29)
    lines = lines_table(source)
    assert source.extract().products.num_rows == 40
    assert lines.num_rows == 5_000
    assert set(lines.column("currency").to_pylist()) == {"EUR"}
    limit = local_midnight_utc(dt.date(2024, 3, 1), "Europe/Berlin")
    assert pc.max(lines.column("ordered_at")).as_py() < limit

    today = dt.datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    default_end = DemoSource.from_settings(settings.model_copy(update=dict(timezone="Pacific/Kiritimati")))
    assert default_end.end_date in (today, today + dt.timedelta(days=1))  # the day may turn over in between

    with pytest.raises(ValidationError, match="demo_end_date"):
        Settings(home=settings.home, demo_end_date="last tuesday")
    assert Settings(home=settings.home, demo_end_date="2024-02-29").demo_end_date == dt.date(2024, 2, 29)


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigurationError):
        DemoSource(products=0)
    with pytest.raises(ConfigurationError):
        DemoSource(order_lines=-1)
    with pytest.raises(ConfigurationError):
        DemoSource(timezone="Mars/Olympus_Mons")


# -- repeatability --------------------------------------------------------------------------------


def test_same_seed_gives_identical_data_whatever_the_batch_size():
    kwargs = dict(products=300, order_lines=60_000, seed=5, end_date=END, timezone="Europe/Berlin")
    first = DemoSource(**kwargs)
    second = DemoSource(**kwargs, batch_size=7_777)
    assert first.extract().products.equals(second.extract().products)
    a, b = lines_table(first), lines_table(second)
    assert a.num_rows == 60_000
    assert a.equals(b)
    assert [x.num_rows for x in second.extract().order_lines()][:7] == [7_777] * 7
    # calling order_lines() again on the same extract gives the same data again
    again = first.extract().order_lines
    assert pa.Table.from_batches(list(again())).equals(pa.Table.from_batches(list(again())))


def test_a_fixed_seed_gives_the_recorded_store():
    """Row for row the store the generator made when this test was written (5,000 products, so
    the names run past every adjective-noun pair): a refactor of the generator must not change it."""

    def digest(table: pa.Table) -> str:
        h = hashlib.sha256()
        for name in table.column_names:
            h.update(name.encode())
            h.update(repr(table.column(name).to_pylist()).encode())
        return h.hexdigest()

    source = DemoSource(products=5000, order_lines=20_000, seed=11, end_date=END, timezone=TZ, currency="CAD")
    assert digest(source.extract().products) == "c39beb4b6a64723f28a14a999237a6bfdb0708c4824738e75b2bb1fc860ec045"
    assert digest(lines_table(source)) == "42a5f95b241330558bc3cfd69bff00e787c5d84f13ce4f4b8fa044c425edc884"


def test_a_different_seed_gives_a_different_store():
    kwargs = dict(products=300, order_lines=20_000, end_date=END)
    a, b = DemoSource(seed=1, **kwargs), DemoSource(seed=2, **kwargs)
    assert not a.extract().products.equals(b.extract().products)
    la, lb = lines_table(a), lines_table(b)
    assert not la.column("artifact_id").equals(lb.column("artifact_id"))
    assert not la.column("ordered_at").equals(lb.column("ordered_at"))


def test_line_count_is_the_requested_one():
    for products, lines in ((1, 1_000), (25, 12_345), (800, 150_000)):
        got = lines_table(DemoSource(products=products, order_lines=lines, seed=3, end_date=END)).num_rows
        assert abs(got - lines) <= 0.1 * lines
    assert lines_table(DemoSource(products=10, order_lines=0, end_date=END)).num_rows == 0


def test_daily_totals_match_a_product_by_product_sum():
    model = DemoSource(products=400, order_lines=1_000, seed=9, end_date=END)._model
    brute = np.array([
        model.weights(day, int(np.searchsorted(model.launch_day, day, side="right"))).sum()
        for day in range(model.days)
    ])
    np.testing.assert_allclose(_daily_totals(model), brute, rtol=1e-9, atol=1e-9 * brute.max())
    assert model.lines_per_day.sum() == 1_000


# -- bounded memory -------------------------------------------------------------------------------


def test_two_million_lines_stream_in_bounded_batches():
    source = DemoSource(products=200, order_lines=2_000_000, seed=4, end_date=END, batch_size=50_000)
    extract = source.extract()
    base_arrow = pa.total_allocated_bytes()
    peak_arrow = 0
    rows = batches = 0
    tracemalloc.start()
    try:
        for batch in extract.order_lines():
            assert batch.num_rows <= 50_000
            rows += batch.num_rows
            batches += 1
            peak_arrow = max(peak_arrow, pa.total_allocated_bytes() - base_arrow)
            del batch
        _, peak_numpy = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 2_000_000
    assert batches == 40
    # all 2M lines would take well over 200 MB in Arrow; the stream holds a few batches at a time
    assert peak_arrow < 40 * 2**20, peak_arrow
    assert peak_numpy < 40 * 2**20, peak_numpy


# -- a believable store ---------------------------------------------------------------------------


def test_products_look_like_a_merch_catalogue(db, store):
    _, products, _ = store
    ids = products.column("artifact_id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"sku-\d{6}", i) for i in ids)
    assert ids == sorted(ids)  # zero-padded: byte order is numeric order
    types = set(products.column("product_type").to_pylist())
    assert {"Tee", "Hoodie", "Mug", "Poster", "Cap", "Sticker Pack", "Tote Bag"} <= types
    vendors = set(products.column("vendor").to_pylist())
    assert 8 <= len(vendors) <= 15
    names = products.column("product_name").to_pylist()
    assert len(set(names)) > 0.95 * len(names)
    for name, ptype in zip(names, products.column("product_type").to_pylist()):
        assert name.endswith(" " + ptype) and len(name.split()) >= 3
    for tags in products.column("tags").to_pylist():
        assert 2 <= len(tags) <= 4
        assert all(re.fullmatch(r"[a-z]+:[a-z0-9-]+", t) for t in tags)
        keys = [t.split(":")[0] for t in tags]
        assert keys.count("category") == 1 and keys.count("collection") == 1 and len(set(keys)) == len(keys)
    assert one(db, "select count(*) from products, unnest(tags) t(tag) where tag like 'color:%'")[0] > 500
    assert one(db, "select count(*) from products, unnest(tags) t(tag) where tag like 'material:%'")[0] > 500


def test_launch_dates_span_two_years_with_recent_launches_and_some_unknown(db, store):
    source, products, _ = store
    start = local_midnight_utc(source.start_date, TZ)
    end = local_midnight_utc(END + dt.timedelta(days=1), TZ)
    launched = [x for x in products.column("launched_at").to_pylist() if x is not None]
    assert all(start <= x < end for x in launched)
    assert min(launched) < start + dt.timedelta(days=30)
    recent = [x for x in launched if x >= end - dt.timedelta(days=14)]
    assert 3 <= len(recent) <= 0.1 * products.num_rows
    null_share = products.column("launched_at").null_count / products.num_rows
    assert 0.02 <= null_share <= 0.09
    # a product without a launch date still sells: its launch is its first sale
    assert one(db, "select count(*) from units where launched_at is null and units > 0")[0] > 10
    # recent launches sell
    assert one(db, f"select count(*) from units where launched_at >= '{(end - dt.timedelta(days=14)).isoformat()}'"
                   " and units > 0")[0] >= 1


def test_no_sale_before_launch_or_after_the_end_date(db, store):
    source, _, lines = store
    before_launch = one(db, "select count(*) from lines l join products p using (artifact_id) "
                            "where p.launched_at is not null and l.ordered_at < p.launched_at")[0]
    assert before_launch == 0
    ts = lines.column("ordered_at")
    assert pc.min(ts).as_py() >= local_midnight_utc(source.start_date, TZ)
    last = pc.max(ts).as_py()
    assert last < local_midnight_utc(END + dt.timedelta(days=1), TZ)
    assert last >= local_midnight_utc(END, TZ)  # the end date itself has sales
    # the stream is chronological
    assert np.all(np.diff(ts.cast(pa.int64()).to_numpy()) >= 0)


def test_orders_and_lines(db, store):
    _, _, lines = store
    assert pc.count_distinct(lines.column("line_id")).as_py() == lines.num_rows
    size_min, size_max, avg_size, bad_ids, mixed = one(db, """
        select min(n), max(n), avg(n), sum(bad), sum(times) from (
            select order_id, count(*) n, count(distinct ordered_at) - 1 times,
                   sum((not starts_with(line_id, order_id || '-'))::int) bad
            from lines group by 1)""")
    assert (size_min, size_max, bad_ids, mixed) == (1, 4, 0, 0)
    assert 1.3 <= avg_size <= 1.9
    multi = one(db, "select count(*) from (select order_id from lines group by 1 "
                    "having count(distinct artifact_id) > 1)")[0]
    assert multi > 1000
    q_one, q_max, refund_share, over_refund, cancel_share, disc_share = one(db, """
        select avg((quantity = 1)::int), max(quantity), avg((refunded_quantity > 0)::int),
               sum((refunded_quantity > quantity or refunded_quantity < 0)::int),
               avg(cancelled::int), avg((discount > 0)::int) from lines""")
    assert q_one > 0.7 and q_max <= 6
    assert over_refund == 0
    assert 0.015 <= refund_share <= 0.05
    assert 0.01 <= cancel_share <= 0.04
    assert 0.06 <= disc_share <= 0.16
    # cancellation is an order-level fact
    assert one(db, "select count(*) from (select order_id from lines group by 1 "
                   "having count(distinct cancelled) > 1)")[0] == 0
    assert set(lines.column("currency").to_pylist()) == {"CAD"}


def test_money_is_plausible(db):
    low, high, odd_cents, bad_discount, negative_net, prices_per_product = one(db, """
        select min(unit_price), max(unit_price),
               sum((unit_price * 100 != round(unit_price * 100))::int),
               sum((discount < 0 or discount > quantity * unit_price)::int),
               sum(((quantity - refunded_quantity) * unit_price - discount < 0)::int),
               (select max(n) from (select count(distinct unit_price) n from lines group by artifact_id))
        from lines""")
    assert 9 <= low and high <= 89
    assert high > 50
    assert odd_cents == 0 and bad_discount == 0 and negative_net == 0
    assert prices_per_product == 1


def test_demand_has_winners_duds_and_never_sold(db, store):
    _, products, _ = store
    n = products.num_rows
    never = one(db, "select count(*) from units where units = 0")[0]
    near_zero = one(db, "select count(*) from units where units between 1 and 5")[0]
    assert 0.01 * n <= never <= 0.15 * n
    assert near_zero >= 0.02 * n
    top_share = one(db, "select sum(units) filter (where r <= 0.1 * c) / sum(units) from "
                        "(select units, row_number() over (order by units desc) r, count(*) over () c from units)")[0]
    assert top_share > 0.35  # a heavy tail: the top 10% sell over a third of all units


def test_launch_spikes_decay(db):
    total, spiky = one(db, """
        with first_sale as (select artifact_id, min(ordered_at) first_at from lines group by 1),
        per as (
            select l.artifact_id,
                   sum(l.quantity) filter (where l.ordered_at < coalesce(p.launched_at, f.first_at) + interval 14 day) early,
                   sum(l.quantity) total
            from lines l join products p using (artifact_id) join first_sale f using (artifact_id)
            where coalesce(p.launched_at, f.first_at) < timestamp '2025-01-01'
            group by 1 having sum(l.quantity) >= 20)
        select count(*), count(*) filter (where early >= 0.5 * total) from per""")
    assert total > 300
    assert spiky >= 0.25 * total  # many products sell most of their units in their first two weeks


def test_inactive_products_are_mostly_old_without_recent_sales(db, store):
    _, products, _ = store
    n = products.num_rows
    inactive, old, quiet = one(db, f"""
        select count(*),
               count(*) filter (where coalesce(launched_at, timestamp '2000-01-01') < timestamp '2024-10-01'),
               count(*) filter (where last_sale is null or last_sale < timestamp '{END.isoformat()}' - interval 29 day)
        from units where not is_active""")
    assert 0.07 * n <= inactive <= 0.18 * n
    assert old >= 0.75 * inactive
    assert quiet >= 0.7 * inactive
    # active products still sell
    assert one(db, f"select count(*) from units where is_active and last_sale >= timestamp '{END.isoformat()}' "
                   "- interval 29 day")[0] > 0.5 * n


def test_weekly_and_holiday_seasonality(db):
    by_weekday = dict(db.execute(
        "select isodow(timezone('America/New_York', ordered_at)), count(*) from lines group by 1").fetchall())
    assert by_weekday[6] > by_weekday[2]  # Saturday beats Tuesday
    bf = one(db, "select count(*) from lines where timezone('America/New_York', ordered_at)::date = date '2024-11-29'")[0]
    week_before = one(db, "select count(*) / 7 from lines where timezone('America/New_York', ordered_at)::date "
                          "between date '2024-11-15' and date '2024-11-21'")[0]
    assert bf > 1.5 * week_before


def test_history_length(store):
    source, _, _ = store
    assert source.end_date - source.start_date == dt.timedelta(days=HISTORY_DAYS - 1)
