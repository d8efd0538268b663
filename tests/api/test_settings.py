"""Classification settings: versions, ETag / If-Match, validation, pending until refresh, preview, history."""

from __future__ import annotations

import pytest

from tests.api import store as known
from tests.api.conftest import assert_error

URL = "/api/performance-metrics/settings/classification"
NEW = {**known.THRESHOLDS, "winner_30_day_threshold": 26}


def winners(api) -> set[str]:
    body = api.get("/api/performance-metrics", params={"classification": "winner"}).json()
    return {i["artifact_id"] for i in body["items"]}


def test_get_answers_thresholds_version_and_etag(api):
    response = api.get(URL)
    body = response.json()
    assert response.headers["ETag"] == '"v1"'
    assert {k: body[k] for k in known.THRESHOLDS} == known.THRESHOLDS
    assert body["version"] == 1 and body["applied_version"] == 1 and body["pending"] is False
    assert body["created_by"] == "test" and body["created_at"]


def test_put_persists_and_changes_nothing_until_the_next_refresh(fresh_api):
    api = fresh_api
    before = api.get("/api/performance-metrics")
    put = api.put(URL, role="editor", json=NEW, headers={"If-Match": '"v1"'})
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == '"v2"'
    body = put.json()
    assert body["version"] == 2 and body["applied_version"] == 1 and body["pending"] is True
    assert body["created_by"] == "editor-user" and body["winner_30_day_threshold"] == 26

    again = api.get(URL).json()
    assert again["version"] == 2 and again["pending"] is True
    after = api.get("/api/performance-metrics")
    assert after.json() == before.json()
    assert after.headers["X-Snapshot-Id"] == before.headers["X-Snapshot-Id"]
    assert winners(api) == {"SKU-001", "SKU-002"}

    known.refresh(api.settings)
    assert api.reload()
    assert winners(api) == {"SKU-002"}  # SKU-001 sold 25 < 26
    row = api.get("/api/performance-metrics/SKU-002").json()
    assert row["spec_version"] == 2
    assert row["reasons"] == [{"tier": "winner", "metric": "sales_last_30_days", "value": 28, "threshold": 26,
                               "text": "Sold 28 units in the last 30 days; a winner needs 26"}]
    settled = api.get(URL).json()
    assert settled["applied_version"] == 2 and settled["pending"] is False


def test_stale_if_match_is_412(fresh_api):
    api = fresh_api
    assert api.put(URL, role="editor", json=NEW, headers={"If-Match": '"v1"'}).status_code == 200
    error = assert_error(api.put(URL, role="editor", json=known.THRESHOLDS, headers={"If-Match": '"v1"'}), 412,
                         "precondition_failed")
    assert error["details"]["current_version"] == 2
    assert_error(api.put(URL, role="editor", json=known.THRESHOLDS, headers={"If-Match": "garbage"}), 412)
    assert api.put(URL, role="editor", json=known.THRESHOLDS, headers={"If-Match": "*"}).status_code == 200
    assert api.put(URL, role="editor", json=known.THRESHOLDS).status_code == 200  # no If-Match: last write wins
    assert api.get(URL).json()["version"] == 4


@pytest.mark.parametrize("body, field", [
    ({**known.THRESHOLDS, "banana_count": -1}, "banana_count"),
    ({**known.THRESHOLDS, "winner_30_day_threshold": 1.5}, "winner_30_day_threshold"),
    ({**known.THRESHOLDS, "winner_30_day_threshold": "20"}, "winner_30_day_threshold"),
    ({**known.THRESHOLDS, "top_riser_7_day_threshold": True}, "top_riser_7_day_threshold"),
    ({**known.THRESHOLDS, "top_riser_14_day_threshold": 10**30}, "top_riser_14_day_threshold"),
    ({k: v for k, v in known.THRESHOLDS.items() if k != "banana_count"}, "banana_count"),
])
def test_put_validates_each_field(api, body, field):
    error = assert_error(api.put(URL, role="editor", json=body), 422, "validation_failed")
    assert [d["loc"] for d in error["details"]] == [["body", field]]
    assert api.get(URL).json()["version"] == 1


def test_viewer_cannot_put(api):
    assert_error(api.put(URL, role="viewer", json=known.THRESHOLDS), 403, "forbidden")


def test_preview_counts_without_saving(api):
    response = api.post(f"{URL}/preview", json={**known.THRESHOLDS, "winner_30_day_threshold": 26, "banana_count": 5})
    body = response.json()
    assert body["counts"] == {"total": 8, "top_riser": 2, "winner": 1, "banana": 5, "archive_candidate": 2}
    assert body["current"] == {"total": 8, "top_riser": 2, "winner": 2, "banana": 2, "archive_candidate": 2}
    assert api.get(URL).json()["version"] == 1
    assert_error(api.post(f"{URL}/preview", json={"banana_count": 1}), 422)


def test_history_names_versions_and_the_refreshes_that_applied_them(fresh_api):
    api = fresh_api
    api.put(URL, role="editor", json=NEW)
    record = known.refresh(api.settings)
    api.reload()
    body = api.get(f"{URL}/history").json()
    assert body["applied_version"] == 2 and body["latest_version"] == 2
    v2, v1 = body["versions"]
    assert (v2["version"], v2["created_by"], v2["in_force"]) == (2, "editor-user", True)
    assert [r["run_id"] for r in v2["refreshes"]] == [record["run_id"]]
    assert v2["refreshes"][0]["snapshot_id"] == record["snapshot_id"]
    assert (v1["version"], v1["in_force"], len(v1["refreshes"])) == (1, False, 1)
