"""The product page: its own URL, Back to the same list view, facts, reasons in words, figures, the
daily chart (launch day marked, windows shaded, axes), the tier timeline, the manual override for
editors and the Shopify admin link; screenshots at both widths."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from playwright.sync_api import expect

from tests.browser.pages import WIDTHS, screenshot, shown_ids, wait_idle

LIST = "/api/performance-metrics"


def product_ready(page) -> None:
    expect(page.locator("#product-body")).to_have_attribute("aria-busy", "false")


def a_top_riser(api) -> dict:
    """A product with a launch inside the chart and reasons to show."""
    items = api.get(LIST, params={"classification": "top_riser", "pageSize": 500}).json()["items"]
    assert items, "the demo store has top risers"
    return items[0]


def test_row_opens_the_product_page_and_back_returns_to_the_same_view(editor, api, server):
    page = editor
    page.get_by_label("Status", exact=True).select_option("true")
    wait_idle(page)
    page.get_by_label("Rows per page", exact=True).select_option("25")
    wait_idle(page)
    page.get_by_role("button", name="Next page").click()
    wait_idle(page)
    list_url = page.url
    rows = shown_ids(page)
    item = api.get(LIST, params={"is_active": "true", "pageSize": 25, "page": 2}).json()["items"][3]
    assert rows[3] == item["artifact_id"]

    page.locator(f'#rows tr[data-id="{item["artifact_id"]}"]').get_by_role("link").click()
    expect(page).to_have_url(f"{server.url}/?product={quote(item['artifact_id'])}")
    product_ready(page)
    expect(page.get_by_role("heading", level=2, name=item["product_name"])).to_be_visible()
    expect(page.locator("#results")).to_be_hidden()

    page.go_back()
    wait_idle(page)
    assert page.url == list_url
    assert shown_ids(page) == rows
    expect(page.get_by_label("Status", exact=True)).to_have_value("true")
    expect(page.get_by_label(re.compile("Page number"))).to_have_value("2")

    # The "Back to products" link does the same, and a shared link opens the page directly.
    page.go_forward()
    product_ready(page)
    page.get_by_role("link", name="← Back to products").click()
    wait_idle(page)
    assert page.url == list_url and shown_ids(page) == rows
    page.goto(f"{server.url}/?product={quote(item['artifact_id'])}")
    product_ready(page)
    expect(page.get_by_role("heading", level=2, name=item["product_name"])).to_be_visible()
    page.get_by_role("link", name="← Back to products").click()
    wait_idle(page)
    assert page.url == f"{server.url}/"


def test_product_page_shows_what_the_api_knows(editor, api, server):
    page = editor
    item = a_top_riser(api)
    pid = item["artifact_id"]
    page.goto(f"{server.url}/?product={quote(pid)}")
    product_ready(page)
    facts = page.locator("#product-body dl.facts").first
    for label, value in (("Identifier", pid), ("Type", item["product_type"]), ("Vendor", item["vendor"]),
                         ("Status", "Active" if item["is_active"] else "Inactive"), ("Launched", item["launch_date"])):
        expect(facts.locator(f"dt:text-is('{label}') + dd")).to_have_text(value)
    for tag in item["tags"]:
        expect(facts.get_by_text(tag, exact=True)).to_be_visible()
    # Badges, and every reason in plain words.
    expect(page.locator("#product-body .badges .badge")).to_have_count(len(item["classifications"]))
    reasons = page.locator("#p-reasons li")
    expect(reasons).to_have_count(len(item["reasons"]))
    for i, reason in enumerate(item["reasons"]):
        expect(reasons.nth(i)).to_contain_text(reason["text"])
    # Lifetime and 30-day figures.
    expect(page.locator('[data-figure="lifetime_units"] dd')).to_have_text(f"{item['aggregate_measurement_value']:,}")
    expect(page.locator('[data-figure="units_30"] dd')).to_have_text(f"{item['sales_last_30_days']:,}")
    expect(page.locator('[data-figure="revenue_30"] dd')).to_have_text(f"${item['revenue_last_30_days']:,.0f}")

    # The chart: one bar per day of the history's series, with its units; launch day marked; the
    # first 7/14 days and the last 30 days shaded; labelled axes with gridlines.
    shown = page.locator("#p-units-chart rect.bar")
    first_day = shown.first.get_attribute("data-day")
    history = api.get(f"{LIST}/{quote(pid)}/history", params={"from": first_day, "to": item["as_of"]}).json()
    expect(shown).to_have_count(len(history["daily"]))
    assert shown.evaluate_all("bs => bs.map(b => Number(b.dataset.units))") == [d["units"] for d in history["daily"]]
    revenue = page.locator("#p-revenue-chart rect.bar").evaluate_all("bs => bs.map(b => Number(b.dataset.revenue))")
    assert revenue == [d["net_revenue"] for d in history["daily"]]
    chart = page.get_by_role("img", name=re.compile("Units per day"))
    expect(chart.locator(f'.marker[data-marker="{item["launch_date"]}"]')).to_have_count(1)
    expect(chart.locator(".marker-label")).to_have_text("launch")
    expect(chart.locator('.band[data-band="first-7"]')).to_have_attribute("data-from", item["launch_date"])
    expect(chart.locator('.band[data-band="last-30"]')).to_have_attribute("data-to", item["as_of"])
    expect(chart.locator("text.axis-title")).to_have_text(["Day (store time)", "Units"])
    assert chart.locator("line.grid").count() >= 2
    # A readout names the day under the pointer.
    bar = shown.nth(len(history["daily"]) // 2)
    bar.hover()
    expect(page.locator("#p-units-chart .chart-readout")).to_have_text(
        f"{bar.get_attribute('data-day')}: {int(bar.get_attribute('data-units')):,}")

    # The tier timeline: one row per period, newest first.
    rows = page.locator("#timeline tbody tr")
    expect(rows).to_have_count(len(history["periods"]))
    newest = history["periods"][-1]
    expect(rows.first.locator("td").first).to_have_text(newest["valid_from"])
    assert rows.first.locator(".badge").evaluate_all("bs => bs.map(b => b.dataset.tier)") == newest["classifications"]
    expect(page.locator("#override")).to_contain_text("None")
    expect(page.locator("#shopify-link")).to_have_count(0)  # a demo store, not Shopify

    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the product page scrolls sideways by {overflow}px"
        # The chart is redrawn at the new width (its text is never stretched).
        width = page.locator("#p-units-chart").evaluate("el => Math.max(280, Math.round(el.clientWidth))")
        expect(page.locator("#p-units-chart svg")).to_have_attribute("width", str(width))
        screenshot(page, f"product-{name}")


def test_editor_edits_and_removes_a_manual_override(editor, api, server, watch):
    page = editor
    pid = api.get(LIST, params={"sort": "artifact_id", "order": "desc", "pageSize": 1}).json()["items"][0]["artifact_id"]
    assert api.put(f"{LIST}/{quote(pid)}", json={"vendor": "Hand-set Vendor"}).status_code == 200
    page.goto(f"{server.url}/?product={quote(pid)}")
    product_ready(page)
    override = page.locator("#override")
    expect(override.locator("#override-fields")).to_contain_text("Hand-set Vendor")

    override.get_by_role("button", name="Edit").click()
    field = override.get_by_label("Vendor")
    expect(field).to_have_value("Hand-set Vendor")
    field.fill("Edited Vendor")
    override.get_by_role("button", name="Save change").click()
    expect(page.locator("#override-fields")).to_contain_text("Edited Vendor")
    assert api.get(f"{LIST}/{quote(pid)}").json()["vendor"] == "Edited Vendor"
    kept = {o["artifact_id"]: o for o in api.get(f"{LIST}/overrides").json()["items"]}
    assert kept[pid]["fields"]["vendor"] == "Edited Vendor"

    remove = page.locator("#override").get_by_role("button", name=re.compile("Remove"))
    remove.click()
    expect(remove).to_have_text("Remove: are you sure?")
    remove.click()
    expect(page.locator("#override-removed")).to_contain_text("next refresh")
    assert pid not in {o["artifact_id"] for o in api.get(f"{LIST}/overrides").json()["items"]}


def test_viewer_sees_the_override_without_edit_buttons(viewer, api, server):
    page = viewer
    pid = api.get(LIST, params={"sort": "artifact_id", "order": "asc", "pageSize": 1}).json()["items"][0]["artifact_id"]
    assert api.put(f"{LIST}/{quote(pid)}", json={"product_type": "Hand-set Type"}).status_code == 200
    try:
        page.goto(f"{server.url}/?product={quote(pid)}")
        product_ready(page)
        expect(page.locator("#override-fields")).to_contain_text("Hand-set Type")
        expect(page.locator("#override").get_by_role("button")).to_have_count(0)
    finally:
        api.delete(f"{LIST}/overrides/{quote(pid)}")


def test_shopify_store_links_to_the_product_in_the_admin(editor, api, server):
    """The demo server is not a Shopify store: its /schema answer is given the store a Shopify server
    reports (tests/api/test_list.py checks the server side)."""
    page = editor

    def shopify_schema(route):
        response = route.fetch()
        body = response.json()
        body["store"]["shopify_product_url"] = "https://my-store.myshopify.com/admin/products?query="
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r".*/api/performance-metrics/schema$"), shopify_schema)
    item = a_top_riser(api)
    page.goto(f"{server.url}/?product={quote(item['artifact_id'])}")
    product_ready(page)
    link = page.get_by_role("link", name=re.compile("Open in Shopify admin"))
    expect(link).to_have_attribute("href", f"https://my-store.myshopify.com/admin/products?query={quote(item['artifact_id'])}")


def test_unknown_product_says_so(editor, server, watch):
    page = editor
    url = f"{server.url}{LIST}/no-such-product"
    watch.allow_status(404, "GET", url)
    page.goto(f"{server.url}/?product=no-such-product")
    expect(page.get_by_role("heading", level=2, name="Product not found")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="no-such-product")).to_be_visible()
