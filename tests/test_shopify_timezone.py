"""Issue 12, defect 3: the shop's timezone (`ianaTimezone`) cuts the days when no `timezone` is configured;
a configured one that differs is kept, and the sync output and `perftiers doctor` warn about it."""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from perftiers import doctor
from perftiers.cli import app
from perftiers.lakehouse import catalog
from perftiers.settings import load_settings
from tests import pipeline
from tests.fake_shopify import gql_line, gql_order
from tests.test_shopify_api import FIRST_SYNC, TOKEN, make_settings, source, store

NEW_YORK = "America/New_York"


@pytest.fixture
def shop():
    with store() as fake:
        fake.timezone = NEW_YORK
        # 03:00 UTC on Feb 12 is 22:00 on Feb 11 in New York
        fake.orders.append(gql_order(1010, "#1010", "2025-02-12T03:00:00Z", [gql_line(20, "wool-scarf", 1, "30.00")]))
        yield fake


@pytest.fixture(autouse=True)
def _no_timezone_in_the_environment(monkeypatch):
    monkeypatch.delenv("PERFTIERS_TIMEZONE", raising=False)


def scarf_days(settings) -> set[date]:
    rows = pipeline.table_arrow(settings, catalog.DAILY_SALES).to_pylist()
    return {r["day"] for r in rows if r["artifact_id"] == "wool-scarf"}


def test_without_a_configured_timezone_the_shops_cuts_the_days_now_and_in_later_runs(tmp_path, monkeypatch, shop):
    settings = make_settings(tmp_path, monkeypatch, shop)
    assert "timezone" not in settings.model_fields_set and settings.timezone == "UTC"
    record = pipeline.sync(settings, source(settings, FIRST_SYNC))
    assert record["counts"]["shopify_timezone"] == NEW_YORK and record["counts"]["store_timezone"] == NEW_YORK
    assert "warnings" not in record
    assert settings.timezone == NEW_YORK  # the refresh that follows in this process
    saved = tomllib.loads((settings.home / "perftiers.toml").read_text())
    assert saved["timezone"] == NEW_YORK  # and every later process (CLI refresh, serve)
    assert load_settings(home=settings.home).timezone == NEW_YORK
    pipeline.refresh(settings, date(2025, 2, 14))
    assert scarf_days(settings) == {date(2025, 2, 3), date(2025, 2, 11)}
    # a second sync keeps it, with nothing to warn about
    again = pipeline.sync(load_settings(home=settings.home, shopify_shop=shop.url, shopify_access_token=TOKEN),
                          source(settings, FIRST_SYNC))
    assert "warnings" not in again and again["counts"]["store_timezone"] == NEW_YORK
    pipeline.close(settings)


def test_a_configured_timezone_is_kept_and_the_sync_warns_when_the_shop_differs(tmp_path, monkeypatch, shop):
    settings = make_settings(tmp_path, monkeypatch, shop, timezone="UTC")
    record = pipeline.sync(settings, source(settings, FIRST_SYNC))
    assert settings.timezone == "UTC" and record["counts"]["store_timezone"] == "UTC"
    [warning] = record["warnings"]
    assert "America/New_York" in warning and "UTC" in warning and "timezone" in warning
    assert pipeline.runs(settings)[0]["warnings"] == [warning]  # kept in the run's telemetry record
    assert not (settings.home / "perftiers.toml").exists()
    pipeline.refresh(settings, date(2025, 2, 14))
    assert scarf_days(settings) == {date(2025, 2, 3), date(2025, 2, 12)}
    pipeline.close(settings)


def test_the_sync_command_prints_the_warning(tmp_path, monkeypatch, shop):
    monkeypatch.delenv("PERFTIERS_CONFIG", raising=False)
    monkeypatch.delenv("PERFTIERS_DATABASE_URL", raising=False)
    shop.shop_created = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    shop.polls_until_done = 1
    env = {"PERFTIERS_SHOPIFY_SHOP": shop.url, "PERFTIERS_SHOPIFY_ACCESS_TOKEN": TOKEN,
           "PERFTIERS_TIMEZONE": "Europe/Berlin"}
    home = tmp_path / "data"
    result = CliRunner().invoke(app, ["--data-dir", str(home), "sync", "--source", "shopify"], env=env)
    assert result.exit_code == 0, result.output
    assert "sync succeeded" in result.stdout
    assert "warning:" in result.stdout and "America/New_York" in result.stdout and "Europe/Berlin" in result.stdout
    json_run = CliRunner().invoke(app, ["--data-dir", str(home), "sync", "--source", "shopify", "--output", "json"],
                                  env=env)
    assert json_run.exit_code == 0, json_run.output
    assert "America/New_York" in json.loads(json_run.stdout)["warnings"][0]
    pipeline.close(load_settings(home=home))


def timezone_check(settings) -> doctor.Check:
    [check] = [c for c in doctor.run(settings).checks if c.name == "timezone"]
    return check


def test_doctor_warns_when_the_configured_timezone_differs_from_the_shops(tmp_path, monkeypatch, shop):
    configured = make_settings(tmp_path, monkeypatch, shop, timezone="UTC")
    check = timezone_check(configured)
    assert check.status == "warn"
    assert "America/New_York" in check.detail and "UTC" in check.detail
    assert 'timezone = "America/New_York"' in check.fix

    unset = make_settings(tmp_path, monkeypatch, shop)
    check = timezone_check(unset)
    assert check.status == "ok" and "America/New_York" in check.detail and "next sync" in check.detail
    pipeline.sync(unset, source(unset, FIRST_SYNC))
    check = timezone_check(load_settings(home=unset.home, shopify_shop=shop.url, shopify_access_token=TOKEN))
    assert check.status == "ok" and "America/New_York" in check.detail
    pipeline.close(unset)


def test_doctor_falls_back_to_the_timezone_the_last_sync_saw(tmp_path, monkeypatch, shop):
    settings = make_settings(tmp_path, monkeypatch, shop, timezone="UTC")
    pipeline.sync(settings, source(settings, FIRST_SYNC))
    shop.fail = lambda request: 503
    check = timezone_check(settings)
    assert check.status == "warn" and "America/New_York" in check.detail and "last Shopify sync" in check.detail
    pipeline.close(settings)


def test_doctor_has_no_timezone_check_without_a_shop(tmp_path, monkeypatch):
    monkeypatch.delenv("PERFTIERS_DATABASE_URL", raising=False)
    settings = load_settings(home=tmp_path / "d")
    assert "timezone" not in {c.name for c in doctor.run(settings).checks}
    pipeline.close(settings)


def test_with_an_explicit_settings_file_the_shops_timezone_is_used_and_the_file_left_alone(tmp_path, monkeypatch, shop):
    settings = make_settings(tmp_path, monkeypatch, shop)
    config = tmp_path / "my-perftiers.toml"
    config.write_text("# mine\n")
    monkeypatch.setenv("PERFTIERS_CONFIG", str(config))
    record = pipeline.sync(settings, source(settings, FIRST_SYNC))
    assert settings.timezone == NEW_YORK and record["counts"]["store_timezone"] == NEW_YORK
    [warning] = record["warnings"]
    assert f'add timezone = "{NEW_YORK}" to {config}' in warning
    assert config.read_text() == "# mine\n" and not (settings.home / "perftiers.toml").exists()
    pipeline.close(settings)
