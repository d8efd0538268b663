"""The source document's acceptance criteria against a real `perftiers serve` (subprocess, real HTTP).

- the list endpoint returns paginated metrics with correct filters;
- a threshold update persists and takes effect at the next mart refresh (and not before);
- summary counts and sums equal what the list returns per tier under the same filters;
- search is case-insensitive over product name and artifact identifier;
- a product that matches several rules carries every flag.
Plus: first run on a fresh folder (login link, demo hint), a new user's walk through every endpoint
on demo data, and the error shape over HTTP.
"""

from __future__ import annotations

import re
import subprocess
import time

import httpx
import pytest

from tests.api import store as known
from tests.api.conftest import assert_error, make_settings, make_tokens
from tests.serve import perftiers_command, start_server, stop_server

LIST = "/api/performance-metrics"
SETTINGS = "/api/performance-metrics/settings/classification"
TIER_KEYS = {"top_riser": "top_risers", "winner": "winners", "banana": "bananas",
             "archive_candidate": "archive_candidates"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e") / "data"
    settings = known.build(make_settings(home))
    tokens = make_tokens(settings)
    server = start_server(home)
    clients = {role: httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {t}"}, timeout=30)
               for role, t in tokens.items()}
    clients["anonymous"] = httpx.Client(base_url=server.base_url, timeout=30)
    yield clients
    for c in clients.values():
        c.close()
    stop_server(server)
    assert not any(t in server.log() for t in tokens.values()), "a token reached the server log"


def every_page(client, params: list, page_size: int = 3) -> list[dict]:
    items, page = [], 1
    while True:
        body = client.get(LIST, params=params + [("pageSize", page_size), ("page", page)]).json()
        items += body["items"]
        assert body["totalPages"] == -(-body["total"] // page_size)
        if page >= body["totalPages"]:
            assert len(items) == body["total"]
            return items
        page += 1


def test_paginated_list_with_correct_filters(served):
    viewer = served["viewer"]
    first = viewer.get(LIST, params={"pageSize": 3})
    assert first.status_code == 200 and first.headers["X-Snapshot-Id"].isdigit()
    assert (first.json()["total"], first.json()["totalPages"]) == (8, 3)
    assert [i["artifact_id"] for i in every_page(viewer, [])] == known.DEFAULT_ORDER
    cases = [
        ([("classification", "winner")], {"SKU-001", "SKU-002"}),
        ([("classification", "archive_candidate"), ("is_active", "false")], {"sku-004", "SKU-005"}),
        ([("product_type", "Tee"), ("vendor", "Crown")], {"SKU-008"}),
        ([("tag", "color:red"), ("tag", "color:blue"), ("tag", "size:M")], {"SKU-001"}),
        ([("tag", "size:M"), ("tag", "size:S")], {"SKU-001", "sku-004", "SKU-007"}),
        ([("launched_from", "2025-03-01"), ("launched_to", "2025-03-27")], {"SKU-001", "SKU-007"}),
    ]
    for params, expected in cases:
        assert {i["artifact_id"] for i in every_page(viewer, params, page_size=2)} == expected, params
    by_units = every_page(viewer, [("sort", "aggregate_measurement_value"), ("order", "asc")])
    assert [i["aggregate_measurement_value"] for i in by_units] == [0, 1, 3, 5, 8, 10, 25, 28]
    assert_error(viewer.get(LIST, params={"pageSize": 501}), 400, "bad_request")
    assert_error(viewer.get(LIST, params={"classification": "rockstar"}), 400, "bad_request")
    assert_error(viewer.get(LIST, params={"sort": "password"}), 400, "bad_request")


def test_search_is_case_insensitive_on_name_and_identifier(served):
    viewer = served["viewer"]
    for term, expected in (("alpha", {"SKU-001", "SKU-007"}), ("ALPHA SOCKS", {"SKU-007"}),
                           ("sku-004", {"sku-004"}), ("SKU-004", {"sku-004"}), ("hOoDiE", {"SKU-002"}),
                           ("%", {"SKU-003"}), ("_", {"SKU-003", "SKU-008"})):
        assert {i["artifact_id"] for i in every_page(viewer, [("search", term)])} == expected, term


def test_a_product_with_several_flags_returns_them_all(served):
    viewer = served["viewer"]
    alpha = viewer.get(f"{LIST}/SKU-001").json()
    assert alpha["classifications"] == ["top_riser", "winner"] and alpha["is_top_riser"] and alpha["is_winner"]
    assert len(alpha["reasons"]) == 3
    scarf = viewer.get(f"{LIST}/SKU-005").json()
    assert scarf["classifications"] == ["banana", "archive_candidate"] and scarf["nominal_classification"] == "banana"
    for tier in ("top_riser", "winner"):
        assert "SKU-001" in {i["artifact_id"] for i in every_page(viewer, [("classification", tier)])}
    for tier in ("banana", "archive_candidate"):
        assert "SKU-005" in {i["artifact_id"] for i in every_page(viewer, [("classification", tier)])}


def summary_matches_list(client, params: list) -> dict:
    summary = client.get(f"{LIST}/stats/summary", params=params).json()
    rows = every_page(client, params, page_size=2)
    assert summary["total_artifacts"] == len(rows)
    assert summary["aggregate_measurement_total"] == sum(r["aggregate_measurement_value"] for r in rows)
    assert summary["sales_last_30_days"] == sum(r["sales_last_30_days"] for r in rows)
    for tier, key in TIER_KEYS.items():
        listed = client.get(LIST, params=params + [("classification", tier)]).json()["total"]
        assert summary[key] == listed == sum(tier in r["classifications"] for r in rows), (params, tier)
    return summary


def test_summary_counts_and_sums_match_the_list(served):
    viewer = served["viewer"]
    assert summary_matches_list(viewer, []) == known.SUMMARY
    for params in ([("vendor", "Crown")], [("tag", "color:red")], [("is_active", "false")], [("search", "e")],
                   [("launched_from", "2024-01-01"), ("product_type", "Tee"), ("product_type", "Cap")]):
        summary_matches_list(viewer, params)


def test_errors_over_http(served):
    anonymous, viewer, editor = served["anonymous"], served["viewer"], served["editor"]
    assert_error(anonymous.get(LIST), 401, "unauthorized")
    assert_error(viewer.put(SETTINGS, json=known.THRESHOLDS), 403, "forbidden")
    assert_error(viewer.get(f"{LIST}/NOPE"), 404, "not_found")
    assert_error(editor.put(SETTINGS, json={"banana_count": "many"}), 422, "validation_failed")
    big = b'{"artifact_id": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert_error(editor.post(LIST, content=big, headers={"Content-Type": "application/json"}), 413)
    for raw in ("search=%FF%FE", "search=%00", "launched_from=%ED%A0%80", "tag=%F0%9F%92%A9"):
        assert viewer.get(f"{LIST}?{raw}").status_code < 500, raw
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/openapi.json").json()["info"]["title"] == "perftiers"


def test_threshold_update_persists_and_applies_at_the_next_refresh(served):
    viewer, editor = served["viewer"], served["editor"]
    read = viewer.get(SETTINGS)
    etag = read.headers["ETag"]
    before = viewer.get(LIST, params={"classification": "winner"})
    snapshot = before.headers["X-Snapshot-Id"]

    saved = editor.put(SETTINGS, json={**known.THRESHOLDS, "winner_30_day_threshold": 26}, headers={"If-Match": etag})
    assert saved.status_code == 200 and saved.json()["pending"] is True
    assert_error(editor.put(SETTINGS, json=known.THRESHOLDS, headers={"If-Match": etag}), 412)

    time.sleep(1.5)  # longer than the engine's snapshot check: nothing may change without a refresh
    persisted = viewer.get(SETTINGS).json()
    assert persisted["winner_30_day_threshold"] == 26 and persisted["pending"] is True
    unchanged = viewer.get(LIST, params={"classification": "winner"})
    assert unchanged.headers["X-Snapshot-Id"] == snapshot
    assert {i["artifact_id"] for i in unchanged.json()["items"]} == {"SKU-001", "SKU-002"}

    run = editor.post("/api/performance-metrics/refresh", params={"as_of": known.AS_OF.isoformat()})
    assert run.status_code == 202
    run_id = run.json()["run_id"]
    deadline = time.monotonic() + 30
    while (record := viewer.get(f"/api/sync/runs/{run_id}").json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert record["status"] == "succeeded" and record["spec_version"] == 2
    while (after := viewer.get(LIST, params={"classification": "winner"})).headers["X-Snapshot-Id"] == snapshot:
        assert time.monotonic() < deadline, "the server did not pick up the new snapshot"
        time.sleep(0.1)
    assert {i["artifact_id"] for i in after.json()["items"]} == {"SKU-002"}
    applied = viewer.get(SETTINGS).json()
    assert applied["applied_version"] == 2 and applied["pending"] is False
    summary_matches_list(viewer, [])


# -- first run and a new user's walk ------------------------------------------------------------

def login_link(server, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"http://\S+/login\?token=\S+", server.log())
        if match:
            return match.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no login link printed:\n{server.log()}")


def test_first_run_prints_a_login_link_and_the_demo_hint(tmp_path):
    server = start_server(tmp_path / "empty", wait_ready=False)
    try:
        link = login_link(server)
        output = server.log()
        assert "perftiers demo --data-dir" in output and "Dashboard: http://127.0.0.1:" in output
        browser = httpx.Client(timeout=30, follow_redirects=True)
        signed_in = browser.get(link)
        assert signed_in.status_code == 200 and "text/html" in signed_in.headers["content-type"]
        assert signed_in.history[0].status_code == 303
        base = link.split("/login")[0]
        # `serve --port 0` (as tests/serve.py starts it) prints the port it bound, not 0.
        assert base == server.base_url and not base.endswith(":0") and "Uvicorn running on" in output
        assert browser.get(f"{base}/api/session").json() == {"name": "admin", "role": "admin"}
        csrf = browser.cookies["perftiers_csrf"]
        assert_error(browser.delete(f"{base}/api/session"), 403, "csrf_failed")
        assert browser.delete(f"{base}/api/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert_error(browser.get(f"{base}/api/session"), 401)
        token = link.split("token=")[1]
    finally:
        stop_server(server)
    assert token not in server.log().replace(link, ""), "the token appeared beyond the printed login link"
    again = start_server(tmp_path / "empty", wait_ready=False)  # tokens exist now: no new admin token
    try:
        # The link would come before the Dashboard line (one block, printed before serving).
        deadline = time.monotonic() + 60
        while "Dashboard: http://" not in again.log():
            assert time.monotonic() < deadline, again.log()
            time.sleep(0.05)
        assert "login?token=" not in again.log()
    finally:
        stop_server(again)


def test_a_new_user_on_demo_data_can_call_every_endpoint(tmp_path):
    home = tmp_path / "demo"
    subprocess.run([*perftiers_command(), "--data-dir", str(home), "demo", "--products", "40",
                    "--order-lines", "2000"], check=True, capture_output=True, timeout=120)
    env = {"PERFTIERS_DEMO_PRODUCTS": "40", "PERFTIERS_DEMO_ORDER_LINES": "2000"}
    server = start_server(home, extra_env=env)
    try:
        token = login_link(server).split("token=")[1]
        c = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        gets = [LIST, f"{LIST}/stats/summary", f"{LIST}/facets", f"{LIST}/schema", f"{LIST}/overrides", SETTINGS,
                f"{SETTINGS}/history", "/analytics/commerce/overview", "/analytics/commerce/products",
                "/analytics/commerce/daily", "/api/sync/runs", "/api/schedule", "/api/session", "/api/tokens",
                "/readyz"]
        for path in gets:
            assert c.get(path).status_code == 200, path
        first = c.get(LIST).json()["items"][0]["artifact_id"]
        assert c.get(f"{LIST}/{first}").status_code == 200
        assert c.get(f"{LIST}/export", params={"format": "csv"}).text.count("\n") == 41
        assert c.post(f"{SETTINGS}/preview", json=known.THRESHOLDS).json()["counts"]["total"] == 40
        assert c.put(SETTINGS, json=known.THRESHOLDS).status_code == 200
        created = c.post(LIST, json={"artifact_id": "MANUAL-1", "product_name": "Made by hand"})
        assert created.status_code == 201 and created.json()["source"] == "manual"
        assert c.put(f"{LIST}/MANUAL-1", json={"sales_last_30_days": 5}).status_code == 200
        assert c.delete(f"{LIST}/MANUAL-1").status_code == 204
        viewer = c.post("/api/tokens", json={"role": "viewer", "name": "new-viewer"}).json()
        assert c.delete(f"/api/tokens/{viewer['id']}").status_code == 204
        sync = c.post("/api/sync")
        assert sync.status_code == 202
        deadline = time.monotonic() + 60
        while c.get(f"/api/sync/runs/{sync.json()['run_id']}").json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.get(f"/api/sync/runs/{sync.json()['run_id']}").json()["status"] == "succeeded"
        page = httpx.get(server.base_url + "/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        stop_server(server)
