"""Auth: every route x {no token, bad token, viewer, editor, admin}, and how tokens and sessions behave.

- The matrix walks the app's routes (a new route without a row in tests/api/test_errors.py's
  ROLE / PUBLIC tables, or without a request recipe here, fails the test), and sends each one a
  request that succeeds for a caller with enough rights: no or a bad token -> 401, a role too low
  -> 403, enough -> the route's success status; public routes answer the same to everyone.
- Every cookie-authenticated write needs the CSRF header (403 without it or with a wrong one).
- Sessions expire (time travel past their TTL) and the cookie says when.
- Tokens are compared in constant time, stored only as hashes (the metadata DB file holds no
  secret), revocable with `perftiers token revoke`, and never logged (a real server's whole output
  holds no secret except the one-time login link it prints on first start).
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import httpx
import pytest
from fastapi import routing

from perftiers.api.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, WRITE_METHODS
from perftiers.metadata import overrides, tokens, webhooks
from perftiers.metadata.db import engine_for
from perftiers.refresh import edits
from tests.api import store as known
from tests.api.conftest import (  # noqa: F401  (fixtures)
    Api,
    assert_error,
    bearer,
    client_for,
    fresh_api,
    fresh_store,
    make_tokens,
)
from tests.api.test_errors import PUBLIC, ROLE, quiet_jobs  # noqa: F401  (fixture)
from tests.reliability.helpers import cli_env, run_cli
from tests.serve import perftiers_command, start_server, stop_server

CALLERS = ("none", "bad", "viewer", "editor", "admin")
LEVEL = {"viewer": 1, "editor": 2, "admin": 3}
THRESHOLDS = {"top_riser_7_day_threshold": 10, "top_riser_14_day_threshold": 15, "winner_30_day_threshold": 20,
              "banana_count": 2}


@dataclass
class Recipe:
    """How to call a route so that it succeeds for a caller with enough rights."""

    status: int
    path: Callable[[Api], str] | str | None = None
    json: Callable[[Api], Any] | Any = None
    params: dict[str, str] | None = None

    def resolve(self, api: Api, route_path: str) -> tuple[str, Any]:
        path = self.path(api) if callable(self.path) else (self.path or route_path)
        body = self.json(api) if callable(self.json) else self.json
        return path, body


def new_id() -> str:
    return f"AUTH-{uuid.uuid4().hex[:10]}"


def existing_row(api: Api) -> str:
    """A row made for this request, so a DELETE always has something to delete."""
    artifact_id = new_id()
    edits.create(api.settings, artifact_id, {"product_name": "made for an auth test"}, by="test")
    return f"/api/performance-metrics/{artifact_id}"


def existing_override(api: Api) -> str:
    artifact_id = new_id()
    overrides.save(engine_for(api.settings.resolved_database_url), overrides.Override(artifact_id, {"vendor": "x"}),
                   updated_by="test")
    return f"/api/performance-metrics/overrides/{artifact_id}"


def throwaway_token(api: Api) -> str:
    principal, _ = tokens.create(engine_for(api.settings.resolved_database_url), "viewer")
    return f"/api/tokens/{principal.token_id}"


def a_webhook(api: Api) -> str:
    sub, _ = webhooks.create(engine_for(api.settings.resolved_database_url), url="https://93.184.216.34/hook",
                             events=webhooks.EVENTS, tiers=None, fmt="json", created_by="test")
    return f"/api/webhooks/{sub['id']}"


def a_run(api: Api) -> str:
    run = api.get("/api/sync/runs", role="viewer", params={"limit": 1}).json()["items"][0]
    return f"/api/sync/runs/{run['run_id']}"


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/"): Recipe(200),
    ("GET", "/healthz"): Recipe(200),
    ("GET", "/readyz"): Recipe(200),
    ("GET", "/login"): Recipe(303, path=lambda api: f"/login?token={api.tokens['viewer']}"),
    ("POST", "/api/session"): Recipe(200, json=lambda api: {"token": api.tokens["viewer"]}),
    ("DELETE", "/api/session"): Recipe(204),
    ("GET", "/api/session"): Recipe(200),
    ("GET", "/api/session/status"): Recipe(200),  # public: 200 whether signed in or not
    ("GET", "/api/tokens"): Recipe(200),
    ("POST", "/api/tokens"): Recipe(201, json={"role": "viewer"}),
    ("DELETE", "/api/tokens/{token_id}"): Recipe(204, path=throwaway_token),
    ("GET", "/analytics/commerce/overview"): Recipe(200),
    ("GET", "/analytics/commerce/products"): Recipe(200),
    ("GET", "/analytics/commerce/daily"): Recipe(200),
    ("GET", "/api/performance-metrics"): Recipe(200),
    ("POST", "/api/performance-metrics"): Recipe(201, json=lambda api: {"artifact_id": new_id()}),
    ("GET", "/api/performance-metrics/stats/summary"): Recipe(200),
    ("GET", "/api/performance-metrics/facets"): Recipe(200),
    ("GET", "/api/performance-metrics/schema"): Recipe(200),
    ("GET", "/api/performance-metrics/export"): Recipe(200),
    ("GET", "/api/performance-metrics/overrides"): Recipe(200),
    ("DELETE", "/api/performance-metrics/overrides/{artifact_id:path}"): Recipe(200, path=existing_override),
    ("GET", "/api/performance-metrics/settings/classification"): Recipe(200),
    ("PUT", "/api/performance-metrics/settings/classification"): Recipe(200, json=THRESHOLDS),
    ("POST", "/api/performance-metrics/settings/classification/preview"): Recipe(200, json=THRESHOLDS),
    ("GET", "/api/performance-metrics/settings/classification/history"): Recipe(200),
    ("POST", "/api/sync"): Recipe(202),
    ("POST", "/api/performance-metrics/refresh"): Recipe(202),
    ("GET", "/api/sync/runs"): Recipe(200),
    ("GET", "/api/sync/runs/{run_id}"): Recipe(200, path=a_run),
    ("GET", "/api/schedule"): Recipe(200),
    ("GET", "/api/performance-metrics/{artifact_id:path}"): Recipe(200, path="/api/performance-metrics/SKU-001"),
    ("PUT", "/api/performance-metrics/{artifact_id:path}"): Recipe(200, path="/api/performance-metrics/SKU-002",
                                                                   json={"vendor": "Renamed"}),
    ("DELETE", "/api/performance-metrics/{artifact_id:path}"): Recipe(204, path=existing_row),
    ("GET", "/api/performance-metrics/changes"): Recipe(200),
    ("GET", "/api/performance-metrics/{artifact_id:path}/history"): Recipe(
        200, path="/api/performance-metrics/SKU-001/history"),
    ("GET", "/api/webhooks"): Recipe(200),
    ("POST", "/api/webhooks"): Recipe(201, json={"url": "https://93.184.216.34/hook"}),
    ("GET", "/api/webhooks/{sub_id}"): Recipe(200, path=a_webhook),
    ("PATCH", "/api/webhooks/{sub_id}"): Recipe(200, path=a_webhook, json={"enabled": False}),
    ("DELETE", "/api/webhooks/{sub_id}"): Recipe(204, path=a_webhook),
    ("GET", "/api/webhooks/{sub_id}/deliveries"): Recipe(200, path=lambda api: a_webhook(api) + "/deliveries"),
    ("POST", "/api/webhooks/{sub_id}/test"): Recipe(202, path=lambda api: a_webhook(api) + "/test"),
    # The matrix's store has no Shopify shop: past the role check the preview answers 409
    # shopify_not_configured (tests/test_shopify_tags.py covers its 200 against the Shopify stand-in).
    ("POST", "/api/shopify/tags/preview"): Recipe(409),
    # Tags are not enabled there either: the push answers 409 shopify_tags_disabled
    # (tests/test_shopify_tags.py covers its 202 with shopify_tags_enabled).
    ("POST", "/api/shopify/tags/push"): Recipe(409),
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, documented or not (HEAD and the schema aside)."""
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    out = set()
    for route in contexts:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and route.path != "/openapi.json":
                out.add((method, route.path))
    return out


