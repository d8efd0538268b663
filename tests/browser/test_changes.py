"""What changed: "+entered / -left" on each tier card, and the Changes view (since the previous refresh,
7 or 30 days, a chosen date) under the table's filters and URL state; names open the product page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import quote

from playwright.sync_api import expect

from tests.browser.pages import WIDTHS, screenshot, wait_idle

LIST = "/api/performance-metrics"


def changes_ready(page) -> None:
    expect(page.locator("#changes-view")).to_have_attribute("aria-busy", "false")


def shown_moves(page) -> dict[str, tuple[int, int]]:
    rows = page.locator("#ch-tiers tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.tier, r.querySelector('.entered').textContent, r.querySelector('.left').textContent])")
    return {tier: (int(e), -int(left)) for tier, e, left in rows}


def api_moves(body) -> dict[str, tuple[int, int]]:
    return {t["tier"]: (t["entered"], t["left"]) for t in body["tiers"]}


def test_cards_show_entered_and_left_since_the_previous_refresh(editor, api):
    page = editor
    summary = api.get(f"{LIST}/stats/summary").json()
    assert summary["previous_as_of"], "the demo's history backfill gives a previous refresh"
    tiers = [t["key"] for t in api.get(f"{LIST}/schema").json()["tiers"]]
    for tier in tiers:
        change = page.locator(f'[data-card="{tier}"] .card-change')
        expect(change).to_contain_text(f"+{summary['entered'][tier]} / -{summary['left'][tier]}")
    # Under a filter the moves follow it, as the counts do.
    page.get_by_label("Status", exact=True).select_option("false")
    wait_idle(page)
    filtered = api.get(f"{LIST}/stats/summary", params={"is_active": "false"}).json()
    for tier in tiers:
        expect(page.locator(f'[data-card="{tier}"] .card-change')).to_contain_text(
            f"+{filtered['entered'][tier]} / -{filtered['left'][tier]}")


def test_changes_view_since_each_choice_with_filters_and_url_state(editor, api, server):
    page = editor
    page.get_by_role("link", name="Changes").click()
    changes_ready(page)
    assert "view=changes" in page.url
    expect(page.get_by_role("link", name="Changes")).to_have_attribute("aria-current", "page")
    expect(page.locator("#results")).to_be_hidden()
    previous = api.get(f"{LIST}/changes", params={"since": "previous"}).json()
    assert shown_moves(page) == api_moves(previous)
    expect(page.locator("#ch-summary")).to_contain_text(f"previous refresh (data as of {previous['since']})")
    ids = page.locator("#ch-rows tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert ids == [m["artifact_id"] for m in previous["items"]]

    as_of = date.fromisoformat(previous["as_of"])
    for choice, days in (("7", 7), ("30", 30)):
        page.get_by_label("Compare with").select_option(choice)
        changes_ready(page)
        since = (as_of - timedelta(days=days)).isoformat()
        body = api.get(f"{LIST}/changes", params={"since": since}).json()
        expect(page.locator("#ch-summary")).to_contain_text(f"last {days} days (since {since})")
        assert shown_moves(page) == api_moves(body)
        assert f"since={choice}" in page.url

    # A chosen date, and a filter on top: the same parameters as the table's.
    page.get_by_label("Compare with").select_option("date")
    chosen = (as_of - timedelta(days=20)).isoformat()
    page.get_by_label("Date", exact=True).fill(chosen)
    changes_ready(page)
    expect(page).to_have_url(re.compile(f"since={chosen}"))
    page.get_by_label("Status", exact=True).select_option("true")
    changes_ready(page)
    body = api.get(f"{LIST}/changes", params={"since": chosen, "is_active": "true"}).json()
    expect(page.locator("#ch-summary")).to_have_text(f"Since {chosen}")
    assert shown_moves(page) == api_moves(body)
    assert "is_active=true" in page.url and "view=changes" in page.url

    # Reload and a pasted link restore the view; Products keeps the filters.
    url = page.url
    page.reload()
    changes_ready(page)
    assert shown_moves(page) == api_moves(body)
    expect(page.get_by_label("Date", exact=True)).to_have_value(chosen)
    page.get_by_role("link", name="Products").click()
    wait_idle(page)
    assert "view=" not in page.url and "is_active=true" in page.url
    page.go_back()
    changes_ready(page)
    assert page.url == url

    # A name opens the product page; Back returns to the Changes view.
    if body["items"]:
        first = body["items"][0]
        page.locator("#ch-rows").get_by_role("link", name=first["product_name"] or first["artifact_id"]).first.click()
        expect(page).to_have_url(f"{server.url}/?product={quote(first['artifact_id'])}")
        expect(page.locator("#product-body")).to_have_attribute("aria-busy", "false")
        page.go_back()
        changes_ready(page)
        assert page.url == url


def test_changes_view_screenshots(editor, server, api):
    page = editor
    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.goto(f"{server.url}/?view=changes&since=30")
        changes_ready(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the Changes view scrolls sideways by {overflow}px"
        expect(page.locator("#ch-tiers tr")).to_have_count(len(api.get(f"{LIST}/schema").json()["tiers"]))
        screenshot(page, f"changes-{name}")


def test_a_removed_product_is_listed_without_a_link(editor, api):
    """A product deleted since the day compared with has no page: its row names it without a link."""
    page = editor
    previous = api.get(f"{LIST}/changes", params={"since": "previous"}).json()
    assert previous["items"], "the demo's history gives products that moved"
    gone = previous["items"][0]

    def mark_removed(route):  # the API's answer for such a product (tests/api/test_history.py)
        body = route.fetch().json()
        for item in body["items"]:
            if item["artifact_id"] == gone["artifact_id"]:
                item.update(removed=True, product_name=None, nominal_classification="none", classifications=[])
        route.fulfill(json=body)

    page.route(re.compile(r".*/api/performance-metrics/changes\?.*"), mark_removed)
    page.get_by_role("link", name="Changes").click()
    changes_ready(page)
    row = page.locator(f'#ch-rows tr[data-id="{gone["artifact_id"]}"]')
    expect(row).to_contain_text("Removed product")
    expect(row.locator("td").nth(2)).to_have_text("removed")
    expect(row.get_by_role("link")).to_have_count(0)
    others = page.locator("#ch-rows tr").count()
    assert page.locator("#ch-rows tr a").count() == others - 1
