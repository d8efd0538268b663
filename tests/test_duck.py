"""Pipeline DuckDB connections (`perftiers.duck.connect`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from perftiers import duck
from perftiers.api.errors import status_of
from perftiers.errors import PerftiersError
from perftiers.settings import load_settings

PROBE = """
from perftiers import duck
print(duck.connect().execute("SELECT current_setting('enable_progress_bar')").fetchone()[0])
"""


def test_no_progress_bar_on_stdout():
    """DuckDB's own progress bar (on by default after 2 s of a query) printed to stdout, ahead of
    `perftiers refresh --output json`; the CLI shows its own progress on stderr. Checked in a fresh
    interpreter: under pytest DuckDB starts with the bar off, so an in-process check proves nothing."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_no_writable_spill_folder_is_a_server_fault_not_a_client_conflict(tmp_path, monkeypatch):
    """Neither the data folder nor the system temp folder writable: the API must answer 500 (and
    log an error), not the 409 a setting the client can change gets."""
    settings = load_settings(home=tmp_path / "data")
    monkeypatch.setattr(duck.os, "access", lambda path, mode: False)
    with pytest.raises(PerftiersError, match="no writable folder for DuckDB") as raised:
        duck.spill_dir(settings)
    assert status_of(raised.value) == 500
