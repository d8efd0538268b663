"""Start-up stays light: a command loads only the libraries it uses (issue 16).

Each case runs the real command in a fresh interpreter and reads `sys.modules` at its end, so
the check is about what was imported, not how long it took: deterministic on a busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

DATA_STACK = ("sqlalchemy", "duckdb", "pyarrow", "pyiceberg", "pandas", "fastapi", "starlette", "uvicorn", "httpx")
"""The libraries behind the data and the server: a help text needs none of them."""
SETTINGS = ("pydantic_settings",)
"""The settings loader (~0.15 s): loaded by the commands that read settings, not by `--help`."""

PROBE = """
import json, sys
from perftiers.cli import app
code = 0
try:
    app(sys.argv[1:], prog_name="perftiers")
except SystemExit as exit:
    code = exit.code or 0
print("\\nEXIT", code)
print("LOADED " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded_by(tmp_path, *args: str) -> set[str]:
    """The top-level modules imported once `perftiers --data-dir <tmp> *args` has run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}
    done = subprocess.run([sys.executable, "-c", PROBE, "--data-dir", str(tmp_path / "data"), *args],
                          capture_output=True, text=True, env=env, timeout=120)
    marker = [line for line in done.stdout.splitlines() if line.startswith("LOADED ")]
    assert marker, f"the probe did not finish:\n{done.stdout}\n{done.stderr}"
    assert "EXIT 0" in done.stdout.splitlines(), f"the command failed (a renamed command?):\n{done.stdout}\n{done.stderr}"
    if "--help" in args:
        assert "Usage:" in done.stdout, done.stdout
    return set(json.loads(marker[-1].removeprefix("LOADED ")))


def test_help_loads_neither_the_data_stack_nor_the_settings(tmp_path):
    heavy = loaded_by(tmp_path, "--help") & {*DATA_STACK, *SETTINGS}
    assert not heavy, f"`perftiers --help` imported {sorted(heavy)}: import them inside the commands that use them"


@pytest.mark.parametrize("command", [["sync", "--help"], ["webhooks", "add", "--help"],
                                     ["shopify", "push-tags", "--help"], ["token", "create", "--help"],
                                     ["history", "backfill", "--help"]])
def test_a_sub_command_help_loads_no_data_stack(tmp_path, command):
    heavy = loaded_by(tmp_path, *command) & set(DATA_STACK)
    assert not heavy, f"`perftiers {' '.join(command)}` imported {sorted(heavy)}"


def test_token_list_loads_the_metadata_db_only(tmp_path):
    loaded = loaded_by(tmp_path, "token", "list")
    assert "sqlalchemy" in loaded  # the probe really ran the command
    heavy = loaded & {"duckdb", "pyarrow", "pyiceberg", "pandas", "fastapi", "starlette", "uvicorn"}
    assert not heavy, f"`perftiers token list` imported {sorted(heavy)}"
