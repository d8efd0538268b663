"""Page state in the URL; phone and desktop layouts; labels and keyboard use; screenshots."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import expect

from tests.browser.pages import ROOT, WIDTHS, login, screenshot, shown_ids, shown_total, wait_idle


def test_state_lives_in_the_url(editor, api, browser, server):
    page = editor
    page.get_by_label("Tier", exact=True).select_option("banana")
    wait_idle(page)
    page.get_by_label("Status", exact=True).select_option("true")
    wait_idle(page)
    page.get_by_role("columnheader", name=re.compile("Lifetime units")).get_by_role("button").click()
    wait_idle(page)
    page.get_by_label("Rows per page", exact=True).select_option("25")
    wait_idle(page)
    page.get_by_role("button", name="Next page").click()
    wait_idle(page)
    url = page.url
    for part in ("classification=banana", "is_active=true", "sort=aggregate_measurement_value", "order=desc",
                 "pageSize=25", "page=2"):
        assert part in url, part
    view = shown_ids(page)
    expected = api.get("/api/performance-metrics", params={
        "classification": "banana", "is_active": "true", "sort": "aggregate_measurement_value", "order": "desc",
        "pageSize": 25, "page": 2}).json()
    assert view == [i["artifact_id"] for i in expected["items"]]

    page.reload()
    wait_idle(page)
    assert shown_ids(page) == view
    assert page.get_by_label("Tier", exact=True).input_value() == "banana"
    assert page.get_by_label("Status", exact=True).input_value() == "true"
    expect(page.get_by_label(re.compile("Page number"))).to_have_value("2")
    expect(page.get_by_role("columnheader", name=re.compile("Lifetime units"))).to_have_attribute("aria-sort", "descending")

    page.go_back()  # page 2 -> page 1
    wait_idle(page)
    expect(page.get_by_label(re.compile("Page number"))).to_have_value("1")
    page.go_back()  # page size 25 -> 50
    wait_idle(page)
    expect(page.get_by_label("Rows per page", exact=True)).to_have_value("50")
    page.go_forward()
    page.go_forward()
    wait_idle(page)
    assert shown_ids(page) == view

    # A pasted link in a new browser (same user) shows the same view.
    other = browser.new_context(viewport=WIDTHS["desktop"])
    try:
        tab = other.new_page()
        login(tab, server, "viewer")
        tab.goto(url)
        wait_idle(tab)
        assert shown_ids(tab) == view
        expect(tab.locator('[data-card="banana"]')).to_have_attribute("aria-pressed", "true")
    finally:
        other.close()


def test_keyboard_and_labels(editor):
    page = editor
    # Every control has an accessible name.
    unnamed = page.evaluate("""() => [...document.querySelectorAll('main input, main select, main button, header button, header a')]
        .filter(el => el.offsetParent !== null)
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                      && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
        .map(el => el.outerHTML.slice(0, 120))""")
    assert unnamed == []
    # Cards and sort headers work from the keyboard.
    page.locator('[data-card="winner"]').focus()
    page.keyboard.press("Enter")
    wait_idle(page)
    expect(page.locator('[data-card="winner"]')).to_have_attribute("aria-pressed", "true")
    expect(page.locator('[data-card="winner"]')).to_be_focused()
    # Tags: open a category with Enter, tick a value with Space; focus stays on it after the redraw.
    summary = page.locator(".tag-group summary").first
    summary.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    box = page.locator(".tag-group").first.get_by_role("checkbox").first
    expect(box).to_be_focused()
    page.keyboard.press("Space")
    wait_idle(page)
    assert "tag=" in page.url
    expect(page.locator(".tag-group").first.get_by_role("checkbox").first).to_be_checked()
    expect(page.locator(".tag-group").first.get_by_role("checkbox").first).to_be_focused()
    sort = page.get_by_role("button", name=re.compile("Sort by First 7 days"))
    sort.focus()
    page.keyboard.press("Space")
    wait_idle(page)
    expect(page.get_by_role("columnheader", name=re.compile("First 7 days"))).to_have_attribute("aria-sort", "descending")
    expect(page.get_by_role("button", name=re.compile("Sort by First 7 days"))).to_be_focused()
    # The dialog opens from the keyboard, traps focus and closes with Escape.
    page.get_by_role("button", name="Thresholds").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Classification thresholds")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Top riser: units in first 7 days", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Thresholds")).to_be_focused()


def test_layouts_at_1280_and_390_with_screenshots(editor, server):
    page = editor
    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.goto(server.url)
        wait_idle(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        for locator in (page.locator('[data-card="winner"]'), page.get_by_label("Search", exact=True),
                        page.get_by_role("button", name="Next page"), page.get_by_role("button", name="Thresholds")):
            expect(locator).to_be_visible()
            box = locator.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 1, name
        assert shown_total(page) > 0
        screenshot(page, f"dashboard-{name}")
        if name == "desktop":
            (ROOT / "docs").mkdir(exist_ok=True)
            shutil.copyfile(screenshot(page, "readme", full_page=False), ROOT / "docs" / "screenshot.png")
        page.get_by_text("Sync history").click()
        expect(page.locator("#runs-rows tr").first).to_be_visible()
        screenshot(page, f"sync-history-{name}")
        page.get_by_role("button", name="Thresholds").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.locator('#th-preview tr[data-tier="winner"] .preview-value')).not_to_have_text("—")
        box = dialog.bounding_box()
        assert box["width"] <= size["width"], name
        screenshot(page, f"thresholds-{name}", full_page=False)
        page.keyboard.press("Escape")


def test_a_mangled_link_falls_back_to_a_valid_view(editor, api, server):
    page = editor
    page.goto(f"{server.url}/?sort=no_such_column&order=sideways&page=9999&pageSize=7"
              "&launched_from=2025-02-30&classification=nonsense&is_active=maybe")
    wait_idle(page)
    expected = api.get("/api/performance-metrics", params={"pageSize": 50}).json()
    last = expected["totalPages"]
    expect(page.get_by_label(re.compile("Page number"))).to_have_value(str(last))
    assert shown_ids(page) == [i["artifact_id"] for i in
                               api.get("/api/performance-metrics", params={"page": last}).json()["items"]]
    assert page.get_by_label("Launched from", exact=True).input_value() == ""
    assert page.get_by_label("Tier", exact=True).input_value() == ""
    expect(page.get_by_label("Rows per page", exact=True)).to_have_value("50")
    expect(page.locator("#alert")).to_be_hidden()
    assert "sort=" not in page.url and f"page={last}" in page.url
