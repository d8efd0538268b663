"""The command line as a user runs it: demo, sync, refresh, token."""

from __future__ import annotations

from typer.testing import CliRunner

from perftiers.cli import app
from perftiers.lakehouse import catalog
from perftiers.settings import load_settings

runner = CliRunner()


def test_demo_remembers_its_size_so_later_syncs_change_nothing(tmp_path):
    home = tmp_path / "data"
    result = runner.invoke(app, ["--data-dir", str(home), "demo", "--products", "40", "--order-lines", "1500"])
    assert result.exit_code == 0, result.output
    assert "demo_products = 40" in (home / "perftiers.toml").read_text()
    settings = load_settings(home=home)
    assert settings.demo_products == 40 and settings.demo_order_lines == 1500
    lines = catalog.load(settings, catalog.ORDER_LINES)
    before = lines.current_snapshot().snapshot_id

    again = runner.invoke(app, ["--data-dir", str(home), "sync", "--output", "json"])
    assert again.exit_code == 0, again.output
    assert '"order_lines_written": 0' in again.output
    assert lines.refresh().current_snapshot().snapshot_id == before
    assert catalog.load(settings, catalog.PERFORMANCE).scan().to_arrow().num_rows == 40


def test_demo_on_a_folder_with_data_does_nothing(tmp_path):
    home = tmp_path / "data"
    assert runner.invoke(app, ["--data-dir", str(home), "demo", "--products", "10", "--order-lines", "100"]).exit_code == 0
    result = runner.invoke(app, ["--data-dir", str(home), "demo"])
    assert result.exit_code == 0
    assert "already holds store data" in " ".join(result.output.split())


def test_bad_input_is_a_clear_message_not_a_traceback(tmp_path):
    home = str(tmp_path / "data")
    result = runner.invoke(app, ["--data-dir", home, "refresh", "--as-of", "2025-13-45"])
    assert result.exit_code == 2
    assert "is not a date" in result.output
    result = runner.invoke(app, ["--data-dir", home, "sync", "--source", "nope"])
    assert result.exit_code == 2
    assert "unknown source 'nope'" in result.output
    assert "Traceback" not in result.output


def test_token_create_prints_the_token_last(tmp_path):
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "data"), "token", "create", "--role", "viewer", "--name", "ops"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("pt_") and len(token) > 30
