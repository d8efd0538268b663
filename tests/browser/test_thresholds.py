"""The thresholds dialog: values, validation, live preview, save, pending state, refresh now."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.pages import card_value, wait_idle

SETTINGS = "/api/performance-metrics/settings/classification"
FIELDS = {
    "top_riser_7_day_threshold": "Top riser: units in first 7 days",
    "top_riser_14_day_threshold": "Top riser: units in first 14 days",
    "winner_30_day_threshold": "Winner: units in last 30 days",
    "banana_count": "Banana count",
}
PREVIEW_KEYS = {"top_riser": ("top_riser", "top_risers"), "winner": ("winner", "winners"),
                "banana": ("banana", "bananas"), "archive_candidate": ("archive_candidate", "archive_candidates")}


def preview_count(data, tier):
    src = data.get("counts", data)
    for key in PREVIEW_KEYS[tier]:
        if key in src:
            return src[key]
    raise KeyError(tier)


def preview_cell(dialog, tier):
    text = dialog.locator(f'#th-preview tr[data-tier="{tier}"] .preview-value').inner_text()
    return int(text.split(" ")[0].replace(",", ""))


def test_editor_previews_saves_and_refreshes(editor, api):
    page = editor
    current = api.get(SETTINGS).json()
    page.get_by_role("button", name="Thresholds").click()
    dialog = page.get_by_role("dialog", name="Classification thresholds")
    expect(dialog).to_be_visible()
    for name, label in FIELDS.items():
        expect(dialog.get_by_label(label)).to_have_value(str(current[name]))
    expect(dialog.locator('#th-preview tr[data-tier="winner"] .preview-value')).not_to_have_text("—")

    winner = dialog.get_by_label(FIELDS["winner_30_day_threshold"])
    # Validation: empty, negative and fractional values are refused with a message, and no save.
    for bad, message in (("", "Enter a number."), ("-3", "Must be 0 or more."), ("2.5", "Use a whole number.")):
        winner.fill(bad)
        expect(dialog.locator("#th-winner_30_day_threshold-error")).to_have_text(message)
        expect(winner).to_have_attribute("aria-invalid", "true")
        expect(dialog.get_by_role("button", name="Save thresholds")).to_be_disabled()

    # Live preview of the counts the new value would give, equal to the preview endpoint's answer.
    new_value = max(1, current["winner_30_day_threshold"] // 3)
    proposed = {**{k: current[k] for k in FIELDS}, "winner_30_day_threshold": new_value}
    expected = api.post(f"{SETTINGS}/preview", json=proposed).json()
    winner.fill(str(new_value))
    expect(winner).to_have_attribute("aria-invalid", "false")
    expect(dialog.locator('#th-preview tr[data-tier="winner"] .preview-value')).to_contain_text(
        f"{preview_count(expected, 'winner'):,}")
    for tier in PREVIEW_KEYS:
        assert preview_cell(dialog, tier) == preview_count(expected, tier), tier
    winners_before = card_value(page, "winner")

    # Before saving, the dialog says when saved values take effect.
    expect(dialog.get_by_text("Saved thresholds apply at the next refresh")).to_be_visible()
    # Save: a new version, pending until the next refresh; the table has not changed.
    dialog.get_by_role("button", name="Save thresholds").click()
    pending = dialog.locator("#th-pending")
    expect(pending).to_be_visible()
    saved = api.get(SETTINGS).json()
    assert saved["winner_30_day_threshold"] == new_value and saved["pending"] is True
    assert saved["version"] == current["version"] + 1
    expect(pending).to_contain_text("waiting for the next refresh")
    assert api.get("/api/performance-metrics/stats/summary").json()["winners"] == winners_before
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    # The page itself says new thresholds are waiting, with Refresh now for an editor; the header has
    # no version jargon.
    banner = page.locator("#pending-banner")
    expect(banner).to_contain_text("New thresholds are saved and waiting for the next refresh")
    assert not re.search(r"\bv\d+\b|version", page.locator("header").inner_text(), re.I)

    # Refresh now (on the page): the run starts, and when it ends the new tiers show and nothing is pending.
    banner.get_by_role("button", name="Refresh now").click()
    expect(banner).to_contain_text("Refresh started")
    expect(page.locator('[data-card="winner"] .card-value')).to_have_text(
        f"{preview_count(expected, 'winner'):,}", timeout=120_000)  # a refresh on a loaded machine
    wait_idle(page)
    after = api.get(SETTINGS).json()
    assert after["pending"] is False and after["applied_version"] == saved["version"]
    page.get_by_role("button", name="Thresholds").click()
    expect(dialog.get_by_label(FIELDS["top_riser_7_day_threshold"], exact=True)).to_be_focused()
    expect(pending).to_be_hidden()
    expect(banner).to_be_hidden()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_viewer_sees_thresholds_read_only(viewer, server):
    page = viewer
    with server.api("viewer") as api:
        current = api.get(SETTINGS).json()
    page.get_by_role("button", name="Thresholds").click()
    dialog = page.get_by_role("dialog", name="Classification thresholds")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Read only")
    for name, label in FIELDS.items():
        field = dialog.get_by_label(label)
        expect(field).to_have_value(str(current[name]))
        expect(field).not_to_be_editable()
    expect(dialog.get_by_role("button", name="Save thresholds")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Refresh now")).to_be_hidden()
    # Nor can a viewer start runs from the sync history.
    dialog.get_by_role("button", name="Close").click()
    page.get_by_text("Sync history").click()
    expect(page.get_by_role("button", name="Run sync")).to_be_hidden()
    expect(page.locator("#runs-note")).to_contain_text("editor")
    wait_idle(page)
    assert re.search(r"\d", page.locator("#runs-rows").inner_text())


def test_stale_save_is_refused_and_latest_values_shown(editor, server, api, watch):
    page = editor
    watch.allow_status(412, "PUT", f"{server.url}{SETTINGS}")
    page.get_by_role("button", name="Thresholds").click()
    dialog = page.get_by_role("dialog", name="Classification thresholds")
    expect(dialog.get_by_label(FIELDS["top_riser_7_day_threshold"], exact=True)).to_be_focused()
    # Someone else saves new thresholds while the dialog is open.
    current = api.get(SETTINGS)
    theirs = {**{k: current.json()[k] for k in FIELDS}, "banana_count": current.json()["banana_count"] + 7}
    assert api.put(SETTINGS, json=theirs, headers={"If-Match": current.headers["ETag"]}).status_code == 200
    dialog.get_by_label(FIELDS["top_riser_14_day_threshold"], exact=True).fill("123")
    dialog.get_by_role("button", name="Save thresholds").click()
    expect(dialog.locator("#th-error")).to_contain_text("The latest values are shown")
    expect(dialog.get_by_label(FIELDS["banana_count"], exact=True)).to_have_value(str(theirs["banana_count"]))
    assert api.get(SETTINGS).json()["top_riser_14_day_threshold"] == theirs["top_riser_14_day_threshold"]
