"""The tier-history routes: changes since a day, the list's previous tier, the summary's moves,
and one product's timeline with its daily sales (the store of tests/api/store.py, refreshed as of
2025-03-24 and then 2025-03-31)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.api import store as known
from tests.api.conftest import Api, assert_error, client_for, make_settings, make_tokens

PREVIOUS = known.AS_OF - timedelta(days=7)


@pytest.fixture(scope="module")
def hapi(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("history") / "data")
    known.set_thresholds(settings)
    known.sync(settings)
    known.refresh(settings, PREVIOUS)
    before = {r["artifact_id"]: r for r in _perf(settings)}
    known.refresh(settings, known.AS_OF)
    app, client = client_for(settings)
    api = Api(client, make_tokens(settings), settings, app)
    api.before = before
    yield api
    app.state.engine.stop()


def _perf(settings):
    from perftiers.lakehouse import catalog

    return catalog.load(settings, catalog.PERFORMANCE).scan().to_arrow().to_pylist()


def ok(response) -> dict:
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_changes_since_previous_match_the_two_refreshes(hapi):
    now = {r["artifact_id"]: r for r in ok(hapi.get("/api/performance-metrics", params={"pageSize": 500}))["items"]}
    flags = {"top_riser": "is_top_riser", "winner": "is_winner", "banana": "is_banana",
             "archive_candidate": "is_archive"}
    want_moved = {pid for pid in now if any(now[pid][f] != hapi.before[pid][f] for f in flags.values())}
    assert want_moved, "the store must change between the two refreshes"
    body = ok(hapi.get("/api/performance-metrics/changes", params={"since": "previous"}))
    assert body["since"] == PREVIOUS.isoformat() and body["as_of"] == known.AS_OF.isoformat()
    assert {i["artifact_id"] for i in body["items"]} == want_moved and body["total"] == len(want_moved)
    for item in body["items"]:
        pid = item["artifact_id"]
        assert item["previous_nominal_classification"] == hapi.before[pid]["nominal_classification"]
        assert item["nominal_classification"] == now[pid]["nominal_classification"]
    for t in body["tiers"]:
        f = flags[t["tier"]]
        assert t["entered"] == sum(1 for p in now if now[p][f] and not hapi.before[p][f])
        assert t["left"] == sum(1 for p in now if hapi.before[p][f] and not now[p][f])
    # the same counts in the summary; the list's previous tier and its changed_since filter agree
    summary = ok(hapi.get("/api/performance-metrics/stats/summary"))
    assert summary["previous_as_of"] == PREVIOUS.isoformat()
    assert summary["entered"] == {t["tier"]: t["entered"] for t in body["tiers"]}
    assert summary["left"] == {t["tier"]: t["left"] for t in body["tiers"]}
    for pid, row in now.items():
        assert row["previous_nominal_classification"] == hapi.before[pid]["nominal_classification"]
    changed = ok(hapi.get("/api/performance-metrics", params={"changed_since": "previous"}))
    assert {i["artifact_id"] for i in changed["items"]} == want_moved
    one = ok(hapi.get(f"/api/performance-metrics/{sorted(want_moved)[0]}"))
    assert one["previous_nominal_classification"] == hapi.before[sorted(want_moved)[0]]["nominal_classification"]


def test_changes_take_the_list_filters_and_pages(hapi):
    everything = ok(hapi.get("/api/performance-metrics/changes", params={"pageSize": 1}))
    assert everything["totalPages"] == everything["total"] and len(everything["items"]) == 1
    acme = ok(hapi.get("/api/performance-metrics/changes", params={"vendor": "Acme"}))
    names = {r["artifact_id"]: r["vendor"] for r in ok(hapi.get("/api/performance-metrics",
                                                                params={"pageSize": 500}))["items"]}
    assert all(names[i["artifact_id"]] == "Acme" for i in acme["items"])
    # since a day before any history: every current flag was entered
    early = ok(hapi.get("/api/performance-metrics/changes", params={"since": "2020-01-01"}))
    assert all(i["previous_nominal_classification"] is None for i in early["items"])


def test_product_history_has_periods_and_every_day(hapi):
    body = ok(hapi.get("/api/performance-metrics/SKU-001/history",
                       params={"from": "2025-03-20", "to": known.AS_OF.isoformat()}))
    assert body["from"] == "2025-03-20" and len(body["daily"]) == 12
    by_day = {d["day"]: d for d in body["daily"]}
    assert by_day["2025-03-22"]["units"] == 12 and by_day["2025-03-22"]["orders"] == 1
    assert by_day["2025-03-21"]["units"] == 0
    periods = body["periods"]
    assert periods[0]["valid_from"] == PREVIOUS.isoformat() and periods[-1]["valid_to"] is None
    assert periods[-1]["nominal_classification"] == "top_riser"
    assert not any(p["backfilled"] for p in periods)
    default = ok(hapi.get("/api/performance-metrics/SKU-001/history"))
    assert default["to"] == known.AS_OF.isoformat() and len(default["daily"]) == 90


@pytest.mark.parametrize("path, params, status", [
    ("/api/performance-metrics/SKU-001/history", {"from": "2025-03-10", "to": "2025-03-01"}, 400),
    ("/api/performance-metrics/SKU-001/history", {"to": (date.today() + timedelta(days=2)).isoformat()}, 400),
    ("/api/performance-metrics/SKU-001/history", {"from": "2025-02-30"}, 400),
    ("/api/performance-metrics/NOPE-404/history", {}, 404),
    ("/api/performance-metrics/changes", {"since": (date.today() + timedelta(days=2)).isoformat()}, 400),
    ("/api/performance-metrics/changes", {"since": "yesterday"}, 400),
    ("/api/performance-metrics", {"changed_since": "last"}, 400),
    ("/api/performance-metrics", {"changed_since": (date.today() + timedelta(days=2)).isoformat()}, 400),
    ("/api/performance-metrics/SKU-001/history", {"from": (date.today() + timedelta(days=2)).isoformat()}, 400),
    ("/api/performance-metrics/NOPE-404/history", {"from": "2025-03-01", "to": "2025-03-10"}, 404),
])
def test_bad_history_input_is_a_clear_4xx(hapi, path, params, status):
    assert_error(hapi.get(path, params=params), status)


@pytest.mark.parametrize("params, loc, words", [
    ({"from": "2025-03-10", "to": "2025-03-01"}, "from", "is after to"),
    ({"from": (date.today() + timedelta(days=2)).isoformat()}, "from", "is in the future"),
    ({"to": (date.today() + timedelta(days=2)).isoformat()}, "to", "is in the future"),
])
def test_a_bad_history_range_names_the_parameter_and_the_reason(hapi, params, loc, words):
    body = assert_error(hapi.get("/api/performance-metrics/SKU-001/history", params=params), 400)
    assert body["details"][0]["loc"] == ["query", loc] and words in body["message"]


def test_history_routes_need_a_viewer(hapi):
    for path in ("/api/performance-metrics/changes", "/api/performance-metrics/SKU-001/history"):
        assert_error(hapi.get(path, role=None), 401)



def test_a_product_deleted_since_counts_as_having_left_its_tiers(tmp_path):
    """SKU-001 (a top riser on the previous refresh) is deleted after the current one, then a refresh reruns."""
    settings = make_settings(tmp_path / "data")
    known.set_thresholds(settings)
    known.sync(settings)
    known.refresh(settings, PREVIOUS)
    before = {r["artifact_id"]: r for r in _perf(settings)}
    assert before["SKU-001"]["is_top_riser"] and not before["SKU-001"]["is_winner"]
    known.refresh(settings, known.AS_OF)
    app, client = client_for(settings)
    api = Api(client, make_tokens(settings), settings, app)
    try:
        kept = ok(api.get("/api/performance-metrics/changes", params={"pageSize": 500}))
        assert api.delete("/api/performance-metrics/SKU-001", role="editor").status_code == 204
        for rerun in (False, True):
            if rerun:  # the next refresh leaves the deleted product out too
                known.refresh(settings, known.AS_OF)
            api.reload()
            body = ok(api.get("/api/performance-metrics/changes", params={"since": "previous", "pageSize": 500}))
            gone = {i["artifact_id"]: i for i in body["items"]}["SKU-001"]
            assert gone["left"] == ["top_riser"] and gone["entered"] == [] and gone["classifications"] == []
            assert gone["previous_nominal_classification"] == "top_riser" and gone["nominal_classification"] == "none"
            assert gone["removed"] is True and gone["product_name"] is None
            assert not any(i["removed"] for i in body["items"] if i["artifact_id"] != "SKU-001")
            want = {t["tier"]: dict(t) for t in kept["tiers"]}
            want["top_riser"]["left"] += 1  # it stayed a top riser before the deletion
            want["winner"]["entered"] -= 1  # ... and had become a winner
            assert {t["tier"]: t for t in body["tiers"]} == want
            summary = ok(api.get("/api/performance-metrics/stats/summary"))
            assert summary["left"] == {t: v["left"] for t, v in want.items()}
            # a filter selects by current attributes, which a deleted product no longer has
            acme = ok(api.get("/api/performance-metrics/changes", params={"vendor": "Acme"}))
            assert "SKU-001" not in {i["artifact_id"] for i in acme["items"]}
    finally:
        app.state.engine.stop()
