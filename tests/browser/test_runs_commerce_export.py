"""Sync history (and running a sync), the commerce strip, and CSV export of the current view."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.pages import shown_total, wait_idle


KIND_LABELS = {"sync": "sync", "refresh": "refresh", "backfill": "history backfill", "tags": "tag push"}
"""How Sync history names each kind of run (runs.js); the demo's last run is its history backfill."""


def runs(api):
    r = api.get("/api/sync/runs", params={"limit": 10})
    r.raise_for_status()
    data = r.json()
    return data if isinstance(data, list) else data.get("items", data.get("runs"))


def test_sync_history_and_run_sync(editor, api):
    page = editor
    history = page.locator("#sync-history")
    expect(history).not_to_have_attribute("open", "")
    expect(page.get_by_role("button", name="Run sync")).to_be_hidden()
    page.get_by_text("Sync history").click()
    expect(history).to_have_attribute("open", "")
    before = runs(api)
    rows = page.locator("#runs-rows tr")
    expect(rows).to_have_count(len(before))
    assert len(before) <= 10
    first = rows.first.locator("td")
    expect(first.nth(0)).to_have_text(KIND_LABELS[before[0]["kind"]])
    expect(first.nth(1)).to_have_text(before[0]["trigger"])
    expect(first.nth(2)).to_have_text(before[0]["status"])
    # Freshness: "data as of" the last successful refresh.
    last_refresh = next(r for r in before if r["kind"] == "refresh" and r["status"] == "succeeded")
    as_of = api.get("/api/performance-metrics", params={"pageSize": 1}).json()["items"][0]["as_of"]
    expect(page.locator("#freshness")).to_contain_text(f"Data as of {as_of}")
    assert last_refresh

    page.get_by_role("button", name="Run sync").click()
    expect(page.locator("#runs-note")).to_contain_text("Sync started")
    expect(page.get_by_role("button", name="Run sync")).to_be_disabled()
    # The page follows the sync and the refresh it triggers until both have ended.
    expect(page.locator("#runs-note")).to_contain_text("refresh succeeded", timeout=60_000)
    expect(page.get_by_role("button", name="Run sync")).to_be_enabled()
    after = runs(api)
    refresh, sync = after[0], after[1]
    assert (sync["kind"], sync["trigger"], sync["status"]) == ("sync", "manual", "succeeded")
    assert (refresh["kind"], refresh["trigger"], refresh["status"]) == ("refresh", "manual", "succeeded")
    expect(rows).to_have_count(len(after))
    shown = rows.evaluate_all("rs => rs.map(r => [...r.cells].slice(0, 3).map(c => c.innerText))")
    assert shown == [[KIND_LABELS[r["kind"]], r["trigger"], r["status"]] for r in after]
    sync_row = page.locator(f'#runs-rows tr[data-run="{sync["run_id"]}"]')
    expect(sync_row).to_contain_text(re.compile(r"\d+(\.\d)? (ms|s)"))
    for key, value in sync["counts"].items():
        if isinstance(value, int):
            expect(sync_row.locator(".counts")).to_contain_text(f"{key.replace('_', ' ')} {value:,}")
    # Collapsible.
    page.get_by_text("Sync history").click()
    expect(history).not_to_have_attribute("open", "")


def money_text(value: float) -> str:
    return f"${value:,.0f}"


def test_commerce_strip_shows_period_against_previous(editor, api):
    page = editor
    # "Today" is the store's (its timezone), as the API's default period says.
    today = date.fromisoformat(api.get("/analytics/commerce/overview").json()["to"])
    for days in (30, 7):
        if days != 30:
            page.get_by_label("Period", exact=True).select_option(str(days))
            page.wait_for_url(re.compile(rf"period={days}"))
        frm = today - timedelta(days=days - 1)
        data = api.get("/analytics/commerce/overview", params={"from": frm.isoformat(), "to": today.isoformat()}).json()
        revenue = page.locator('[data-kpi="revenue"]')
        expect(revenue.locator(".kpi-value")).to_have_text(money_text(float(data["revenue"])))
        expect(page.locator('[data-kpi="orders"] .kpi-value')).to_have_text(f"{int(data['order_count']):,}")
        expect(page.locator('[data-kpi="aov"] .kpi-value')).to_have_text(f"${float(data['aov']):,.2f}")
        prev = float(data["previous"]["revenue"])
        if prev:
            change = (float(data["revenue"]) - prev) / prev * 100
            expect(revenue.locator(".kpi-change")).to_contain_text(f"{abs(change):.1f}%".replace(".0%", "%"))
            expect(revenue.locator(".kpi-change")).to_have_class(re.compile("up" if change > 0 else "down"))
        chart = page.get_by_role("img", name=re.compile("Daily revenue"))
        expect(chart).to_be_visible()
        expect(chart.locator("rect.bar")).to_have_count(days)
        bars = chart.locator("rect.bar").evaluate_all("bs => bs.map(b => Number(b.dataset.revenue))")
        assert abs(sum(bars) - float(data["revenue"])) < 0.01 * max(1.0, float(data["revenue"]))


def test_export_downloads_the_filtered_view(editor, api):
    page = editor
    summary = api.get("/api/performance-metrics/stats/summary").json()
    tier, _ = max((("top_riser", summary["top_risers"]), ("winner", summary["winners"]),
                   ("banana", summary["bananas"]), ("archive_candidate", summary["archive_candidates"])),
                  key=lambda t: t[1])
    page.locator(f'[data-card="{tier}"]').click()
    wait_idle(page)
    page.get_by_label("Rows per page", exact=True).select_option("25")
    wait_idle(page)
    expected = api.get("/api/performance-metrics", params={"classification": tier, "pageSize": 500}).json()
    assert shown_total(page) == expected["total"] > 25, "more rows than one page"
    assert expected["totalPages"] == 1
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert len(rows) == expected["total"], "every matching row, not one page"
    assert [r["artifact_id"] for r in rows] == [i["artifact_id"] for i in expected["items"]], "in the view's order"
