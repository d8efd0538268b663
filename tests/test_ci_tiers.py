"""In CI every tier runs: a missing real part fails the run instead of skipping its tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str, ci: bool, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**clean, **env, **({"CI": "true"} if ci else {})},
    )


@pytest.mark.parametrize("ci", [False, True], ids=["dev", "ci"])
def test_missing_chromium_skips_for_developers_and_fails_in_ci(ci, tmp_path):
    done = _pytest("tests/browser/test_auth.py", ci=ci, PERFTIERS_TEST_CHROMIUM=str(tmp_path / "no-chromium"))
    out = done.stdout + done.stderr
    if ci:
        assert done.returncode == 1, out
        assert "skipped in CI, where every tier must run" in out and "not installed" in out, out
    else:
        assert done.returncode == 0 and re.search(r"^\d+ skipped in ", out, re.M), out


@pytest.mark.parametrize("ci", [False, True], ids=["dev", "ci"])
def test_missing_postgresql_skips_for_developers_and_fails_in_ci(ci):
    dead = "postgresql://postgres@127.0.0.1:9/postgres"  # the discard port: nothing listens
    done = _pytest("tests/integration/test_postgres.py", "-x", ci=ci, PERFTIERS_TEST_POSTGRES=dead)
    out = done.stdout + done.stderr
    if ci:
        assert done.returncode == 1, out
        assert "PostgreSQL unreachable" in out, out
    else:
        assert done.returncode == 0 and re.search(r"^\d+ skipped in ", out, re.M), out
