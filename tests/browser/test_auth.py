"""Login: the link `serve` prints signs the browser in; without a session a token form does."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.pages import until, wait_idle


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
    # Without a session the page asks who you are: no failed request for that (/api/session/status).
    watch.allow_status(401, "POST", f"{server.url}/api/session")  # the wrong token a person types
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
    expect(page).to_have_url(f"{server.url}/")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()


def test_sign_out_waits_for_requests_in_flight_and_ends_the_session_before_showing_the_form(page, server, watch):
    """The race CI hit: a request answered 401 after the session ended showed the sign-in form while
    `DELETE /api/session` was still on its way, and the reload a person does next aborted it.

    Here the page's first `GET /api/sync/runs` is held in flight and the DELETE is held after the
    server has ended the session (a slow sign-out), so the race happens every time if the page
    allows it.
    """
    held_runs: list = []
    held_delete: list = []

    def hold_runs(route):
        if not held_runs:
            held_runs.append(route)
        else:
            route.continue_()

    def hold_delete(route):
        if route.request.method != "DELETE":
            route.continue_()
            return
        held_delete.append((route, route.fetch()))  # the server has ended the session; the page waits

    page.route(re.compile(r".*/api/sync/runs\?.*"), hold_runs)
    page.route(re.compile(r".*/api/session$"), hold_delete)
    page.goto(f"{server.url}/login?token={server.tokens['viewer']}")
    expect(page.locator("#app")).to_be_visible()
    wait_idle(page)
    until(page, lambda: held_runs)

    sign_out = page.get_by_role("button", name=re.compile("Sign(ing)? out"))
    sign_out.click()
    # The page either signs out at once (the race) or says it is signing out and waits.
    until(page, lambda: held_delete or sign_out.is_disabled())
    signin = page.get_by_role("heading", name="Sign in")
    if held_delete:
        # The session is gone while a request is still in flight: its answer is a 401.
        watch.allow_status(401, "GET", held_runs[0].request.url)
        with page.expect_response(held_runs[0].request.url):
            held_runs[0].continue_()
        page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # let the page handle it
        assert not signin.is_visible(), "the sign-in form showed while signing out was still in progress"
    else:
        with page.expect_response(held_runs[0].request.url) as answer:
            held_runs[0].continue_()
        assert answer.value.status == 200, "answered before the session ended"
        until(page, lambda: held_delete)
        expect(sign_out).to_be_disabled()
        expect(signin).to_be_hidden()
    route, response = held_delete[0]
    route.fulfill(response=response)
    expect(signin).to_be_visible()
    page.reload()  # what a person might do next: nothing is left in flight to abort
    expect(signin).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()


def test_a_refused_login_link_shows_the_sign_in_page_with_a_message(page, server, watch):
    """No raw JSON error page: the sign-in form, saying why, and a clean address bar. Nothing fails
    in the console either (no allow-list: the session check answers 200 signed out)."""
    for link in (f"{server.url}/login?token=pt_not-a-real-token", f"{server.url}/login?token="):
        page.goto(link)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.locator("#signin-error")).to_contain_text("That sign-in link did not work")
        expect(page).to_have_url(f"{server.url}/")
        expect(page.locator("#app")).to_be_hidden()
    # The form still works after it.
    page.get_by_label("Access token", exact=True).fill(server.tokens["viewer"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_have_text("browser-viewer · viewer")
    wait_idle(page)


def test_signed_out_visit_logs_no_console_error(page, server, watch):
    with page.expect_response(f"{server.url}/api/session/status") as status:
        page.goto(server.url)
    assert status.value.status == 200 and status.value.json()["signed_in"] is False
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#booting")).to_be_hidden()
