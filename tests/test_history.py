"""measurement.tier_history through the real sync, refresh and backfill.

The history's state on a day must equal what a full refresh as of that day gives, product by
product (flags, nominal tier, spec version), across a threshold change; reruns change nothing;
older dates are refused; backfill then daily refreshes equals daily refreshes from the start.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from perftiers import duck
from perftiers.errors import Conflict
from perftiers.lakehouse import catalog
from perftiers.metadata import artifacts, overrides
from perftiers.metadata.db import engine_for, macrodata_artifact
from perftiers.refresh import history
from perftiers.rules import ClassificationSpec

from tests.pipeline import close, performance, refresh, sync, table_arrow
from tests.storebuilder import MemorySource, line, product

START = date(2024, 5, 1)
STATE = history.STATE_COLUMNS
SPEC_V1 = dict(top_riser_7_day_threshold=12, top_riser_14_day_threshold=20, winner_30_day_threshold=25,
               banana_count=3)
SPEC_V2 = dict(top_riser_7_day_threshold=8, top_riser_14_day_threshold=15, winner_30_day_threshold=18,
               banana_count=4)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def store(n_products: int = 14, n_days: int = 70, seed: int = 3, drop: set[str] = frozenset()) -> MemorySource:
    """Products launched over the period, with bursts of sales so flags come and go."""
    rnd = random.Random(seed)
    products, lines = [], []
    for i in range(n_products):
        pid = f"p{i:02d}"
        if pid in drop:
            continue
        launch = START + timedelta(days=rnd.randrange(0, 40))
        products.append(product(pid, launched_at=at(launch, 8) if i % 3 else None, is_active=i % 5 != 0))
        for d in range(n_days):
            day = START + timedelta(days=d)
            if day < launch or rnd.random() < 0.55:
                continue
            burst = 4 if (d // 9 + i) % 4 == 0 else 1
            lines.append(line(f"l{len(lines)}", pid, at(day, rnd.randrange(0, 24)), rnd.randint(1, 3) * burst,
                              cancelled=rnd.random() < 0.05))
    return MemorySource(products, lines)


def add_spec(settings, created: date, **thresholds: int) -> int:
    """A classification_spec version created (store-local) on `created`."""
    engine = engine_for(settings.resolved_database_url)
    artifacts.current_spec(engine)  # version 1 (the defaults) exists first
    with engine.begin() as conn:
        version = (conn.execute(sa.select(sa.func.max(macrodata_artifact.c.version)).where(
            macrodata_artifact.c.kind == artifacts.CLASSIFICATION_SPEC)).scalar() or 0) + 1
        conn.execute(sa.insert(macrodata_artifact).values(
            kind=artifacts.CLASSIFICATION_SPEC, version=version, body=ClassificationSpec(**thresholds).model_dump(),
            created_at=at(created, 6), created_by="test"))
    return version


def history_rows(settings) -> list[dict]:
    return sorted(table_arrow(settings, catalog.TIER_HISTORY).to_pylist(),
                  key=lambda r: (r["artifact_id"], r["valid_from"]))


def states(settings, day: date) -> dict[str, dict]:
    con = duck.connect(settings)
    try:
        con.register("h", table_arrow(settings, catalog.TIER_HISTORY))
        return history.state_on(con, "h", day)
    finally:
        con.close()


def tiers(rows: dict[str, dict]) -> dict[str, dict]:
    return {pid: {c: r[c] for c in STATE} for pid, r in rows.items()}


def well_formed(rows: list[dict]) -> None:
    """Per product: periods in order, not overlapping, at most one open and it is the last."""
    by_product: dict[str, list[dict]] = {}
    for r in rows:
        by_product.setdefault(r["artifact_id"], []).append(r)
    for pid, periods in by_product.items():
        for a, b in zip(periods, periods[1:]):
            assert a["valid_to"] is not None and a["valid_to"] <= b["valid_from"], (pid, a, b)
            if a["valid_to"] == b["valid_from"]:
                assert any(a[c] != b[c] for c in STATE), ("adjacent periods with one state", pid, a, b)
        for p in periods:
            assert p["valid_to"] is None or p["valid_from"] < p["valid_to"], p


REFS = [START + timedelta(days=d) for d in (10, 18, 25, 26, 33, 41, 47)]
SPEC_CHANGE = REFS[3]  # v2 is in force from this day on: REFS[2] / REFS[3] straddle it


def daily_refreshes(settings, days: list[date]) -> dict[date, dict[str, dict]]:
    """Refresh as of each day (v2 appears on SPEC_CHANGE); the performance tiers after each."""
    seen = {}
    for day in days:
        if day == SPEC_CHANGE:
            add_spec(settings, day, **SPEC_V2)
        refresh(settings, day)
        seen[day] = tiers(performance(settings))
    return seen


@pytest.fixture
def synced(settings):
    sync(settings, store())
    add_spec(settings, START - timedelta(days=30), **SPEC_V1)
    yield settings
    close(settings)


def test_history_state_on_each_refresh_date_equals_that_refresh(synced):
    settings = synced
    seen = daily_refreshes(settings, REFS)
    rows = history_rows(settings)
    well_formed(rows)
    assert {seen[REFS[2]][p]["spec_version"] for p in seen[REFS[2]]} != \
           {seen[REFS[3]][p]["spec_version"] for p in seen[REFS[3]]}, "the dates must straddle a spec change"
    changed = 0
    for day, want in seen.items():
        assert states(settings, day) == want, day
        # between two refreshes the state is the earlier refresh's
        assert states(settings, day + timedelta(days=1)) == (want if day + timedelta(days=1) not in seen
                                                             else seen[day + timedelta(days=1)])
        changed += sum(1 for p in want if any(seen[REFS[0]].get(p, {}).get(c) != want[p][c] for c in STATE))
    assert changed > 5, "the store must move products between tiers"
    assert states(settings, REFS[0] - timedelta(days=1)) == {}
    assert len(rows) < len(REFS) * len(seen[REFS[-1]]), "periods, not daily copies"


def test_rerun_for_the_same_day_gives_the_same_history_and_older_days_are_refused(synced):
    settings = synced
    daily_refreshes(settings, REFS[:4])
    before = history_rows(settings)
    refresh(settings, REFS[3])
    assert history_rows(settings) == before
    snapshots = {catalog.table_name(i): catalog.current_snapshot_id(catalog.load(settings, i))
                 for i in (catalog.TIER_HISTORY, catalog.PERFORMANCE, catalog.DAILY_SALES)}
    with pytest.raises(Conflict, match="backfill"):
        refresh(settings, REFS[2])
    assert snapshots == {catalog.table_name(i): catalog.current_snapshot_id(catalog.load(settings, i))
                         for i in (catalog.TIER_HISTORY, catalog.PERFORMANCE, catalog.DAILY_SALES)}
    pair = history.pair(settings)
    assert (pair.as_of, pair.previous_as_of) == (REFS[3], REFS[2])


def test_a_product_gone_from_the_store_closes_its_period(synced):
    settings = synced
    refresh(settings, REFS[0])
    # a product kept deleted (sync upserts, so a deletion is how a product leaves performance)
    overrides.save(engine_for(settings.resolved_database_url), overrides.Override("p04", {}, deleted=True), "test")
    refresh(settings, REFS[1])
    rows = [r for r in history_rows(settings) if r["artifact_id"] == "p04"]
    assert rows and rows[-1]["valid_to"] == REFS[1]
    assert "p04" not in states(settings, REFS[1]) and "p04" in states(settings, REFS[0])


# -- backfill -----------------------------------------------------------------------------------

from perftiers.errors import BadRequest  # noqa: E402
from perftiers.pipeline.jobs import backfill  # noqa: E402

BF_FROM = START + timedelta(days=8)
BF_DAYS = [BF_FROM + timedelta(days=d) for d in range(16)]
BF_CHANGE = BF_DAYS[6]


def without_mark(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "backfilled"} for r in rows]


def prepared(settings) -> None:
    sync(settings, store())
    add_spec(settings, START - timedelta(days=30), **SPEC_V1)


def daily_from_start(settings) -> dict[date, dict[str, dict]]:
    seen = {}
    for day in BF_DAYS:
        if day == BF_CHANGE:
            add_spec(settings, day, **SPEC_V2)
        refresh(settings, day)
        seen[day] = tiers(performance(settings))
    return seen


def test_backfill_then_daily_equals_daily_from_the_start(tmp_path):
    from perftiers.settings import load_settings

    daily = load_settings(home=tmp_path / "daily")
    prepared(daily)
    seen = daily_from_start(daily)
    want = history_rows(daily)
    close(daily)

    mixed = load_settings(home=tmp_path / "mixed")
    prepared(mixed)
    add_spec(mixed, BF_CHANGE, **SPEC_V2)  # created on that day, as in the daily run
    split = 9
    record = backfill(mixed, trigger="cli", start=BF_DAYS[0], end=BF_DAYS[split - 1])
    assert record["status"] == "succeeded" and record["counts"]["days"] == split
    rows = history_rows(mixed)
    assert rows and all(r["backfilled"] for r in rows)
    for day in BF_DAYS[:split]:  # each backfilled day equals a full refresh as of that day
        assert states(mixed, day) == seen[day], day
    for day in BF_DAYS[split:]:
        refresh(mixed, day)
    got = history_rows(mixed)
    close(mixed)
    well_formed(got)
    assert without_mark(got) == without_mark(want)
    assert any(r["backfilled"] for r in got) and not all(r["backfilled"] for r in got)


def test_backfill_over_refreshed_days_replaces_them_with_the_same_states(synced):
    settings = synced
    seen = {}
    for day in BF_DAYS[:8]:
        refresh(settings, day)
        seen[day] = tiers(performance(settings))
    before = history_rows(settings)
    backfill(settings, trigger="cli", start=BF_DAYS[2], end=BF_DAYS[5])
    after = history_rows(settings)
    well_formed(after)
    assert without_mark(after) == without_mark(before)
    assert history.pair(settings).as_of == BF_DAYS[7]
    for day in BF_DAYS[:8]:
        assert states(settings, day) == seen[day]


def test_bad_backfill_ranges_are_refused_and_write_nothing(synced):
    settings = synced
    refresh(settings, REFS[2])
    snapshot = catalog.current_snapshot_id(catalog.load(settings, catalog.TIER_HISTORY))
    cases = [
        (REFS[1], REFS[0], "is after"),
        (date.today() + timedelta(days=3), None, "future"),
        (REFS[0], date.today() + timedelta(days=1), "future"),
        (REFS[0], REFS[2], "before the last refresh"),
        (START - timedelta(days=400), START - timedelta(days=300), "no data"),
    ]
    for start, end, message in cases:
        with pytest.raises(BadRequest, match=message):
            backfill(settings, trigger="cli", start=start, end=end)
        assert catalog.current_snapshot_id(catalog.load(settings, catalog.TIER_HISTORY)) == snapshot


# -- CLI --------------------------------------------------------------------------------------------

def test_cli_backfill_and_changes(synced):
    import json

    from typer.testing import CliRunner

    from perftiers.cli import app

    settings = synced
    home = str(settings.home)
    runner = CliRunner()
    refresh(settings, REFS[4])
    before = catalog.current_snapshot_id(catalog.load(settings, catalog.TIER_HISTORY))
    for args, message in ((["--from", REFS[3].isoformat(), "--to", REFS[1].isoformat()], "is after"),
                          (["--from", "2999-01-01"], "future"),
                          (["--from", "1990-01-01", "--to", "1990-02-01"], "no data"),
                          (["--from", "2024-02-30"], "not a date")):
        result = runner.invoke(app, ["--data-dir", home, "history", "backfill", *args])
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()), result.output
    assert catalog.current_snapshot_id(catalog.load(settings, catalog.TIER_HISTORY)) == before
    close(settings)

    result = runner.invoke(app, ["--data-dir", home, "history", "backfill", "--from", REFS[0].isoformat(),
                                 "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["to"] == (REFS[4] - timedelta(days=1)).isoformat()
    close(settings)
    result = runner.invoke(app, ["--data-dir", home, "changes", "--output", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["since"] == (REFS[4] - timedelta(days=1)).isoformat()  # the last backfilled day
    close(settings)
    now, then = states(settings, REFS[4]), states(settings, REFS[4] - timedelta(days=1))
    moved = {p for p in now if any(now[p][f] != (then.get(p) or {}).get(f) for f in STATE[:4])}
    assert {i["artifact_id"] for i in report["items"]} == moved
    text = runner.invoke(app, ["--data-dir", home, "changes", "--since", REFS[0].isoformat()])
    assert text.exit_code == 0 and "Tier changes since" in text.output, text.output
    bad = runner.invoke(app, ["--data-dir", home, "changes", "--since", "2999-01-01"])
    assert bad.exit_code == 2 and "future" in bad.output