def headers_for(caller: str, api: Api) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "bad":
        return bearer("pt_" + secrets.token_urlsafe(32))
    return bearer(api.tokens[caller])


def expected(route: tuple[str, str], caller: str) -> int:
    recipe = RECIPES[route]
    if route in PUBLIC:
        return recipe.status
    if caller in ("none", "bad"):
        return 401
    return recipe.status if LEVEL[caller] >= LEVEL[ROLE[route]] else 403


def test_every_route_has_a_role_and_a_recipe(fresh_api):
    routes = app_routes(fresh_api.app)
    assert routes == set(ROLE) | PUBLIC, "add the new route to ROLE or PUBLIC in tests/api/test_errors.py"
    assert routes == set(RECIPES), "add a request recipe for the new route here"


def test_auth_matrix(fresh_api, quiet_jobs):
    api = fresh_api
    seen = []
    for route in sorted(app_routes(api.app)):
        method, route_path = route
        for caller in CALLERS:
            path, body = RECIPES[route].resolve(api, route_path)
            response = api.client.request(method, path, headers=headers_for(caller, api), json=body,
                                          params=RECIPES[route].params)
            want = expected(route, caller)
            assert response.status_code == want, (method, route_path, caller, response.status_code, response.text[:300])
            if want in (401, 403):
                assert_error(response, want)
                if want == 401:
                    assert response.headers["WWW-Authenticate"] == "Bearer"
            api.client.cookies.clear()  # public sign-in routes set cookies; the next call must not use them
            seen.append((method, route_path, caller, want))
    assert len(seen) == len(RECIPES) * len(CALLERS)
    print(f"auth matrix: {len(RECIPES)} routes x {len(CALLERS)} callers = {len(seen)} requests")


