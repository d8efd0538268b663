"""Shared helpers of the reliability tests: the CLI as a subprocess (exit code, output, peak RSS),
a small fixed demo store, and table contents compared as sorted Arrow.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from perftiers.lakehouse import catalog
from perftiers.settings import Settings, load_settings
from tests.serve import perftiers_command

DEMO = {"demo_products": 200, "demo_order_lines": 20_000, "demo_seed": 42}
"""A small demo store: a sync or refresh of it takes about a second of CPU."""

KEYS = {
    catalog.PRODUCTS: ["artifact_id"],
    catalog.ORDER_LINES: ["line_id"],
    catalog.PERFORMANCE: ["artifact_id"],
    catalog.DAILY_SALES: ["artifact_id", "day"],
    catalog.TIER_HISTORY: ["artifact_id", "valid_from"],
}
VOLATILE = ("refreshed_at",)
"""Columns that differ between two otherwise equal runs."""


def settings_for(home: Path, **extra: Any) -> Settings:
    return load_settings(home=home, **{**DEMO, **extra})


def cli_env(settings_overrides: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a `perftiers` subprocess: no inherited PERFTIERS_*, the demo store's size."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFTIERS_")}
    for key, value in {**DEMO, **(settings_overrides or {})}.items():
        env[f"PERFTIERS_{key.upper()}"] = str(value)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class CliResult:
    returncode: int
    output: str
    max_rss_mb: float
    seconds: float

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def run_cli(home: Path, args: list[str], env: dict[str, str], *, timeout: float = 120) -> CliResult:
    """Run `perftiers --data-dir home *args`; its exit code, stdout+stderr and peak RSS (os.wait4)."""
    log = home.parent / f".cli-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}.log"
    home.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen([*perftiers_command(), "--data-dir", str(home), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    timer = threading.Timer(timeout, lambda: proc.kill())
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    log.unlink()
    return CliResult(proc.returncode, output, usage.ru_maxrss / 1024, time.monotonic() - t0)


def table_state(settings: Settings, ident: tuple[str, str]) -> pa.Table | None:
    """The table's rows at its current snapshot, sorted by key, without volatile columns (None: absent)."""
    table = catalog.load_existing(settings, ident)
    if table is None:
        return None
    data = table.scan().to_arrow()
    data = data.drop_columns([c for c in VOLATILE if c in data.column_names])
    return data.sort_by([(k, "ascending") for k in KEYS[ident]]).combine_chunks()


def same(a: pa.Table | None, b: pa.Table | None) -> bool:
    if a is None or b is None:
        return (a is None or a.num_rows == 0) and (b is None or b.num_rows == 0)
    return a.equals(b)
