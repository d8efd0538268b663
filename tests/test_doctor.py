"""`perftiers doctor` on the embedded default: every check passes on a fresh folder, and a broken
part fails with a plain-words fix and a non-zero exit."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from perftiers import doctor
from perftiers.cli import app
from perftiers.settings import load_settings

runner = CliRunner()


def _statuses(report: doctor.Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def test_a_fresh_embedded_folder_passes_every_check(settings):
    report = doctor.run(settings)
    assert report.ok
    assert _statuses(report) == {"deployment": "ok", "metadata DB": "ok", "schema": "ok", "catalog": "ok",
                                 "warehouse": "ok", "object store": "ok", "lock": "ok", "clock": "skip"}
    # Probes are cleaned up: nothing is left in the warehouse or the object store.
    assert list((settings.home / "warehouse").iterdir()) == []
    assert not any(p.is_file() for p in (settings.home / "objects").rglob("*"))


def test_json_output_and_exit_code(tmp_path, monkeypatch):
    monkeypatch.delenv("PERFTIERS_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "doctor", "--output", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is True
    assert [c["name"] for c in body["checks"]][:3] == ["deployment", "metadata DB", "schema"]
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in body["checks"])


def test_an_unreachable_database_fails_with_a_fix_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.delenv("PERFTIERS_DATABASE_URL", raising=False)
    url = "postgresql+psycopg://perftiers:secret-password@127.0.0.1:1/perftiers"
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "doctor", "--output", "json"],
                           env={"PERFTIERS_DATABASE_URL": url})
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["metadata DB"]["status"] == "fail"
    assert "Nothing answers at 127.0.0.1:1" in checks["metadata DB"]["fix"]
    assert checks["schema"]["status"] == checks["lock"]["status"] == checks["clock"]["status"] == "skip"
    assert "secret-password" not in result.stdout


def test_an_unwritable_object_store_fails_and_names_the_setting(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the object store folder should be")
    settings = load_settings(home=tmp_path / "d", object_store=f"file://{blocker}/objects")
    report = doctor.run(settings)
    assert not report.ok
    [check] = [c for c in report.checks if c.status == "fail"]
    assert check.name == "object store" and check.fix


def test_text_output_says_what_failed(tmp_path, monkeypatch):
    monkeypatch.delenv("PERFTIERS_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "d"), "doctor"],
                           env={"PERFTIERS_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/x"})
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "fix:" in result.stdout
    assert "1 check(s) failed: metadata DB" in result.stdout
