"""axe-core (axe-playwright-python bundles it): no serious or critical violations on the main page, a
product page, the Changes view and the dialogs, at 1280 and 390 px, in light and dark mode."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.pages import WIDTHS, login, wait_idle

AXE = Axe()
LIST = "/api/performance-metrics"


def serious(page, where: str) -> list[str]:
    results = AXE.run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    return [f"{where}: {v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(n["target"][0] if n.get("target") else "?" for n in v["nodes"][:5]) for v in bad]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_serious_violations(browser, server, api, scheme, width, watch):
    context = browser.new_context(viewport=WIDTHS[width], color_scheme=scheme, locale="en-US", timezone_id="UTC")
    found: list[str] = []
    try:
        page = context.new_page()
        page.goto(server.url)  # the sign-in page
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        found += serious(page, "sign-in")
        login(page, server, "editor")
        page.get_by_text("What the tiers mean").click()
        found += serious(page, "main page")
        page.get_by_role("button", name="Thresholds").click()
        dialog = page.get_by_role("dialog", name="Classification thresholds")
        expect(dialog.locator('#th-preview tr[data-tier="winner"] .preview-value')).not_to_have_text("—")
        found += serious(page, "thresholds dialog")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        page.get_by_role("link", name="Changes").click()
        expect(page.locator("#changes-view")).to_have_attribute("aria-busy", "false")
        found += serious(page, "changes view")
        item = api.get(LIST, params={"classification": "top_riser", "pageSize": 1}).json()["items"][0]
        page.goto(f"{server.url}/?product={quote(item['artifact_id'])}")
        expect(page.locator("#product-body")).to_have_attribute("aria-busy", "false")
        found += serious(page, "product page")
        page.goto(server.url)
        wait_idle(page)
        page.get_by_text("Sync history").click()
        expect(page.locator("#runs-rows tr").first).to_be_visible()
        found += serious(page, "sync history")
    finally:
        context.close()
    assert not found, "\n".join(found)


def test_alerts_dialog_has_no_serious_violations(browser, server, watch):
    """The admin's Alerts dialog (the login link's admin token), in both colour schemes."""
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport=WIDTHS["desktop"], color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(server.login_link)
            wait_idle(page)
            page.get_by_role("button", name="Alerts").click()
            expect(page.get_by_role("dialog", name="Alerts (webhooks)")).to_be_visible()
            found = serious(page, f"alerts dialog ({scheme})")
            assert not found, "\n".join(found)
        finally:
            context.close()
