"""Tier history (issue 13): a year of history's size, the backfill's time, one product's history over HTTP.

One store (the refresh bench's 100k products / 10M lines, reused from the same `--work` folder):

1. **A year of history.** The store's `measurement.tier_history` is dropped, then the real
   `perftiers history backfill` computes the first `days - daily` days of the year and `daily` real
   `perftiers refresh --as-of` runs (each its own process) the last days, one day after another,
   on the store's own sales: the table then holds a year of periods exactly as daily refreshes
   would have made it (tests/test_history.py checks backfill-then-refreshes equals refreshes from
   the start), with the churn of real tier computations. Measured: data files and bytes of the
   current snapshot, the table's folder on disk (every snapshot still kept), the rows against the
   product-days that daily copies would store, and that same year written as daily copies (zstd
   Parquet, the naive layout) as the baseline.
2. **Backfill vs refresh.** `rounds` interleaved rounds of one full refresh (as of the last day,
   a rerun) and a backfill of the `days` days before it, each its own process; medians, ratio.
3. **HTTP.** `perftiers serve --no-scheduler` on that store; the list endpoint (first page, as in
   bench/api.py) and one product's history over the whole year (`from`/`to`: timeline and daily
   series), the product being the list's first (a best seller: the most daily rows).

    python -m bench.history backfill HOME FROM TO     the measured child (jobs.backfill)
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import datasets
from bench.core import ChildResult, fmt_count, log, median, ratio, run_child


def _refresh(home: Path, day: date) -> ChildResult:
    return run_child([sys.executable, "-m", "bench.children", "refresh", str(home), day.isoformat()])


def _backfill(home: Path, start: date, end: date) -> ChildResult:
    return run_child([sys.executable, "-m", "bench.history", "backfill", str(home), start.isoformat(),
                      end.isoformat()])


def _drop_history(home: Path) -> None:
    """Start from no history (a `--work` store may hold an earlier run's)."""
    from perftiers.lakehouse import catalog
    from perftiers.settings import load_settings

    settings = load_settings(home=home)
    if catalog.load_existing(settings, catalog.TIER_HISTORY) is not None:
        catalog.catalog(settings).purge_table(catalog.TIER_HISTORY)


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def table_size(home: Path, last: date, days: int, products: int, baseline: bool = True) -> dict[str, Any]:
    """The tier history's current snapshot (data files, bytes, rows), its folder, and the baseline:
    the `days` up to `last` as daily copies (one row per product and day), zstd Parquet."""
    import duckdb

    from perftiers.lakehouse import catalog
    from perftiers.refresh import history
    from perftiers.settings import load_settings

    settings = load_settings(home=home)
    table = catalog.load(settings, catalog.TIER_HISTORY)
    files = table.inspect.files().to_pylist()
    data_files = [f for f in files if f["content"] == 0]
    location = Path(table.location().removeprefix("file://"))
    rows = sum(f["record_count"] for f in data_files)
    out: dict[str, Any] = {
        "data_files": len(data_files),
        "delete_files": len(files) - len(data_files),
        "data_bytes": sum(f["file_size_in_bytes"] for f in data_files),
        "rows": rows,
        "snapshots_kept": len(table.snapshots()),
        "folder_bytes": _folder_bytes(location),
        "product_days": days * products,
    }
    if not baseline:
        return out
    data = history.read(settings, catalog.current_snapshot_id(table))
    copies = home.parent / "history-daily-copies.parquet"
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    try:
        con.register("h", data)
        first = last - timedelta(days=days - 1)
        cols = ", ".join(history.STATE_COLUMNS)
        con.execute(f"""
            COPY (SELECT artifact_id, day::DATE AS day, {cols}
                  FROM h, generate_series(GREATEST(valid_from, DATE '{first}'),
                                          COALESCE(valid_to - 1, DATE '{last}'), INTERVAL 1 DAY) AS t(day)
                  ORDER BY artifact_id, day)
            TO '{copies}' (FORMAT parquet, COMPRESSION zstd)""")
        out["daily_copies_rows"] = con.execute(f"SELECT COUNT(*) FROM read_parquet('{copies}')").fetchone()[0]
    finally:
        con.close()
    out["daily_copies_bytes"] = copies.stat().st_size
    copies.unlink()
    out["bytes_vs_daily_copies"] = ratio(out["data_bytes"], out["daily_copies_bytes"])
    return out


def _http(home: Path, work: Path, first: date, last: date, budget: Any) -> dict[str, Any]:
    import httpx

    from bench import api

    token = api._token(home)
    log("history: starting perftiers serve")
    server = api.Server(home, work / "serve-history.log")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        top = httpx.get(f"{server.base}/api/performance-metrics", params={"pageSize": 1}, headers=headers,
                        timeout=300).json()
        artifact = top["items"][0]["artifact_id"]
        list_case = next(c for c in api.cases(top["total"]) if c["name"] == "list")
        history_case = {"name": "history", "path": f"/api/performance-metrics/{artifact}/history",
                        "params": {"from": first.isoformat(), "to": last.isoformat()}, "kind": "history"}
        out: dict[str, Any] = {"artifact_id": artifact, "from": first.isoformat(), "to": last.isoformat()}
        for case in (list_case, history_case, list_case | {"name": "list_again"}):
            log(f"history: {case['name']} over HTTP")
            out[case["name"]] = asyncio.run(api._http_case(server.base, token, case, budget))
    finally:
        server.stop()
    lists = [out["list"]["c1"]["median_ms"], out["list_again"]["c1"]["median_ms"]]
    out["list_median_ms"] = median(lists)
    out["ratio_history_over_list"] = ratio(out["history"]["c1"]["median_ms"], out["list_median_ms"])
    return out


def _times(runs: list[ChildResult]) -> dict[str, Any]:
    return {"time_s": median([r.work_s for r in runs]), "cpu_s": median([r.cpu_s for r in runs]),
            "peak_rss_mb": max(r.peak_rss_mb for r in runs), "runs": [r.summary() for r in runs]}


def run(work: Path, products: int, lines: int, days: int, daily: int, rounds: int, budget: Any) -> dict:
    store = datasets.build(work, products, lines)
    home, last = store.home, date.fromisoformat(datasets.END_DATE)
    first = last - timedelta(days=days - 1)
    out: dict[str, Any] = {"products": products, "order_lines": lines, "days": days, "daily_refreshes": daily,
                           "rounds": rounds, "from": first.isoformat(), "to": last.isoformat()}

    log(f"history: a year = backfill {days - daily} days + {daily} daily refreshes ({store.label})")
    _drop_history(home)
    year_backfill = _backfill(home, first, last - timedelta(days=daily))
    refreshes = [_refresh(home, last - timedelta(days=daily - 1 - i)) for i in range(daily)]
    out["year"] = {"backfill": year_backfill.summary(), "daily_refreshes": [r.summary() for r in refreshes],
                   **table_size(home, last, days, products)}

    backfills: list[ChildResult] = []
    full: list[ChildResult] = []
    for r in range(rounds):
        log(f"history: refresh vs backfill of {days} days (round {r + 1}/{rounds})")
        full.append(_refresh(home, last))
        backfills.append(_backfill(home, last - timedelta(days=days), last - timedelta(days=1)))
    out["refresh"], out["backfill"] = _times(full), _times(backfills)
    out["backfill"]["phases"] = backfills[-1].report.get("phases")
    out["backfill"]["counts"] = backfills[-1].report.get("counts")
    out["ratio_backfill_over_refresh"] = ratio(out["backfill"]["time_s"], out["refresh"]["time_s"])
    out["after_rounds"] = table_size(home, last, days, products, baseline=False)

    out["http"] = _http(home, work, first, last, budget)
    return out


# -- the child -------------------------------------------------------------------------------------

def backfill_child(home: str, start: str, end: str) -> dict[str, Any]:
    import perftiers.refresh.backfill  # noqa: F401  (imported before the clock starts)
    from bench.children import Phases
    from perftiers.pipeline import jobs
    from perftiers.settings import load_settings

    settings = load_settings(home=home)
    phases = Phases()
    record = jobs.backfill(settings, trigger="cli", start=date.fromisoformat(start), end=date.fromisoformat(end),
                           progress=phases)
    if record.get("status") != "succeeded":
        raise SystemExit(f"backfill {record.get('status')}: {record.get('error')}")
    return {**phases.finish(), "counts": record.get("counts"), "job_duration_ms": record.get("duration_ms")}


if __name__ == "__main__":
    import json

    if len(sys.argv) != 5 or sys.argv[1] != "backfill":
        sys.exit(__doc__)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(json.dumps(backfill_child(*sys.argv[2:])))
