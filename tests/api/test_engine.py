"""The serving engine: atomic snapshot swaps under concurrent reads, table clean-up, the watcher."""

from __future__ import annotations

import threading
import time

from perftiers.lakehouse import catalog
from perftiers.query.engine import QueryEngine
from tests.api import store as known
from tests.api.conftest import client_for, make_tokens


def winners_by_snapshot(settings) -> dict[str, int]:
    """Winner count of every snapshot of measurement.performance, read straight from Iceberg."""
    table = catalog.load(settings, catalog.PERFORMANCE)
    out = {}
    for snap in table.snapshots():
        rows = table.scan(snapshot_id=snap.snapshot_id, selected_fields=("is_winner",)).to_arrow()
        out[str(snap.snapshot_id)] = sum(rows.column("is_winner").to_pylist())
    return out


def served_tables(engine: QueryEngine) -> set[str]:
    cur = engine._cursor()
    try:
        return {r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                          "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        cur.close()


def test_swaps_under_concurrent_reads_never_fail_or_mix(fresh_store):
    settings = fresh_store
    app, client = client_for(settings)
    token = make_tokens(settings)["viewer"]
    headers = {"Authorization": f"Bearer {token}"}
    engine: QueryEngine = app.state.engine
    engine.check(force=True)
    stop = threading.Event()
    seen: list[tuple[str, int, int]] = []
    failures: list[str] = []

    def reader(kind: str) -> None:
        while not stop.is_set():
            if kind == "summary":
                r = client.get("/api/performance-metrics/stats/summary", headers=headers)
                winners = r.json().get("winners", -1) if r.status_code == 200 else -1
            else:
                r = client.get("/api/performance-metrics", params={"pageSize": 500}, headers=headers)
                winners = sum(i["is_winner"] for i in r.json()["items"]) if r.status_code == 200 else -1
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:200]}")
            seen.append((r.headers.get("X-Snapshot-Id", ""), winners, r.status_code))

    threads = [threading.Thread(target=reader, args=(k,)) for k in ("summary", "list") * 3]
    for t in threads:
        t.start()
    try:
        for threshold in (26, 20, 29, 20):
            known.set_thresholds(settings, winner_30_day_threshold=threshold)
            record = known.refresh(settings)
            engine.check(force=True)  # (a reader's inline check may have loaded it first)
            assert engine.current().ids.performance == record["snapshot_id"]
            time.sleep(0.15)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    expected = winners_by_snapshot(settings)
    snapshots = {s for s, _, _ in seen}
    assert len(snapshots) >= 4, snapshots
    for snapshot_id, winners, _ in seen:
        assert winners == expected[snapshot_id], (snapshot_id, winners)
    # only the current snapshot's tables remain once no request holds an older one
    current = engine.current()
    assert served_tables(engine) == set(current.tables)
    engine.stop()


def test_a_running_read_keeps_its_snapshot_through_a_swap(fresh_store):
    settings = fresh_store
    engine = QueryEngine(settings)
    engine.check(force=True)
    with engine.reading() as (old, cur):
        known.set_thresholds(settings, winner_30_day_threshold=26)
        known.refresh(settings)
        assert engine.check(force=True)
        assert engine.current() is not old
        winners = cur.execute(f"SELECT COUNT(*) FROM {old.performance} WHERE is_winner").fetchone()[0]
        assert winners == 2  # still the old snapshot's rows
        assert old.performance in served_tables(engine)
    assert old.performance not in served_tables(engine)
    assert old.sales_days in served_tables(engine)  # raw tables did not change: shared with the new one
    engine.stop()


def test_the_watcher_picks_up_commits_from_other_processes(fresh_store):
    settings = fresh_store
    engine = QueryEngine(settings, check_interval=0.1)
    engine.start()
    try:
        before = engine.current().snapshot_id
        known.refresh(settings)  # as another process would: straight to the catalog
        deadline = time.monotonic() + 60  # a cap for a loaded machine; it loads in well under a second
        while engine.current().snapshot_id == before:
            assert time.monotonic() < deadline, "the watcher did not load the new snapshot"
            time.sleep(0.05)
    finally:
        engine.stop()


def test_an_empty_data_folder_serves_empty_answers(settings):
    app, client = client_for(settings)
    token = make_tokens(settings)["viewer"]
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/performance-metrics", headers=headers).json()
    assert body == {"items": [], "page": 1, "pageSize": 50, "total": 0, "totalPages": 0}
    assert client.get("/api/performance-metrics/stats/summary", headers=headers).json()["total_artifacts"] == 0
    assert client.get("/analytics/commerce/overview", headers=headers).json()["order_count"] == 0
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["has_data"] is False
    settings_body = client.get("/api/performance-metrics/settings/classification", headers=headers).json()
    assert settings_body["version"] == 1 and settings_body["applied_version"] is None and settings_body["pending"]
    app.state.engine.stop()


def test_stop_waits_for_a_load_running_on_another_thread(fresh_store, monkeypatch):
    """A finished job reloads the engine from its own thread; stopping the engine meanwhile (server
    shutdown, test teardown) must wait for that load, not close the connection under it (that
    crashed DuckDB with SIGSEGV)."""
    from perftiers.query import snapshot as snap

    engine = QueryEngine(fresh_store)
    real_load_raw = snap.load_raw
    loading = threading.Event()

    def slow_load_raw(*args, **kwargs):
        loading.set()
        time.sleep(0.5)
        return real_load_raw(*args, **kwargs)

    monkeypatch.setattr(snap, "load_raw", slow_load_raw)
    errors: list[BaseException] = []

    def load() -> None:
        try:
            engine.check(force=True)
        except BaseException as exc:  # recorded for the assertion below
            errors.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    assert loading.wait(10)
    t0 = time.monotonic()
    engine.stop()
    waited = time.monotonic() - t0
    loader.join(10)
    assert errors == []
    assert waited >= 0.3  # stop() waited for the load instead of closing the connection under it
    assert engine.current() is None
    assert engine.check(force=True) is False  # a stopped engine loads nothing more
