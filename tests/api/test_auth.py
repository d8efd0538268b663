"""Auth: Bearer tokens, login link and sign-in form sessions, CSRF, roles, token admin, no tokens in logs."""

from __future__ import annotations

import logging

import pytest

from perftiers.api.security import CSRF_COOKIE, SESSION_COOKIE
from perftiers.metadata import tokens
from perftiers.metadata.db import engine_for
from tests.api.conftest import assert_error, bearer, client_for

URL = "/api/performance-metrics"


@pytest.fixture
def browser(store):
    """A fresh in-process client (its own cookie jar) over the shared store."""
    app, client = client_for(store)
    yield client
    app.state.engine.stop()


def set_cookie_headers(response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_no_token_is_401_everywhere_but_health(api):
    assert_error(api.get(URL, role=None), 401, "unauthorized")
    assert api.get("/healthz", role=None).json() == {"status": "ok"}
    assert api.get("/readyz", role=None).status_code == 200
    response = api.get(URL, role=None, headers={"Authorization": "Bearer pt_wrong"})
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_error(api.get(URL, role=None, headers={"Authorization": "Basic abc"}), 401)
    assert_error(api.get(URL, role=None, headers={"Authorization": "Bearer " + "x" * 5000}), 401)


def test_role_matrix(api):
    for role in ("viewer", "editor", "admin"):
        assert api.get(URL, role=role).status_code == 200
        assert api.get("/api/session", role=role).json()["role"] == role
    assert_error(api.put(f"{URL}/settings/classification", role="viewer", json={}), 403, "forbidden")
    assert_error(api.get("/api/tokens", role="viewer"), 403)
    assert_error(api.get("/api/tokens", role="editor"), 403)
    assert api.get("/api/tokens", role="admin").status_code == 200


def test_login_link_sets_a_strict_httponly_session_and_redirects(browser, store_tokens):
    response = browser.get("/login", params={"token": store_tokens["viewer"]})
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookies = set_cookie_headers(response)
    session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    csrf = next(c for c in cookies if c.startswith(f"{CSRF_COOKIE}="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    assert "Max-Age=43200" in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf.replace("Strict", "strict")
    assert browser.get("/api/session").json() == {"name": "viewer-user", "role": "viewer"}
    assert browser.get(URL).status_code == 200

def test_a_refused_login_link_opens_the_sign_in_page_with_a_message(browser):
    # A person clicked it: the dashboard's sign-in form explains, instead of a JSON error page.
    for params in ({"token": "pt_nope"}, {"token": ""}, {}, {"token": "x" * 600}):
        response = browser.get("/login", params=params)
        assert response.status_code == 303, params
        assert response.headers["location"] == "/?signin_error=invalid_link"
        assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in set_cookie_headers(response))
    assert browser.get("/api/session/status").json() == {"signed_in": False, "name": None, "role": None}


def test_session_status_answers_200_signed_in_or_not(browser, store_tokens):
    assert browser.get("/api/session/status").json() == {"signed_in": False, "name": None, "role": None}
    assert browser.get("/api/session/status", headers=bearer("pt_wrong")).json()["signed_in"] is False
    browser.post("/api/session", json={"token": store_tokens["editor"]})
    assert browser.get("/api/session/status").json() == {"signed_in": True, "name": "editor-user", "role": "editor"}


def test_cookie_writes_need_the_csrf_header(browser, store_tokens):
    signed_in = browser.post("/api/session", json={"token": store_tokens["editor"]})
    assert signed_in.json() == {"name": "editor-user", "role": "editor"}
    csrf = browser.cookies[CSRF_COOKIE]
    preview = f"{URL}/settings/classification/preview"
    body = {"top_riser_7_day_threshold": 1, "top_riser_14_day_threshold": 1, "winner_30_day_threshold": 1,
            "banana_count": 1}
    assert_error(browser.post(preview, json=body), 403, "csrf_failed")
    assert_error(browser.post(preview, json=body, headers={"X-CSRF-Token": "forged"}), 403, "csrf_failed")
    assert browser.post(preview, json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert browser.get(URL).status_code == 200  # reads need no CSRF header
    # the same write with a Bearer token needs no CSRF header
    assert browser.post(preview, json=body, headers=bearer(store_tokens["viewer"])).status_code == 200


def test_sign_out_ends_the_session(browser, store_tokens):
    browser.post("/api/session", json={"token": store_tokens["viewer"]})
    csrf = browser.cookies[CSRF_COOKIE]
    stolen = browser.cookies[SESSION_COOKIE]
    assert_error(browser.delete("/api/session"), 403, "csrf_failed")
    assert browser.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert_error(browser.get("/api/session", cookies={SESSION_COOKIE: stolen}), 401)
    assert_error(browser.post("/api/session", json={"token": "pt_wrong"}), 401)
    assert_error(browser.post("/api/session", json={}), 422)


def test_revoking_a_token_ends_its_sessions(store):
    app, client = client_for(store)
    try:
        db = engine_for(store.resolved_database_url)
        principal, secret = tokens.create(db, "viewer", "short-lived")
        client.post("/api/session", json={"token": secret})
        assert client.get("/api/session").status_code == 200
        tokens.revoke(db, "short-lived")
        assert_error(client.get("/api/session"), 401)
        assert_error(client.get(URL, headers=bearer(secret)), 401)
    finally:
        app.state.engine.stop()


def test_admin_manages_tokens(fresh_api):
    api = fresh_api
    created = api.post("/api/tokens", role="admin", json={"role": "viewer", "name": "dashboard-tv"})
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("pt_") and body["role"] == "viewer" and body["name"] == "dashboard-tv"
    assert api.get(URL, role=None, headers=bearer(body["token"])).status_code == 200
    listed = api.get("/api/tokens", role="admin").json()["items"]
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    assert api.delete(f"/api/tokens/{body['id']}", role="admin").status_code == 204
    assert_error(api.get(URL, role=None, headers=bearer(body["token"])), 401)
    assert_error(api.delete(f"/api/tokens/{body['id']}", role="admin"), 404)
    assert_error(api.post("/api/tokens", role="admin", json={"role": "root"}), 422)
    assert_error(api.post("/api/tokens", role="editor", json={"role": "viewer"}), 403)


def test_tokens_never_reach_the_logs(browser, store_tokens, caplog):
    caplog.set_level(logging.DEBUG)
    browser.get("/login", params={"token": store_tokens["admin"]})
    browser.get(URL, headers=bearer(store_tokens["admin"]))
    browser.get("/login", params={"token": "pt_unknown_secret"})
    server = [r for r in caplog.records if r.name.startswith(("perftiers", "uvicorn", "fastapi"))]
    assert any(r.name == "perftiers.access" for r in server), "the access log should have lines"
    text = "\n".join(r.getMessage() for r in server)
    assert store_tokens["admin"] not in text and "pt_unknown_secret" not in text
    assert "/login" in text