# -- cookie sessions: CSRF and expiry --------------------------------------------------------

def signed_in(api: Api, role: str) -> str:
    response = api.client.post("/api/session", json={"token": api.tokens[role]})
    assert response.status_code == 200
    return api.client.cookies[CSRF_COOKIE]


def test_every_cookie_write_needs_the_csrf_header(fresh_api, quiet_jobs):
    api = fresh_api
    csrf = signed_in(api, "admin")
    writes = sorted(r for r in app_routes(api.app) if r[0] in WRITE_METHODS and r not in PUBLIC)
    assert len(writes) >= 10
    for route in writes:
        method, route_path = route
        path, body = RECIPES[route].resolve(api, route_path)
        for sent in (None, "forged-" + csrf[:10], ""):
            headers = {CSRF_HEADER: sent} if sent is not None else {}
            assert_error(api.client.request(method, path, json=body, headers=headers), 403, "csrf_failed")
        path, body = RECIPES[route].resolve(api, route_path)
        ok = api.client.request(method, path, json=body, headers={CSRF_HEADER: csrf})
        assert ok.status_code == RECIPES[route].status, (method, route_path, ok.text[:300])
    # the cookie value alone is not enough: it must also match the session's own CSRF value
    other = client_for(api.settings)[1]
    other.post("/api/session", json={"token": api.tokens["admin"]})
    assert_error(api.client.put("/api/performance-metrics/settings/classification", json=THRESHOLDS,
                                headers={CSRF_HEADER: other.cookies[CSRF_COOKIE]},
                                cookies={CSRF_COOKIE: other.cookies[CSRF_COOKIE]}), 403, "csrf_failed")


def test_sessions_expire(fresh_api, monkeypatch):
    api = fresh_api
    response = api.client.post("/api/session", json={"token": api.tokens["viewer"]})
    session_cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert f"Max-Age={int(tokens.SESSION_TTL.total_seconds())}" in session_cookie
    assert api.client.get("/api/session").status_code == 200

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + tokens.SESSION_TTL + timedelta(minutes=1)

    monkeypatch.setattr(tokens, "datetime", Later)
    assert_error(api.client.get("/api/session"), 401)
    assert_error(api.client.get("/api/performance-metrics"), 401)
    monkeypatch.undo()
    assert api.client.get("/api/session").status_code == 200  # a clock check, not a deleted session
    # an expired session is purged from the DB when the next one is created
    monkeypatch.setattr(tokens, "datetime", Later)
    tokens.create_session(engine_for(api.settings.resolved_database_url),
                          tokens.authenticate(engine_for(api.settings.resolved_database_url), api.tokens["viewer"]))
    monkeypatch.undo()
    assert_error(api.client.get("/api/session"), 401)


# -- tokens: constant-time compare, hashed at rest, revocable, never logged -------------------

