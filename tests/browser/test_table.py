"""The products table: sorting, pagination, badges with reasons, the empty state."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.pages import shown_ids, shown_total, wait_idle

BADGE_COLOURS = {  # tier -> the hue family its background must be in
    "banana": "yellow",
    "winner": "blue",
    "top_riser": "green",
    "archive_candidate": "red",
}
FLAG_TIER = {"is_top_riser": "top_riser", "is_winner": "winner", "is_banana": "banana", "is_archive": "archive_candidate"}


def listing(api, **params):
    r = api.get("/api/performance-metrics", params=params)
    r.raise_for_status()
    return r.json()


def ids(data):
    return [i["artifact_id"] for i in data["items"]]


def test_sortable_columns_toggle_direction(editor, api):
    page = editor
    header = page.get_by_role("columnheader", name=re.compile("Last 30 days"))
    button = header.get_by_role("button")
    expect(header).to_have_attribute("aria-sort", "none")
    button.click()
    wait_idle(page)
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(header.locator(".arrow")).to_have_text("▼")
    assert "sort=sales_last_30_days" in page.url and "order=desc" in page.url
    assert shown_ids(page) == ids(listing(api, sort="sales_last_30_days", order="desc"))

    button.click()
    wait_idle(page)
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(header.locator(".arrow")).to_have_text("▲")
    assert shown_ids(page) == ids(listing(api, sort="sales_last_30_days", order="asc"))

    # A text column starts ascending; the previous column goes back to unsorted.
    page.get_by_role("columnheader", name=re.compile("Product")).first.get_by_role("button").click()
    wait_idle(page)
    expect(header).to_have_attribute("aria-sort", "none")
    assert shown_ids(page) == ids(listing(api, sort="product_name", order="asc"))


def test_pagination_controls_and_page_size(editor, api):
    page = editor
    page.get_by_label("Rows per page", exact=True).select_option("25")
    wait_idle(page)
    first = listing(api, pageSize=25)
    assert first["totalPages"] > 3
    assert shown_ids(page) == ids(first)
    expect(page.locator("#pg-of")).to_have_text(f"of {first['totalPages']}")
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    expect(page.get_by_role("button", name="First page")).to_be_disabled()
    assert shown_total(page) == first["total"]

    page.get_by_role("button", name="Next page").click()
    wait_idle(page)
    assert shown_ids(page) == ids(listing(api, pageSize=25, page=2))
    page.get_by_role("button", name="Last page").click()
    wait_idle(page)
    last = first["totalPages"]
    assert shown_ids(page) == ids(listing(api, pageSize=25, page=last))
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    expect(page.get_by_label(re.compile("Page number"))).to_have_value(str(last))

    page_input = page.get_by_label(re.compile("Page number"))
    page_input.fill("3")
    page_input.press("Enter")
    wait_idle(page)
    assert shown_ids(page) == ids(listing(api, pageSize=25, page=3))
    page.get_by_role("button", name="Previous page").click()
    wait_idle(page)
    assert shown_ids(page) == ids(listing(api, pageSize=25, page=2))
    page.get_by_role("button", name="First page").click()
    wait_idle(page)
    assert shown_ids(page) == ids(first)
    # A page number past the end goes to the last page.
    page_input.fill("9999")
    page_input.press("Enter")
    wait_idle(page)
    expect(page_input).to_have_value(str(last))


def hue(rgb: str) -> str:
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    if r > 200 and g > 200 and b < 190:
        return "yellow"
    if b >= r and b >= g:
        return "blue"
    if g > r and g > b:
        return "green"
    if r > g and r > b:
        return "red"
    return "?"


def test_badges_show_every_flag_with_reasons(editor, api):
    page = editor
    # A product carrying two flags (a top riser that is also a winner, or archived banana ...).
    many = None
    for tier in ("winner", "archive_candidate", "banana", "top_riser"):
        for item in listing(api, classification=tier, pageSize=500)["items"]:
            if sum(bool(item[f]) for f in FLAG_TIER) >= 2:
                many = item
                break
        if many:
            break
    assert many, "the demo store has a product with two flags"
    page.get_by_label("Search", exact=True).fill(many["artifact_id"])
    page.wait_for_url(re.compile(re.escape(many["artifact_id"])))
    wait_idle(page)
    row = page.locator(f'#rows tr[data-id="{many["artifact_id"]}"]')
    badges = row.locator(".badge")
    expected = [tier for flag, tier in FLAG_TIER.items() if many[flag]]
    expect(badges).to_have_count(len(expected))
    assert badges.evaluate_all("bs => bs.map(b => b.dataset.tier)") == expected

    for tier in expected:
        badge = row.locator(f'.badge[data-tier="{tier}"]')
        assert hue(badge.evaluate("b => getComputedStyle(b).backgroundColor")) == BADGE_COLOURS[tier], tier
        badge.hover()
        tip = page.get_by_role("tooltip")
        expect(tip).to_be_visible()
        text = tip.inner_text()
        assert text == "\n".join(r["text"] for r in many["reasons"] if r["tier"] == tier), (tier, text, many["reasons"])
    page.keyboard.press("Escape")
    expect(page.get_by_role("tooltip")).to_be_hidden()
    # Badges are not Tab stops (a page of rows would be hundreds of them): the reasons are part of
    # the row's text for screen readers instead.
    assert badges.evaluate_all("bs => bs.map(b => b.tabIndex)") == [-1] * len(expected)
    row_text = row.locator("td.badges").text_content()
    for reason in many["reasons"]:
        assert reason["text"] in row_text, reason


def test_empty_result_says_so(editor, api):
    page = editor
    page.get_by_label("Search", exact=True).fill("no such product 100%_x")
    page.wait_for_url(re.compile("search="))
    wait_idle(page)
    assert listing(api, search="no such product 100%_x")["total"] == 0
    expect(page.get_by_text("No products match these filters.")).to_be_visible()
    expect(page.locator("#rows tr")).to_have_count(0)
    assert shown_total(page) == 0
