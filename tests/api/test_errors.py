"""One error shape on every route (401, 403, 404, 400/422), no 5xx for bad input, OpenAPI kept in the repo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import routing

from perftiers.api.openapi import render
from tests.api.conftest import assert_error

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/login"), ("POST", "/api/session"),
          ("DELETE", "/api/session"), ("GET", "/api/session/status"), ("GET", "/")}
"""Routes that need no token."""

ROLE = {
    ("GET", "/api/session"): "viewer",
    ("GET", "/api/tokens"): "admin",
    ("POST", "/api/tokens"): "admin",
    ("DELETE", "/api/tokens/{token_id}"): "admin",
    ("GET", "/analytics/commerce/overview"): "viewer",
    ("GET", "/analytics/commerce/products"): "viewer",
    ("GET", "/analytics/commerce/daily"): "viewer",
    ("GET", "/api/performance-metrics"): "viewer",
    ("POST", "/api/performance-metrics"): "editor",
    ("GET", "/api/performance-metrics/stats/summary"): "viewer",
    ("GET", "/api/performance-metrics/facets"): "viewer",
    ("GET", "/api/performance-metrics/schema"): "viewer",
    ("GET", "/api/performance-metrics/export"): "viewer",
    ("GET", "/api/performance-metrics/overrides"): "viewer",
    ("DELETE", "/api/performance-metrics/overrides/{artifact_id:path}"): "editor",
    ("GET", "/api/performance-metrics/settings/classification"): "viewer",
    ("PUT", "/api/performance-metrics/settings/classification"): "editor",
    ("POST", "/api/performance-metrics/settings/classification/preview"): "viewer",
    ("GET", "/api/performance-metrics/settings/classification/history"): "viewer",
    ("POST", "/api/sync"): "editor",
    ("POST", "/api/performance-metrics/refresh"): "editor",
    ("GET", "/api/sync/runs"): "viewer",
    ("GET", "/api/sync/runs/{run_id}"): "viewer",
    ("GET", "/api/schedule"): "viewer",
    ("GET", "/api/performance-metrics/changes"): "viewer",
    ("GET", "/api/performance-metrics/{artifact_id:path}/history"): "viewer",
    ("GET", "/api/performance-metrics/{artifact_id:path}"): "viewer",
    ("PUT", "/api/performance-metrics/{artifact_id:path}"): "editor",
    ("DELETE", "/api/performance-metrics/{artifact_id:path}"): "editor",
    ("GET", "/api/webhooks"): "admin",
    ("POST", "/api/webhooks"): "admin",
    ("GET", "/api/webhooks/{sub_id}"): "admin",
    ("PATCH", "/api/webhooks/{sub_id}"): "admin",
    ("DELETE", "/api/webhooks/{sub_id}"): "admin",
    ("GET", "/api/webhooks/{sub_id}/deliveries"): "admin",
    ("POST", "/api/webhooks/{sub_id}/test"): "admin",
    ("POST", "/api/shopify/tags/preview"): "editor",
    ("POST", "/api/shopify/tags/push"): "admin",
}
"""The role each route needs: a new route must be added here (test_every_route_is_classified)."""

MISSING = {"artifact_id": "does-not-exist", "run_id": "20990101T000000000000Z-sync-000000", "token_id": "999999",
           "sub_id": "999999"}
VALID_BODY = {
    ("PUT", "/api/performance-metrics/{artifact_id:path}"): {"vendor": "x"},
    ("PATCH", "/api/webhooks/{sub_id}"): {"enabled": False},
}


def routes(app) -> list[tuple[str, str, str]]:
    """(method, path, OpenAPI path) of every API route, walked from app.routes."""
    contexts = routing.iter_route_contexts(app.routes) if hasattr(routing, "iter_route_contexts") else app.routes
    documented = app.openapi()["paths"]
    out = []
    for route in contexts:
        path_format = getattr(route, "path_format", None)
        for method in sorted(getattr(route, "methods", None) or ()):
            if method == "HEAD" or path_format in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
                continue
            if path_format in documented or path_format == "/":
                out.append((method, route.path, path_format))
    return out


def operation(app, method: str, path_format: str) -> dict:
    return app.openapi()["paths"].get(path_format, {}).get(method.lower(), {})


def params_of(app, method: str, path_format: str, where: str) -> list[str]:
    """Parameter names of a route as its OpenAPI document lists them (`query`, `header`, `path`)."""
    return [p["name"] for p in operation(app, method, path_format).get("parameters", []) if p["in"] == where]


def has_body(app, method: str, path_format: str) -> bool:
    return "requestBody" in operation(app, method, path_format)


def concrete(path: str, values: dict[str, str] = MISSING) -> str:
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: values[m.group(1)], path)


def test_every_route_is_classified(api):
    found = {(m, p) for m, p, _ in routes(api.app)}
    assert found == set(ROLE) | PUBLIC


def test_401_and_403_shapes_on_every_route(api):
    for method, path, _ in routes(api.app):
        if (method, path) in PUBLIC:
            continue
        url = concrete(path)
        assert_error(api.request(method, url, role=None), 401, "unauthorized")
        needed = ROLE[(method, path)]
        if needed != "viewer":
            below = "viewer" if needed == "editor" else "editor"
            body = VALID_BODY.get((method, path))
            assert_error(api.request(method, url, role=below, json=body), 403, "forbidden")


def test_404_shapes(api):
    for method, path, _ in routes(api.app):
        if "{" not in path:
            continue
        response = api.request(method, concrete(path), role="admin", json=VALID_BODY.get((method, path)))
        assert_error(response, 404, "not_found")
    assert_error(api.get("/api/no-such-thing"), 404, "not_found")
    assert_error(api.get("/static/no-such-file.js", role=None), 404, "not_found")
    assert_error(api.request("PATCH", "/api/performance-metrics"), 405, "method_not_allowed")


def test_400_and_422_shapes(api):
    for method, path, route in routes(api.app):
        # /login is opened by a person: a refused link redirects to the sign-in page (test_auth.py).
        if (method, path) in {("DELETE", "/api/session"), ("GET", "/login")}:
            continue
        query = params_of(api.app, method, route, "query")
        url = concrete(path)
        if has_body(api.app, method, route):
            response = api.request(method, url, role="admin", json={"unexpected": ["wrong"] * 3, "artifact_id": 5})
            assert_error(response, 422, "validation_failed")
        if query:
            param = query[0]
            bad = {"token": ""}.get(param, "x" * 300 if param == "search" else "not-a-valid-value")
            assert_error(api.request(method, url, role="admin", params={param: bad}), 400, "bad_request")


BAD_VALUES = ["", "abc", "-1", "0", "1.5", "99999999999999999999999", "NaN", "%_%", "'; DROP TABLE performance; --",
              "\x00", "💩\u202e\u0301", "2024-02-30", "0001-01-01", "9999-12-31", "x" * 5000, "{}", "a:b:c"]
RAW_QUERIES = ["%FF", "%ED%A0%80", "%", "a=%zz"]
BAD_BODIES = [b"", b"not json", b"[]", b"{}", b"null", b'{"a":', b"[" * 5000 + b"]" * 5000,
              b'{"artifact_id": "\\ud800"}', b'{"artifact_id": "x\\u0000y"}', b'{"token": 12}',
              json.dumps({"artifact_id": "big", "sales_last_30_days": 10**400}).encode(),
              json.dumps({"banana_count": -5, "winner_30_day_threshold": 1e308}).encode(),
              json.dumps({"tags": ["x"] * 10000}).encode()]
PATH_VALUES = ["..", "%2e%2e%2f%2e%2e", "%00", "%FF", "💩", "a" * 3000, "-1", "0", "99999999999999999999", "x%20y"]


@pytest.fixture
def quiet_jobs(monkeypatch):
    """Pipeline starts answer as if accepted, without running anything."""
    from perftiers.pipeline import jobs

    def fake(settings, **kwargs):
        return {"run_id": "20990101T000000000000Z-sync-fake00", "kind": "sync", "trigger": "manual",
                "started_at": "2099-01-01T00:00:00+00:00", "status": "running", "counts": {}}

    monkeypatch.setattr(jobs, "sync", fake)
    monkeypatch.setattr(jobs, "refresh", fake)


def test_bad_input_never_gives_a_5xx(fresh_api, quiet_jobs):
    api = fresh_api
    seen = 0
    for method, path, route in routes(api.app):
        url = concrete(path, {"artifact_id": "SKU-001", "run_id": "x", "token_id": "999999", "sub_id": "999999"})
        for param in params_of(api.app, method, route, "query") + params_of(api.app, method, route, "header"):
            param = param.lower() if param.lower() == "if-match" else param
            for value in BAD_VALUES:
                kwargs = {"params": {param: value}} if param != "if-match" else {"headers": {"If-Match": value}}
                if param == "if-match" and not value.isascii():
                    continue
                response = api.request(method, url, role="admin", **kwargs)
                assert response.status_code < 500, (method, path, param, value, response.text[:300])
                seen += 1
            for raw in RAW_QUERIES:
                response = api.request(method, f"{url}?{param}={raw}", role="admin")
                assert response.status_code < 500, (method, path, param, raw, response.text[:300])
        if has_body(api.app, method, route):
            for body in BAD_BODIES:
                response = api.request(method, url, role="admin", content=body,
                                       headers={"Content-Type": "application/json"})
                assert response.status_code < 500, (method, path, body[:80], response.text[:300])
                seen += 1
        if "{" in path:
            for value in PATH_VALUES:
                response = api.request(method, concrete(path, dict.fromkeys(MISSING, value)), role="admin",
                                       json=VALID_BODY.get((method, path)))
                assert response.status_code < 500, (method, path, value, response.text[:300])
    assert seen > 500


def test_oversize_bodies_are_413(api):
    big = json.dumps({"artifact_id": "big", "product_name": "x" * (2 * 1024 * 1024)})
    assert_error(api.post("/api/performance-metrics", role="editor", content=big,
                          headers={"Content-Type": "application/json"}), 413, "payload_too_large")

    def chunks():
        yield b'{"artifact_id": "big", "product_name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = api.post("/api/performance-metrics", role="editor", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_unexpected_errors_are_a_generic_500(fresh_api, monkeypatch):
    from perftiers.query import performance

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(performance, "summary", boom)
    response = fresh_api.get("/api/performance-metrics/stats/summary")
    error = assert_error(response, 500, "internal")
    assert "secret" not in response.text and error["details"] is None


def test_committed_openapi_matches_the_served_one(api):
    committed = Path(__file__).resolve().parents[2] / "openapi.json"
    served = api.get("/openapi.json", role=None)
    assert served.status_code == 200
    assert committed.read_text(encoding="utf-8") == render(served.json()), (
        "openapi.json is stale: regenerate it with `perftiers openapi -o openapi.json`")


def test_docs_api_md_covers_every_route(api):
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    for method, path, path_format in routes(api.app):
        literal = path_format.split("{")[0]
        assert literal in text, f"docs/api.md does not mention {method} {path_format}"


def test_every_response_is_typed(api):
    doc = api.app.openapi()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ok = {k: v for k, v in op["responses"].items() if k.startswith("2") and k != "204"}
            for status, spec in ok.items():
                if status in ("303",):
                    continue
                content = spec.get("content", {})
                if "application/json" in content:
                    assert content["application/json"]["schema"], (method, path)
                    assert content["application/json"]["schema"] != {}, (method, path)
