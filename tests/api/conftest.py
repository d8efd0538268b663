"""API fixtures: small stores with known values, tokens per role, an in-process client, a real server.

- `store` (session): the store of `tests/api/store.py`, built once; tests that use it must not write.
- `fresh_store` (function): the same store, built anew, for tests that write.
- `client_for(settings)`: an in-process client (TestClient, no lifespan: the engine checks for new
  snapshots inline). `Api` wraps it with per-role headers.
- The real `perftiers serve` as a subprocess: `tests/serve.py`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import anyio.from_thread
import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from perftiers.api.app import create_app
from perftiers.metadata import tokens
from perftiers.metadata.db import engine_for
from perftiers.settings import Settings, load_settings
from tests.api import store as known

ROLES = ("viewer", "editor", "admin")


def make_settings(home: Path, **extra: Any) -> Settings:
    return load_settings(home=home, **extra)


def make_tokens(settings: Settings) -> dict[str, str]:
    db = engine_for(settings.resolved_database_url)
    return {role: tokens.create(db, role, f"{role}-user")[1] for role in ROLES}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    """A client plus a token per role: `api.get(path, role="viewer", ...)`."""

    client: Any
    tokens: dict[str, str]
    settings: Settings
    app: Any = None
    _closers: list = field(default_factory=list)

    def reload(self) -> bool:
        """Load the newest snapshot now (in-process apps otherwise check at most once a second)."""
        return self.app.state.engine.check(force=True)

    def request(self, method: str, path: str, *, role: str | None = "viewer", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers.update(bearer(self.tokens[role]))
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


_PORTALS: list[Any] = []


def client_for(settings: Settings) -> tuple[Any, Any]:
    """An app and a TestClient whose requests share one event loop (much faster than one loop per
    request). The lifespan does not run: the engine checks for new snapshots inline."""
    app = create_app(settings)
    client = TestClient(app, follow_redirects=False)
    portal = anyio.from_thread.start_blocking_portal()
    client.portal = portal.__enter__()
    _PORTALS.append(portal)
    return app, client


def close_portals() -> None:
    """Stop the event-loop threads `client_for` started (tests/conftest.py calls this at the end of
    the session)."""
    while _PORTALS:
        _PORTALS.pop().__exit__(None, None, None)


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Settings:
    return known.build(make_settings(tmp_path_factory.mktemp("store") / "data"))


@pytest.fixture(scope="session")
def store_tokens(store) -> dict[str, str]:
    return make_tokens(store)


@pytest.fixture(scope="session")
def api(store, store_tokens) -> Iterator[Api]:
    """Read-only client over the shared store."""
    app, client = client_for(store)
    yield Api(client, store_tokens, store, app)
    app.state.engine.stop()


@pytest.fixture
def fresh_store(tmp_path) -> Settings:
    return known.build(make_settings(tmp_path / "data"))


@pytest.fixture
def fresh_api(fresh_store) -> Iterator[Api]:
    """A client over a store of its own: tests may write."""
    app, client = client_for(fresh_store)
    yield Api(client, make_tokens(fresh_store), fresh_store, app)
    app.state.engine.stop()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


