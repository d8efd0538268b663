"""`/api/webhooks`: admin only, the secret shown once, targets checked, one error shape."""

from __future__ import annotations

import importlib.util
import sys
from typing import Iterator

import pytest

from perftiers.api.models import webhooks as webhook_models
from perftiers.metadata import webhook_events
from perftiers.pipeline import alerts
from tests.api.conftest import Api, assert_error, client_for, make_settings, make_tokens
from tests.webhook_receiver import Receiver


def _api(home, **settings) -> Iterator[Api]:
    s = make_settings(home, **settings)
    app, client = client_for(s)
    yield Api(client, make_tokens(s), s, app)
    app.state.engine.stop()


@pytest.fixture
def api(tmp_path) -> Iterator[Api]:
    """Private targets allowed (the receiver is on 127.0.0.1)."""
    yield from _api(tmp_path / "data", webhooks_allow_private_targets=True)


@pytest.fixture
def strict_api(tmp_path) -> Iterator[Api]:
    yield from _api(tmp_path / "data")


def create(api: Api, url: str, **body) -> dict:
    r = api.post("/api/webhooks", role="admin", json={"url": url, **body})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/api/webhooks", None),
    ("POST", "/api/webhooks", {"url": "http://127.0.0.1:9/x"}),
    ("GET", "/api/webhooks/1", None),
    ("PATCH", "/api/webhooks/1", {"enabled": False}),
    ("DELETE", "/api/webhooks/1", None),
    ("GET", "/api/webhooks/1/deliveries", None),
    ("POST", "/api/webhooks/1/test", None),
])
def test_only_admins_manage_webhooks(api, method, path, body):
    create(api, "http://127.0.0.1:9/x")
    for role in ("viewer", "editor"):
        error = assert_error(api.request(method, path, role=role, json=body), 403, "forbidden")
        assert error["details"]["required_role"] == "admin"
    assert_error(api.request(method, path, role=None, json=body), 401, "unauthorized")
    assert api.request(method, path, role="admin", json=body).status_code < 300


def test_the_secret_is_shown_once_and_never_listed(api):
    created = create(api, "http://127.0.0.1:9/x", events=["refresh.failed"], tiers=["banana"], format="slack")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert created["events"] == ["refresh.failed"] and created["format"] == "slack" and created["enabled"]
    for r in (api.get("/api/webhooks", role="admin"), api.get(f"/api/webhooks/{created['id']}", role="admin"),
              api.request("PATCH", f"/api/webhooks/{created['id']}", role="admin", json={"enabled": False})):
        assert r.status_code == 200 and created["secret"] not in r.text and "secret" not in r.text
    assert api.get(f"/api/webhooks/{created['id']}", role="admin").json()["enabled"] is False


def test_private_targets_are_refused_unless_allowed(strict_api):
    for url in ("http://127.0.0.1:8000/x", "http://localhost/x", "http://169.254.169.254/latest/meta-data",
                "http://[::1]/x", "http://10.0.0.5/x"):
        error = assert_error(strict_api.post("/api/webhooks", role="admin", json={"url": url}), 400,
                             "webhook_target_refused")
        assert "webhooks_allow_private_targets" in error["message"]
    error = assert_error(strict_api.post("/api/webhooks", role="admin", json={"url": "ftp://example.com/x"}), 400,
                         "webhook_target_refused")
    assert "http" in error["message"]
    assert strict_api.get("/api/webhooks", role="admin").json() == {"items": []}


def test_bad_bodies_and_unknown_ids_answer_the_error_shape(api):
    assert_error(api.post("/api/webhooks", role="admin", json={"url": "http://127.0.0.1/x", "events": ["nope"]}),
                 422, "validation_failed")
    assert_error(api.post("/api/webhooks", role="admin", json={"url": "http://127.0.0.1/x", "events": []}),
                 422, "validation_failed")
    assert_error(api.post("/api/webhooks", role="admin", json={"url": "http://127.0.0.1/x", "secret": "mine"}),
                 422, "validation_failed")
    assert_error(api.post("/api/webhooks", role="admin", json={"url": "http://127.0.0.1/x", "format": "xml"}),
                 422, "validation_failed")
    for method, path in (("GET", "/api/webhooks/99"), ("PATCH", "/api/webhooks/99"), ("DELETE", "/api/webhooks/99"),
                         ("GET", "/api/webhooks/99/deliveries"), ("POST", "/api/webhooks/99/test")):
        assert_error(api.request(method, path, role="admin", json={} if method == "PATCH" else None), 404, "not_found")
    assert_error(api.get("/api/webhooks/0", role="admin"), 400, "bad_request")
    assert_error(api.get("/api/webhooks/abc", role="admin"), 400, "bad_request")
    assert_error(api.get("/api/webhooks/99999999999999999999", role="admin"), 400, "bad_request")


def test_test_event_update_delete_and_the_delivery_log(api):
    with Receiver(statuses=[200]) as receiver:
        sub = create(api, receiver.url, format="json")
        queued = api.post(f"/api/webhooks/{sub['id']}/test", role="admin")
        assert queued.status_code == 202
        assert alerts.deliver_due(api.settings).delivered == 1
        (request,) = receiver.requests
        assert request.json()["type"] == "webhook.test" and request.headers["Idempotency-Key"] == queued.json()["event_id"]
    log = api.get(f"/api/webhooks/{sub['id']}/deliveries", role="admin").json()["items"]
    assert [(d["id"], d["status"], d["attempts"], d["last_status_code"]) for d in log] == \
           [(queued.json()["delivery_id"], "delivered", 1, 200)]
    changed = api.request("PATCH", f"/api/webhooks/{sub['id']}", role="admin",
                          json={"url": "http://127.0.0.1:1/other", "tiers": ["winner"], "enabled": False})
    assert changed.status_code == 200 and changed.json()["tiers"] == ["winner"]
    assert changed.json()["url"] == "http://127.0.0.1:1/other"
    assert_error(api.post(f"/api/webhooks/{sub['id']}/test", role="admin"), 409, "conflict")
    assert api.delete(f"/api/webhooks/{sub['id']}", role="admin").status_code == 204
    assert_error(api.get(f"/api/webhooks/{sub['id']}/deliveries", role="admin"), 404, "not_found")


def test_a_new_event_is_named_in_one_place(monkeypatch):
    """An event added to metadata.webhook_events.EVENTS only is one the API's models take, and by
    default: the models are built again (as a module of their own) over a longer EVENTS."""
    monkeypatch.setattr(webhook_events, "EVENTS", (*webhook_events.EVENTS, "stock.low"))
    spec = importlib.util.spec_from_file_location("webhook_models_probe", webhook_models.__file__)
    probe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, probe)
    spec.loader.exec_module(probe)
    assert probe.WebhookCreate(url="https://example.com/x", events=["stock.low"]).events == ["stock.low"]
    assert probe.WebhookCreate(url="https://example.com/x").events == list(webhook_events.EVENTS)
    assert probe.WebhookUpdate(events=["stock.low"]).events == ["stock.low"]
