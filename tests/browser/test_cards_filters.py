"""Stat cards and filters: what the page shows equals what the API answers for the same filters."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.browser.pages import card_value, shown_ids, shown_total, wait_idle

CARD_FIELDS = {
    "all": "total_artifacts",
    "top_riser": "top_risers",
    "winner": "winners",
    "banana": "bananas",
    "archive_candidate": "archive_candidates",
    "lifetime": "aggregate_measurement_total",
    "last30": "sales_last_30_days",
}


def summary(api, **params):
    r = api.get("/api/performance-metrics/stats/summary", params=params)
    r.raise_for_status()
    return r.json()


def listing(api, **params):
    r = api.get("/api/performance-metrics", params=params)
    r.raise_for_status()
    return r.json()


def assert_cards(page, expected):
    for card, fld in CARD_FIELDS.items():
        assert card_value(page, card) == round(float(expected[fld])), card


def test_stat_cards_filter_by_tier_and_follow_filters(editor, api):
    page = editor
    assert_cards(page, summary(api))
    winners = page.locator('[data-card="winner"]')
    expect(winners).to_have_attribute("aria-pressed", "false")
    winners.click()
    wait_idle(page)
    expect(winners).to_have_attribute("aria-pressed", "true")
    expect(winners).to_have_class(re.compile(r"\bactive\b"))
    assert "classification=winner" in page.url
    assert page.get_by_label("Tier", exact=True).input_value() == "winner"
    assert shown_total(page) == listing(api, classification="winner")["total"] == card_value(page, "winner")

    # Counts follow the other filters (but not the tier itself).
    page.get_by_label("Status", exact=True).select_option("true")
    wait_idle(page)
    assert_cards(page, summary(api, is_active="true"))
    assert shown_total(page) == listing(api, classification="winner", is_active="true")["total"]

    page.locator('[data-card="banana"]').click()
    wait_idle(page)
    expect(winners).to_have_attribute("aria-pressed", "false")
    expect(page.locator('[data-card="banana"]')).to_have_attribute("aria-pressed", "true")
    assert shown_total(page) == listing(api, classification="banana", is_active="true")["total"]
    page.locator('[data-card="all"]').click()
    wait_idle(page)
    assert shown_total(page) == summary(api, is_active="true")["total_artifacts"]


def test_search_is_debounced_and_case_insensitive(editor, api):
    page = editor
    first = listing(api, pageSize=1)["items"][0]
    word = first["product_name"].split()[0]
    typed = word.swapcase()
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/api/performance-metrics?" in r.url else None)
    page.get_by_label("Search", exact=True).press_sequentially(typed, delay=30)
    # The whole word, not the first debounced prefix (fresh-clone run h2, loaded: shown for "?search=b")
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("search") == [typed])
    wait_idle(page)
    # Not one request per key (a loaded machine may pause between keys longer than the debounce,
    # so the bound is the key count, not 1).
    assert len(typed) >= 4 and len(requests) < len(typed), f"search is debounced, not one request per key: {requests}"
    expected = listing(api, search=typed)
    assert expected["total"] > 0
    assert shown_total(page) == expected["total"]
    assert shown_ids(page) == [i["artifact_id"] for i in expected["items"]]
    # The identifier is searched too.
    page.get_by_label("Search", exact=True).fill(first["artifact_id"].upper())
    page.wait_for_url(re.compile(re.escape(first["artifact_id"].upper())))
    wait_idle(page)
    assert first["artifact_id"] in shown_ids(page)


def facets(api, **params):
    r = api.get("/api/performance-metrics/facets", params=params)
    r.raise_for_status()
    return r.json()


def test_type_vendor_and_tag_filters_use_facets(editor, api):
    page = editor
    f = facets(api)
    # The choices and their counts come from the facets endpoint.
    type_options = page.get_by_label("Product type", exact=True).locator("option").all_inner_texts()
    assert len(type_options) == len(f["product_types"]) + 1
    t = f["product_types"][0]
    page.get_by_label("Product type", exact=True).select_option(t["value"])
    wait_idle(page)
    assert shown_total(page) == t["count"] == listing(api, product_type=t["value"])["total"]

    f2 = facets(api, product_type=t["value"])
    vendor = f2["vendors"][0]
    page.get_by_label("Vendor", exact=True).select_option(vendor["value"])
    wait_idle(page)
    assert shown_total(page) == listing(api, product_type=t["value"], vendor=vendor["value"])["total"]

    page.get_by_role("button", name="Clear all filters").click()
    wait_idle(page)
    group = f["tags"][0]
    category = group["category"]
    a, b = group["values"][0], group["values"][1]
    page.locator(f'.tag-group[data-category="{category}"] summary').click()
    page.get_by_role("checkbox", name=re.compile(rf"^{re.escape(a['value'])}\b")).first.check()
    wait_idle(page)
    assert shown_total(page) == listing(api, tag=[a["tag"]])["total"]
    page.get_by_role("checkbox", name=re.compile(rf"^{re.escape(b['value'])}\b")).first.check()
    wait_idle(page)
    assert shown_total(page) == listing(api, tag=[a["tag"], b["tag"]])["total"], "OR within a category"
    expect(page.locator(f'.tag-group[data-category="{category}"] summary')).to_contain_text("2 chosen")


def test_launch_dates_active_status_and_clear_all(editor, api):
    page = editor
    total = summary(api)["total_artifacts"]
    page.get_by_label("Launched from", exact=True).fill("2025-06-01")
    wait_idle(page)
    page.get_by_label("Launched to", exact=True).fill("2025-12-31")
    wait_idle(page)
    page.get_by_label("Status", exact=True).select_option("false")
    wait_idle(page)
    params = {"launched_from": "2025-06-01", "launched_to": "2025-12-31", "is_active": "false"}
    assert shown_total(page) == listing(api, **params)["total"]
    assert_cards(page, summary(api, **params))
    assert shown_total(page) < total

    page.get_by_role("button", name="Clear all filters").click()
    wait_idle(page)
    assert shown_total(page) == total
    assert page.get_by_label("Launched from", exact=True).input_value() == ""
    assert page.get_by_label("Status", exact=True).input_value() == ""
    expect(page.get_by_role("button", name="Clear all filters")).to_be_disabled()
