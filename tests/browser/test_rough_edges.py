"""What a first-time user tripped over (issue 14), each checked as a person would meet it."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from tests.browser.pages import WIDTHS, login, shown_ids, shown_total, until, wait_idle

LIST = "/api/performance-metrics"


def rgb(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def test_primary_buttons_are_styled(page, server, watch):
    page.goto(server.url)
    sign_in = page.get_by_role("button", name="Sign in")
    expect(sign_in).to_be_visible()
    accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
    bg = sign_in.evaluate("b => getComputedStyle(b).backgroundColor")
    probe = page.evaluate(f"(() => {{ const d = document.createElement('div'); d.style.color = '{accent}'; "
                          "document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; })()")
    assert rgb(bg) == rgb(probe), (bg, accent)
    assert sign_in.evaluate("b => getComputedStyle(b).color") != bg


def test_sticky_header_and_next_returns_to_the_top_of_the_table(editor):
    page = editor
    header = page.locator("#products thead th").first
    wrap = page.locator("#table-wrap")
    # Scroll down the long table: the header stays at the top of the table's box.
    wrap.evaluate("w => { w.scrollTop = 900; }")
    top_of_box = wrap.bounding_box()["y"]
    expect(header).to_be_in_viewport()
    assert abs(header.bounding_box()["y"] - top_of_box) <= 2
    # Next, pressed at the bottom of the page, shows the new page from its first row.
    page.get_by_role("button", name="Next page").scroll_into_view_if_needed()
    page.get_by_role("button", name="Next page").click()
    wait_idle(page)
    expect(page.get_by_label(re.compile("Page number"))).to_have_value("2")
    assert wrap.evaluate("w => w.scrollTop") == 0
    expect(page.locator("#rows tr").first).to_be_in_viewport()
    expect(page.get_by_role("heading", name="Products", exact=True)).to_be_in_viewport()


def test_legend_explains_each_tier_with_its_threshold(editor, api):
    page = editor
    page.get_by_text("What the tiers mean").click()
    schema = api.get(f"{LIST}/schema").json()
    settings = api.get(f"{LIST}/settings/classification").json()
    items = page.locator(".legend-item")
    expect(items).to_have_count(len(schema["tiers"]))
    for tier in schema["tiers"]:
        item = page.locator(f'.legend-item[data-tier="{tier["key"]}"]')
        expect(item).to_contain_text(tier["rule"])
        for th in schema["thresholds"]:
            if th["name"].startswith(tier["key"] + "_"):
                expect(item).to_contain_text(f"{th['label']}: {settings[th['name']]}")
    # The archive rule has no threshold and is still explained.
    expect(page.locator('.legend-item[data-tier="archive_candidate"]')).to_contain_text("Inactive and no sales")


def test_default_order_is_shown_and_tier_sort_goes_by_precedence(editor, api):
    page = editor
    tiers_header = page.get_by_role("columnheader", name=re.compile("Tiers"))
    expect(tiers_header).to_have_attribute("aria-sort", "ascending")
    expect(tiers_header.locator(".default-order")).to_have_text("default")
    assert shown_ids(page) == [i["artifact_id"] for i in api.get(LIST).json()["items"]]
    precedence = [t["key"] for t in api.get(f"{LIST}/schema").json()["tiers"]] + ["none"]
    tiers_header.get_by_role("button").click()  # default is ascending: the click turns it around
    wait_idle(page)
    assert "sort=nominal_classification" in page.url and "order=desc" in page.url
    expect(tiers_header.locator(".default-order")).to_have_count(0)
    shown = page.locator("#rows tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    expected = api.get(LIST, params={"sort": "nominal_classification", "order": "desc"}).json()["items"]
    assert shown == [i["artifact_id"] for i in expected]
    order = [precedence.index(i["nominal_classification"]) for i in expected]
    assert order == sorted(order, reverse=True), "descending precedence: none first, then archive, banana..."
    everything = api.get(LIST, params={"sort": "nominal_classification", "order": "asc", "pageSize": 500}).json()["items"]
    ranks = [precedence.index(i["nominal_classification"]) for i in everything]
    assert ranks == sorted(ranks) and len(set(ranks)) > 2


def test_windows_not_yet_ended_say_which_day(editor, api, server):
    page = editor
    newest = api.get(LIST, params={"sort": "launch_date", "order": "desc", "pageSize": 1}).json()["items"][0]
    day = (date.fromisoformat(newest["as_of"]) - date.fromisoformat(newest["launch_date"])).days + 1
    assert day < 7, "the demo store has a product launched days before its reference date"
    page.get_by_label("Search", exact=True).fill(newest["artifact_id"])
    page.wait_for_url(re.compile(re.escape(newest["artifact_id"])))
    wait_idle(page)
    row = page.locator(f'#rows tr[data-id="{newest["artifact_id"]}"]')
    expect(row.locator('td[data-label="First 7 days"]')).to_have_text(f"{newest['sales_first_7_days']} (day {day} of 7)")
    expect(row.locator('td[data-label="First 14 days"]')).to_have_text(f"{newest['sales_first_14_days']} (day {day} of 14)")
    # An older product's windows are complete: plain numbers.
    old = api.get(LIST, params={"sort": "launch_date", "order": "asc", "pageSize": 1}).json()["items"][0]
    page.get_by_label("Search", exact=True).fill(old["artifact_id"])
    page.wait_for_url(re.compile(re.escape(old["artifact_id"])))
    wait_idle(page)
    expect(page.locator(f'#rows tr[data-id="{old["artifact_id"]}"] td[data-label="First 7 days"]')).to_have_text(
        f"{old['sales_first_7_days']:,}")


def test_phone_layout_stacks_one_card_per_product(editor):
    page = editor
    page.set_viewport_size(WIDTHS["phone"])
    wait_idle(page)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    assert page.locator("#table-wrap").evaluate("w => w.scrollWidth - w.clientWidth") <= 0, "no sideways table"
    row = page.locator("#rows tr").first
    box = row.bounding_box()
    assert box["width"] <= WIDTHS["phone"]["width"]
    expect(row.locator('td[data-label="Last 30 days"]')).to_be_visible()
    label = row.locator('td[data-label="Last 30 days"]').evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Last 30 days"'


def test_counts_dates_cards_and_badges(editor, api, server):
    page = editor
    item = api.get(LIST, params={"pageSize": 1}).json()["items"][0]
    # "1 product", not "1 products".
    page.get_by_label("Search", exact=True).fill(item["artifact_id"])
    page.wait_for_url(re.compile(re.escape(item["artifact_id"])))
    wait_idle(page)
    expect(page.locator("#total")).to_have_text("1 product · showing 1–1")
    assert shown_total(page) == 1
    # Unit totals are figures: not buttons, no pointer.
    for card in ("lifetime", "last30"):
        static = page.locator(f'[data-card="{card}"]')
        assert static.evaluate("c => c.tagName") == "DIV"
        assert static.evaluate("c => getComputedStyle(c).cursor") == "auto"
    assert page.locator('[data-card="winner"]').evaluate("c => getComputedStyle(c).cursor") == "pointer"
    # One date format, with the timezone: the header's refresh time.
    expect(page.locator("#freshness")).to_contain_text(re.compile(r"refreshed \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"))
    expect(page.locator("#freshness")).to_contain_text(f"Data as of {item['as_of']}")
    # Badges are not Tab stops: Tab from the product link goes to the next row's link.
    page.locator("#rows a.name").first.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('td')?.dataset.label") != "Tiers"


def test_bad_url_values_leave_the_address_bar(editor, server, api):
    page = editor
    page.goto(f"{server.url}/?pageSize=7&classification=nonsense&launched_from=2025-02-30&is_active=maybe&period=3&vendor=")
    wait_idle(page)
    expect(page).to_have_url(f"{server.url}/")
    page.goto(f"{server.url}/?classification=winner&sort=no_such_column&pageSize=25&since=never&view=nope")
    wait_idle(page)
    expect(page).to_have_url(f"{server.url}/?classification=winner&pageSize=25")


def test_export_is_named_after_the_view_and_date(editor, api):
    page = editor
    page.get_by_label("Tier", exact=True).select_option("winner")
    wait_idle(page)
    as_of = api.get(LIST, params={"pageSize": 1}).json()["items"][0]["as_of"]
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    assert info.value.suggested_filename == f"winners-{as_of}.csv"


def test_a_slow_cold_load_shows_a_loading_state(page, server, watch):
    held = []
    page.route(re.compile(r".*/static/js/main\.js$"), lambda route: held.append(route))
    page.goto(server.url, wait_until="commit")
    expect(page.get_by_role("status").filter(has_text="Loading the dashboard")).to_be_visible()
    until(page, lambda: held)
    held[0].continue_()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Loading the dashboard")).to_be_hidden()


def test_applying_a_filter_shows_a_loading_state(editor):
    page = editor
    held = []

    def hold(route):
        if "vendor=" in route.request.url and not held:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r".*/api/performance-metrics\?.*"), hold)
    vendor = page.get_by_label("Vendor", exact=True)
    choice = vendor.locator("option").nth(1).get_attribute("value")
    vendor.select_option(choice)
    until(page, lambda: held)
    expect(page.locator("#busy")).to_have_text("Updating…")
    expect(page.locator("#busy span")).to_be_visible()
    held[0].continue_()
    wait_idle(page)
    expect(page.locator("#busy span")).to_be_hidden()


def test_dark_mode_follows_the_system(browser, server, watch):
    context = browser.new_context(viewport=WIDTHS["desktop"], color_scheme="dark")
    try:
        page = context.new_page()
        login(page, server, "viewer")
        bg = rgb(page.evaluate("getComputedStyle(document.documentElement).backgroundColor"))
        text = rgb(page.evaluate("getComputedStyle(document.body).color"))
        assert sum(bg) < 150 and sum(text) > 500, (bg, text)
        panel = rgb(page.locator("#results").evaluate("e => getComputedStyle(e).backgroundColor"))
        assert sum(panel) < 200
    finally:
        context.close()