def test_tokens_are_compared_in_constant_time(fresh_store, monkeypatch):
    db = engine_for(fresh_store.resolved_database_url)
    _, secret = tokens.create(db, "viewer", "timing")
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    assert tokens.authenticate(db, secret) is not None
    assert tokens.authenticate(db, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    # the stored value is found by its SHA-256 (an index lookup that learns nothing about a prefix of
    # the secret) and the final comparison is hmac.compare_digest on the digests
    assert calls and all(len(a) == len(b) == 64 for a, b in calls)


def test_the_metadata_db_holds_no_secret(fresh_api):
    api = fresh_api
    created = api.post("/api/tokens", role="admin", json={"role": "editor", "name": "ci"}).json()["token"]
    api.client.post("/api/session", json={"token": api.tokens["viewer"]})
    session_id, csrf = api.client.cookies[SESSION_COOKIE], api.client.cookies[CSRF_COOKIE]
    db = engine_for(api.settings.resolved_database_url)
    with db.connect() as conn:  # checkpoint the WAL so the main file holds everything
        conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    files = [p for p in api.settings.home.rglob("*") if p.is_file()]
    blob = b"".join(p.read_bytes() for p in files)
    secrets_ = [*api.tokens.values(), created, session_id, csrf]
    for secret in secrets_:
        assert secret.encode() not in blob
        assert secret[3:].encode() not in blob  # nor the part after the pt_ prefix
        assert secret[8:40].encode() not in blob
    with db.connect() as conn:
        hashes = [row[0] for row in conn.exec_driver_sql("SELECT token_hash FROM api_token")]
    assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)


def test_token_revoke_on_the_command_line(fresh_api, tmp_path):
    api = fresh_api
    home = api.settings.home
    created = run_cli(home, ["token", "create", "--role", "viewer", "--name", "laptop"], cli_env())
    assert created.returncode == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("pt_") and created.output.count(secret) == 1
    assert api.get("/api/session", role=None, headers=bearer(secret)).json()["name"] == "laptop"
    api.client.post("/api/session", json={"token": secret})  # a browser session of that token too
    assert api.client.get("/api/session").status_code == 200
    revoked = run_cli(home, ["token", "revoke", "laptop"], cli_env())
    assert revoked.returncode == 0 and "revoked 1 token" in revoked.output, revoked.output
    assert_error(api.get("/api/performance-metrics", role=None, headers=bearer(secret)), 401)
    assert_error(api.client.get("/api/session"), 401)
    again = run_cli(home, ["token", "revoke", "laptop"], cli_env())
    assert again.returncode == 2 and "no active token" in again.output
    listed = run_cli(home, ["token", "list"], cli_env())
    assert "laptop" in listed.output and "revoked" in listed.output and secret not in listed.output


def test_tokens_never_reach_the_server_output(tmp_path):
    """A fresh folder: the first start prints the one-time login link; nothing else ever shows a secret."""
    home = tmp_path / "data"
    known.build(known_settings := _settings(home))
    server = start_server(home)
    secrets_seen: list[str] = []
    try:
        link = re.search(r"http://\S+/login\?token=(\S+)", server.log())
        assert link, server.log()
        admin = link.group(1)
        secrets_seen.append(admin)
        base = server.base_url
        with httpx.Client(base_url=base, timeout=30) as browser:
            assert browser.get(f"/login?token={admin}").status_code == 303
            csrf = browser.cookies[CSRF_COOKIE]
            made = browser.post("/api/tokens", json={"role": "editor", "name": "ci"},
                                headers={CSRF_HEADER: csrf}).json()["token"]
            secrets_seen += [made, browser.cookies[SESSION_COOKIE], csrf]
        with httpx.Client(base_url=base, timeout=30, headers=bearer(made)) as client:
            assert client.get("/api/performance-metrics").status_code == 200
            assert client.put("/api/performance-metrics/SKU-001", json={"vendor": made}).status_code == 200
            client.get("/api/performance-metrics", params={"search": made})
            client.get("/api/no-such-route", params={"token": made})
            client.post("/api/session", json={"token": made + "x"})
            client.get(f"/login?token={made}x")
            client.post("/api/performance-metrics", content=b'{"artifact_id": "' + made.encode() + b'", broken')
        for wrong in ("pt_" + secrets.token_urlsafe(32), "Basic " + made):
            secrets_seen.append(wrong)
            httpx.get(f"{base}/api/performance-metrics", headers={"Authorization": f"Bearer {wrong}"}, timeout=30)
        revoked = secrets.token_urlsafe(8)
        _, old = tokens.create(engine_for(known_settings.resolved_database_url), "viewer", revoked)
        tokens.revoke(engine_for(known_settings.resolved_database_url), revoked)
        secrets_seen.append(old)
        httpx.get(f"{base}/api/performance-metrics", headers=bearer(old), timeout=30)
    finally:
        stop_server(server)
    output = server.log()
    assert "perftiers.access" in output or '"GET /api/performance-metrics' in output  # the access log is on
    assert output.count(admin) == 1 and f"/login?token={admin}" in output  # the one-time link, once
    for secret in secrets_seen[1:]:
        assert secret not in output, "a secret reached the server output"


def _settings(home):
    from tests.api.conftest import make_settings

    return make_settings(home)
