"""Pipeline DuckDB connections (`perftiers.duck.connect`)."""

from __future__ import annotations

import subprocess
import sys

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
