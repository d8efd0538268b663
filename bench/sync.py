"""Sync throughput: `files` source from Parquet and from CSV, into a fresh data folder.

Each format is synced `rounds` times into a new data folder (the first sync of a store: every
line is written), then `rounds` times more into the last folder unchanged (the daily re-sync of
the same files: read, validate, compare, no commit). Baseline in the same run: DuckDB copying the same
order-lines file to zstd Parquet (reading and writing the data once, the I/O limit).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from bench import datasets
from bench.core import ChildResult, fmt_count, log, median, ratio, run_child


def _sync(home: Path, folder: Path) -> ChildResult:
    return run_child([sys.executable, "-m", "bench.children", "sync", str(home), "files", str(folder)])


def run(work: Path, products: int, lines: int, rounds: int) -> dict[str, Any]:
    store = datasets.build(work, products, lines, parquet=True, csv=True)
    out: dict[str, Any] = {"products": products, "order_lines": lines, "rounds": rounds,
                           "demo_sync": store.sync, "formats": {}}
    for fmt in ("parquet", "csv"):
        folder = store.root / fmt
        first: list[ChildResult] = []
        copies: list[ChildResult] = []
        home = work / f"sync-{fmt}-home"
        for r in range(rounds):
            if home.exists():
                shutil.rmtree(home)
            log(f"sync {fmt_count(lines)} lines from {fmt} (round {r + 1}/{rounds})")
            first.append(_sync(home, folder))
            copy_out = work / f"copy-{fmt}.parquet"
            copies.append(run_child([sys.executable, "-m", "bench.children", "duckdb-copy",
                                     str(folder / f"order_lines.{fmt}"), str(copy_out)]))
            copy_out.unlink(missing_ok=True)
        again: list[ChildResult] = []
        for r in range(rounds):
            log(f"re-sync {fmt_count(lines)} unchanged lines from {fmt} (round {r + 1}/{rounds})")
            again.append(_sync(home, folder))
        shutil.rmtree(home, ignore_errors=True)
        t_again = median([r.work_s for r in again])
        t_first, t_copy = median([r.work_s for r in first]), median([r.work_s for r in copies])
        counts = first[-1].report.get("counts") or {}
        out["formats"][fmt] = {
            "file_mb": round((folder / f"order_lines.{fmt}").stat().st_size / 1e6, 1),
            "first_sync": {"time_s": t_first, "cpu_s": median([r.cpu_s for r in first]),
                           "process_wall_s": median([r.wall_s for r in first]),
                           "peak_rss_mb": max(r.peak_rss_mb for r in first),
                           "lines_per_s": lines / t_first, "order_lines_written": counts.get("order_lines_written"),
                           "phases": first[-1].report.get("phases"), "runs": [r.summary() for r in first]},
            "unchanged_resync": {"time_s": t_again, "cpu_s": median([r.cpu_s for r in again]),
                                 "peak_rss_mb": max(r.peak_rss_mb for r in again), "lines_per_s": lines / t_again,
                                 "order_lines_written": max((r.report.get("counts") or {}).get("order_lines_written", 0)
                                                            for r in again),
                                 "phases": again[-1].report.get("phases"), "runs": [r.summary() for r in again]},
            "duckdb_copy": {"time_s": t_copy, "cpu_s": median([r.cpu_s for r in copies]),
                            "peak_rss_mb": max(r.peak_rss_mb for r in copies), "lines_per_s": lines / t_copy},
            "ratio_vs_duckdb_copy": ratio(t_first, t_copy),
        }
    return out
