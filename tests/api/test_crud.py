"""Manual changes: create / update / delete, kept as overrides across refreshes, flags always by the rules."""

from __future__ import annotations

from urllib.parse import quote

from perftiers.metadata import locks
from perftiers.metadata.db import engine_for
from tests.api import store as known
from tests.api.conftest import assert_error

URL = "/api/performance-metrics"


def rule_flags(rows: list[dict], spec: dict) -> dict[str, list[str]]:
    """SPEC.md's rules, read independently of perftiers.rules."""
    ranked = sorted(rows, key=lambda r: (r["aggregate_measurement_value"], r["artifact_id"].encode()))
    bananas = {r["artifact_id"] for r in ranked[: spec["banana_count"]]}
    out = {}
    for r in rows:
        flags = []
        if (r["sales_first_7_days"] >= spec["top_riser_7_day_threshold"]
                or r["sales_first_14_days"] >= spec["top_riser_14_day_threshold"]):
            flags.append("top_riser")
        if r["sales_last_30_days"] >= spec["winner_30_day_threshold"]:
            flags.append("winner")
        if r["artifact_id"] in bananas:
            flags.append("banana")
        if not r["is_active"] and r["sales_last_30_days"] == 0:
            flags.append("archive_candidate")
        out[r["artifact_id"]] = flags
    return out


def assert_invariant(api, spec=known.THRESHOLDS) -> dict[str, dict]:
    api.reload()
    rows = api.get(URL, params={"pageSize": 500}).json()["items"]
    assert {r["artifact_id"]: r["classifications"] for r in rows} == rule_flags(rows, spec)
    for r in rows:
        assert r["nominal_classification"] == (r["classifications"] or ["none"])[0]
        assert r["is_top_riser"] == ("top_riser" in r["classifications"])
    return {r["artifact_id"]: r for r in rows}


def test_create_update_delete_keep_the_rules(fresh_api):
    api = fresh_api
    created = api.post(URL, role="editor", json={"artifact_id": "NEW-1", "product_name": "New One",
                                                 "sales_last_30_days": 50, "tags": ["color:green"]})
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["source"] == "manual" and row["classifications"] == ["winner", "banana"]
    assert row["aggregate_measurement_value"] == 0 and row["is_active"] is True and row["spec_version"] == 1
    rows = assert_invariant(api)
    assert rows["SKU-003"]["is_banana"] is False  # NEW-1 (0 units) now ranks below it: banana is table-wide

    assert_error(api.post(URL, role="editor", json={"artifact_id": "NEW-1"}), 409, "conflict")

    updated = api.put(f"{URL}/SKU-006", role="editor", json={"sales_last_30_days": 30, "product_name": "Zeta Hat v2"})
    assert updated.status_code == 200, updated.text
    row = updated.json()
    assert (row["product_name"], row["sales_last_30_days"], row["source"]) == ("Zeta Hat v2", 30, "manual")
    assert row["vendor"] == "Crown" and row["classifications"] == ["winner"]
    assert_error(api.put(f"{URL}/NOPE", role="editor", json={"vendor": "x"}), 404, "not_found")
    assert_error(api.put(f"{URL}/SKU-006", role="editor", json={}), 422)
    assert_error(api.put(f"{URL}/SKU-006", role="editor", json={"is_active": None}), 422)
    assert_error(api.put(f"{URL}/SKU-006", role="editor", json={"is_top_riser": True}), 422)

    deleted = api.delete(f"{URL}/SKU-002", role="editor")
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(api.get(f"{URL}/SKU-002"), 404)
    assert_error(api.delete(f"{URL}/SKU-002", role="editor"), 404)
    rows = assert_invariant(api)
    assert len(rows) == 8 and "SKU-002" not in rows


def test_overrides_survive_a_refresh_until_removed(fresh_api):
    api = fresh_api
    api.post(URL, role="editor", json={"artifact_id": "NEW-1", "sales_last_30_days": 50})
    api.put(f"{URL}/SKU-006", role="editor", json={"sales_last_30_days": 30})
    api.delete(f"{URL}/SKU-002", role="editor")

    known.sync(api.settings)
    known.refresh(api.settings)
    rows = assert_invariant(api)
    assert "SKU-002" not in rows
    assert (rows["SKU-006"]["sales_last_30_days"], rows["SKU-006"]["source"]) == (30, "manual")
    assert rows["NEW-1"]["source"] == "manual" and rows["NEW-1"]["is_winner"]
    assert rows["SKU-001"]["source"] == "sync"
    kept = {o["artifact_id"]: o for o in api.get(f"{URL}/overrides").json()["items"]}
    assert kept["SKU-002"]["deleted"] and kept["SKU-006"]["fields"] == {"sales_last_30_days": 30}

    # a POST of a deleted artifact re-creates it; the refresh fills the metrics it did not set
    assert api.post(URL, role="editor", json={"artifact_id": "SKU-002", "vendor": "Manual Co"}).status_code == 201
    removed = api.delete(f"{URL}/overrides/SKU-006", role="editor")
    assert removed.status_code == 200 and removed.json()["removed"] is True
    assert_error(api.delete(f"{URL}/overrides/SKU-006", role="editor"), 404)
    known.refresh(api.settings)
    rows = assert_invariant(api)
    assert (rows["SKU-002"]["vendor"], rows["SKU-002"]["sales_last_30_days"], rows["SKU-002"]["source"]) == (
        "Manual Co", 28, "manual")
    assert (rows["SKU-006"]["sales_last_30_days"], rows["SKU-006"]["source"]) == (0, "sync")


