"""What the tests read from and do to the dashboard page, in one place."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def login(page, server, role: str) -> None:
    page.goto(f"{server.url}/login?token={server.tokens[role]}")
    page.locator("#app").wait_for(state="visible")
    wait_idle(page)


def wait_idle(page) -> None:
    """Wait until the page has drawn the answers to its latest requests."""
    # A locator wait, not wait_for_function: the page's CSP forbids the eval that one needs.
    expect(page.locator("#results")).to_have_attribute("aria-busy", "false")


def until(page, condition, timeout_s: float = 15.0) -> None:
    """Wait for a condition of the test's own state (e.g. a request a route handler holds).

    Route handlers run while Playwright is waiting, so the wait happens inside the page's clock.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        page.wait_for_timeout(20)


def screenshot(page, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def shown_total(page) -> int:
    """The product count the page shows above the table."""
    text = page.locator("#total").inner_text()
    found = re.match(r"([\d,]+) products?", text)
    assert found, text
    return int(found.group(1).replace(",", ""))


def shown_ids(page) -> list[str]:
    return page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")


def card_value(page, card: str) -> int:
    return int(page.locator(f'[data-card="{card}"] .card-value').inner_text().replace(",", ""))
