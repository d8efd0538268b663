"""The alerts dialog: admins add a subscription (the secret shown once), see refused targets, send a
test event and read the delivery log, disable and delete; viewers and editors have no such button."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.pages import wait_idle

PUBLIC_TARGET = "https://93.184.216.34/perftiers-browser-test"


def test_admin_manages_alerts_and_sees_the_secret_once(page, server, watch):
    page.goto(server.login_link)  # the first-run admin token
    page.locator("#app").wait_for(state="visible")
    wait_idle(page)
    page.get_by_role("button", name="Alerts", exact=True).click()
    dialog = page.get_by_role("dialog", name="Alerts (webhooks)")
    expect(dialog).to_be_visible()

    dialog.get_by_label("URL", exact=True).fill(PUBLIC_TARGET)
    dialog.get_by_label("Format").select_option("slack")
    dialog.get_by_label("tags.failed").uncheck()
    dialog.get_by_role("button", name="Add", exact=True).click()
    secret = dialog.locator("#wh-secret-value")
    expect(secret).to_have_text(re.compile(r"^whsec_\S{30,}$"))
    shown = secret.inner_text()
    row = dialog.locator("#wh-rows tr").filter(has_text=PUBLIC_TARGET)
    expect(row).to_contain_text("slack")
    expect(row).to_contain_text("refresh.failed")
    expect(row).not_to_contain_text("tags.failed")

    watch.allow_status(400, "POST", f"{server.url}/api/webhooks")
    dialog.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/inside")
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog.locator("#wh-error")).to_contain_text("webhooks_allow_private_targets")
    expect(dialog.locator("#wh-rows")).not_to_contain_text("127.0.0.1")

    row.get_by_role("button", name="Send test").click()
    log = dialog.locator("#wh-deliveries")
    expect(log).to_contain_text("webhook.test")
    expect(log).to_contain_text("pending")  # this server runs no worker (--no-scheduler)

    row.get_by_role("button", name="Disable").click()
    expect(dialog.locator("#wh-rows tr").filter(has_text=PUBLIC_TARGET)).to_contain_text("disabled")

    dialog.get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Alerts", exact=True).click()
    expect(dialog.locator("#wh-secret")).to_be_hidden()
    expect(dialog.locator("#wh-rows")).to_contain_text(PUBLIC_TARGET)
    assert shown not in page.content()  # never shown again

    page.once("dialog", lambda confirm: confirm.accept())
    dialog.locator("#wh-rows tr").filter(has_text=PUBLIC_TARGET).get_by_role("button", name="Delete").click()
    expect(dialog.locator("#wh-rows")).not_to_contain_text(PUBLIC_TARGET)


def test_viewers_have_no_alerts_button(viewer):
    expect(viewer.get_by_role("button", name="Alerts", exact=True)).to_have_count(0)


def test_editors_have_no_alerts_button(editor):
    expect(editor.get_by_role("button", name="Alerts", exact=True)).to_have_count(0)