def test_writes_use_the_applied_spec_not_a_pending_one(fresh_api):
    api = fresh_api
    pending = {**known.THRESHOLDS, "winner_30_day_threshold": 26}
    assert api.put(f"{URL}/settings/classification", role="editor", json=pending).status_code == 200
    row = api.put(f"{URL}/SKU-007", role="editor", json={"product_name": "Renamed"}).json()
    assert row["spec_version"] == 1
    rows = assert_invariant(api, known.THRESHOLDS)
    assert rows["SKU-001"]["is_winner"]  # 25 >= 20 (v1), although v2 would say 25 < 26


def test_writes_wait_for_a_running_pipeline(fresh_api):
    api = fresh_api
    db = engine_for(api.settings.resolved_database_url)
    lock = locks.acquire(db, lease_seconds=60, holder="test-run")
    try:
        assert_error(api.post(URL, role="editor", json={"artifact_id": "X-1"}), 409, "already_running")
        assert_error(api.put(f"{URL}/SKU-001", role="editor", json={"vendor": "x"}), 409, "already_running")
        assert_error(api.delete(f"{URL}/SKU-001", role="editor"), 409, "already_running")
    finally:
        lock.release()
    assert api.get(f"{URL}/overrides").json()["items"] == []
    assert api.get(f"{URL}/SKU-001").json()["vendor"] == "Acme"


def test_ids_with_slashes_and_unicode(fresh_api):
    api = fresh_api
    for artifact_id in ("gid://shopify/Product/1", "Ünïcødé ☃ 商品"):
        assert api.post(URL, role="editor", json={"artifact_id": artifact_id}).status_code == 201
        got = api.get(f"{URL}/{quote(artifact_id, safe='')}")
        assert got.status_code == 200 and got.json()["artifact_id"] == artifact_id
        assert api.delete(f"{URL}/{quote(artifact_id, safe='')}", role="editor").status_code == 204


def test_viewers_cannot_write(api):
    assert_error(api.post(URL, json={"artifact_id": "V-1"}), 403, "forbidden")
    assert_error(api.put(f"{URL}/SKU-001", json={"vendor": "x"}), 403, "forbidden")
    assert_error(api.delete(f"{URL}/SKU-001"), 403, "forbidden")


def test_concurrent_edits_queue_instead_of_failing(fresh_api):
    import threading

    api = fresh_api
    results: list[int] = []

    def edit(i: int) -> None:
        results.append(api.put(f"{URL}/SKU-00{i}", role="editor", json={"vendor": f"V{i}"}).status_code)

    threads = [threading.Thread(target=edit, args=(i,)) for i in (1, 2, 3, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200, 200]
    rows = assert_invariant(api)
    assert [rows[f"SKU-00{i}"]["vendor"] for i in (1, 2, 3, 6)] == ["V1", "V2", "V3", "V6"]


def test_money_values_are_kept_to_four_decimal_places(fresh_api):
    """Money is stored as DECIMAL(18, 4): finer values are rounded half-even, never a 500."""
    api = fresh_api
    for sent, kept in [(-1.5755857448600112e-201, 0.0), (0.1 + 0.2, 0.3), (19.99995, 20.0),
                       (12.34565, 12.3456), (-7.25, -7.25), (1e13, 1e13)]:
        answer = api.put(f"{URL}/SKU-006", role="editor", json={"revenue_last_30_days": sent, "lifetime_revenue": sent})
        assert answer.status_code == 200, (sent, answer.text)
        row = api.get(f"{URL}/SKU-006").json()
        assert row["revenue_last_30_days"] == row["lifetime_revenue"] == kept, sent
    assert_error(api.put(f"{URL}/SKU-006", role="editor", json={"lifetime_revenue": 1e14}), 422)
    assert_error(api.post(URL, role="editor", json={"artifact_id": "NEW-1", "lifetime_revenue": 1e-300,
                                                    "revenue_last_30_days": "1e400"}), 422)
