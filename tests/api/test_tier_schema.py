"""One table of tiers: `/schema` lists the tiers and thresholds of `perftiers.rules`, and every count
the API gives is keyed by the names that table declares."""

from __future__ import annotations

from perftiers import rules

LIST = "/api/performance-metrics"


def test_schema_tiers_and_thresholds_come_from_rules(api):
    body = api.get(f"{LIST}/schema").json()
    assert body["tiers"] == [t.model_dump() for t in rules.TIER_TABLE]
    assert [t["key"] for t in body["tiers"]] == ["top_riser", "winner", "banana", "archive_candidate"]
    assert body["tiers"][3]["plural"] == "Archive candidates" and body["tiers"][3]["flag"] == "is_archive"
    fields = rules.ClassificationSpec.model_fields
    assert [t["name"] for t in body["thresholds"]] == list(fields)
    for t in body["thresholds"]:
        field = fields[t["name"]]
        assert (t["label"], t["description"], t["default"]) == (field.title, field.description, field.default)
        assert t["minimum"] == 0 and t["maximum"] in (10**12, 10**9)
    assert body["thresholds"][0]["label"] == "Top riser: units in first 7 days"
    assert body["thresholds"][3]["description"] == "How many products, lowest lifetime net units first, are bananas."


def test_openapi_threshold_help_is_the_rules_docstring(api):
    """The thresholds' OpenAPI descriptions are the ClassificationSpec attribute docstrings, not a copy."""
    spec = api.app.openapi()["components"]["schemas"]["ClassificationThresholds"]["properties"]
    for name, field in rules.ClassificationSpec.model_fields.items():
        assert field.description and spec[name]["description"] == field.description, name
        assert spec[name]["title"] == field.title, name


def test_counts_are_keyed_by_the_tier_table(api):
    items = api.get(LIST, params={"pageSize": 500}).json()["items"]
    held = {t.key: sum(bool(i[t.flag]) for i in items) for t in rules.TIER_TABLE}
    assert all(held.values()), held  # the known store has every tier
    summary = api.get(f"{LIST}/stats/summary").json()
    assert {t.summary_field: summary[t.summary_field] for t in rules.TIER_TABLE} == \
        {t.summary_field: held[t.key] for t in rules.TIER_TABLE}
    assert summary["total_artifacts"] == len(items)
    facets = api.get(f"{LIST}/facets").json()
    assert {f["value"]: f["count"] for f in facets["classifications"]} == held
    preview = api.post(f"{LIST}/settings/classification/preview", role="viewer",
                       json=api.get(f"{LIST}/settings/classification").json())
    assert preview.status_code == 200, preview.text
    assert preview.json()["current"] == {"total": len(items), **held}
    assert preview.json()["counts"] == preview.json()["current"]  # the applied thresholds, reclassified


def test_reasons_name_their_tier(api):
    """The dashboard groups reasons by `tier`; every flag a row carries has at least one, in plain words."""
    for item in api.get(LIST, params={"pageSize": 500}).json()["items"]:
        assert [r["tier"] for r in item["reasons"]] == sorted(
            (r["tier"] for r in item["reasons"]), key=rules.TIERS.index)
        assert {r["tier"] for r in item["reasons"]} == set(item["classifications"]), item
        for r in item["reasons"]:
            assert set(r) == {"tier", "metric", "value", "threshold", "text"}
            assert r["value"] == item[r["metric"]] and "_" not in r["text"], r
