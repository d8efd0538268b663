"""Start-up (issue 16): whole commands as a user runs them, imports included, beside baselines.

Five commands in their own processes, interleaved in rounds so load from other processes hits
them alike (medians):

- `python -c pass` and `python -c "import typer"`: the floor, the interpreter and the CLI framework;
- `perftiers --help` and `perftiers token list` (light commands: no data stack);
- `perftiers refresh` on a folder `perftiers demo` filled (2,000 products by default): the whole
  command against the work inside it (the run record's `duration_ms`), the rest being start-up.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.core import PERFTIERS, ChildResult, log, median, ratio, run_child

BASELINES = {
    "python": [sys.executable, "-c", "pass"],
    "import_typer": [sys.executable, "-c", "import typer"],
}


def _demo(home: Path, products: int, order_lines: int) -> None:
    """A demo store (`perftiers demo`; reused when `--work` kept it)."""
    if (home / "catalog.db").exists():
        return
    log(f"startup: demo store of {products:,} products / {order_lines:,} order lines in {home}")
    run_child([*PERFTIERS, "--data-dir", str(home), "demo", "--products", str(products),
               "--order-lines", str(order_lines)])


def _refresh_work_s(home: Path, runs: int) -> list[float]:
    """The work inside the last `runs` refreshes (their run records' duration), in seconds."""
    from perftiers.pipeline.runs import telemetry
    from perftiers.settings import load_settings

    records = telemetry(load_settings(home=home)).list(limit=runs, kind="refresh")
    return [r["duration_ms"] / 1000 for r in records if r.get("status") == "succeeded"]


def _times(runs: list[ChildResult]) -> dict[str, Any]:
    return {"wall_s": median([r.wall_s for r in runs]), "cpu_s": median([r.cpu_s for r in runs]),
            "peak_rss_mb": median([r.peak_rss_mb for r in runs]), "runs_wall_s": [r.wall_s for r in runs]}


def run(work: Path, products: int, order_lines: int, rounds: int) -> dict[str, Any]:
    home = work / f"startup-demo-{products}-{order_lines}"
    _demo(home, products, order_lines)
    commands = {
        **BASELINES,
        "help": [*PERFTIERS, "--help"],
        "token_list": [*PERFTIERS, "--data-dir", str(home), "token", "list"],
        "refresh": [*PERFTIERS, "--data-dir", str(home), "refresh"],
    }
    runs: dict[str, list[ChildResult]] = {name: [] for name in commands}
    for name, argv in commands.items():  # one unmeasured warm-up each (file cache, .pyc)
        run_child(argv)
    for i in range(rounds):
        log(f"startup: round {i + 1}/{rounds}")
        for name, argv in commands.items():
            runs[name].append(run_child(argv))
    out: dict[str, Any] = {"products": products, "order_lines": order_lines, "rounds": rounds,
                           "commands": {name: _times(r) for name, r in runs.items()}}
    c = out["commands"]
    work_s = median(_refresh_work_s(home, rounds))
    c["refresh"]["work_s"] = work_s
    c["refresh"]["startup_s"] = c["refresh"]["wall_s"] - work_s  # imports, settings, catalog open, exit
    for name in ("help", "token_list", "refresh"):
        c[name]["ratio_vs_python"] = ratio(c[name]["wall_s"], c["python"]["wall_s"])
        c[name]["ratio_vs_import_typer"] = ratio(c[name]["wall_s"], c["import_typer"]["wall_s"])
    return out
