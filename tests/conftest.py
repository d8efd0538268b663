"""Shared fixtures, and the rule that CI runs every tier.

Outside CI a test whose real part is missing (Debian's chromium, PostgreSQL, the S3 endpoint)
skips with the reason, so a developer's fast loop works anywhere. With `CI` set (`.ci/run`
exports it) a skip is a failure: a green CI run means every tier really ran.
"""

from __future__ import annotations

import os
import sys

import pytest

from perftiers.settings import Settings, load_settings

IN_CI = bool(os.environ.get("CI"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every tier must run: {reason}"


@pytest.fixture(scope="session", autouse=True)
def _stop_test_client_loops():
    """Stop the event-loop threads (portals) of `tests.api.conftest.client_for` at the end of the
    session, whichever tests made them (the API tier's own conftest only covers tests/api/). Left
    to the garbage collector at interpreter exit, a portal waits forever for a loop thread the
    interpreter has already stopped: `pytest tests/test_shopify_tags.py` hung after its last
    test that way, 1 run in 6."""
    yield
    api_conftest = sys.modules.get("tests.api.conftest")
    if api_conftest is not None:
        api_conftest.close_portals()


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    for var in ("PERFTIERS_HOME", "PERFTIERS_CONFIG", "PERFTIERS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return load_settings(home=tmp_path / "data")
