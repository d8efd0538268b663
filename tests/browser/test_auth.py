"""Login: the link `serve` prints signs the browser in; without a session a token form does."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.pages import wait_idle


def test_login_link_printed_by_serve_signs_in(page, server, watch):
    page.goto(server.login_link)
    expect(page.locator("#app")).to_be_visible()
    assert page.url.rstrip("/") == server.url, "the login link redirects to the dashboard"
    wait_idle(page)
    expect(page.locator("#whoami")).to_contain_text("admin")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = [c for c in cookies.values() if c["httpOnly"]]
    assert session, "the session cookie is HttpOnly"
    assert "perftiers_csrf" in cookies and not cookies["perftiers_csrf"]["httpOnly"]


def test_sign_in_form_takes_a_token(page, server, watch):
    # Without a session the page asks who you are (the 401s are the expected answers).
    watch.allow_status(401, "(GET|POST)", ".*/api/session")
    page.goto(server.url)
    form = page.locator("#signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()

    page.get_by_label("Access token", exact=True).fill("pt_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).not_to_be_empty()
    expect(page.locator("#app")).to_be_hidden()

    page.get_by_label("Access token", exact=True).fill(server.tokens["viewer"])
    page.get_by_label("Access token", exact=True).press("Enter")
    expect(page.locator("#app")).to_be_visible()
    wait_idle(page)
    expect(page.locator("#whoami")).to_have_text("browser-viewer · viewer")
    expect(form).to_be_hidden()
    # The session outlives a reload.
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    wait_idle(page)

    # Signing out ends the session: the page asks for a token again, even after a reload.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
