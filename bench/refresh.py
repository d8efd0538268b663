"""Mart refresh: perftiers vs one hand-written DuckDB SQL vs pandas, at each order-line count.

Per size, `rounds` rounds each run the three programs once in turn (so machine noise hits all
programs alike); each run is its own process: time of the work (after imports), CPU time (wait4)
and peak RSS (the process's VmHWM). Medians over rounds. Then the outputs are compared row by row, so a ratio is only
reported for programs that computed the same thing.
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import datasets
from bench.core import ChildResult, fmt_count, log, median, ratio, run_child

PROGRAMS = ("perftiers", "duckdb_sql", "duckdb_sql_both", "pandas")
BASELINE_COMMANDS = {"duckdb_sql": "duckdb-sql", "duckdb_sql_both": "duckdb-sql-both", "pandas": "pandas"}
METRICS = ("sales_first_7_days", "sales_first_14_days", "sales_last_30_days", "aggregate_measurement_value",
           "revenue_last_30_days", "lifetime_revenue", "launch_date", "is_top_riser", "is_winner", "is_banana",
           "is_archive", "nominal_classification")


def _spec(home: Path) -> dict[str, int]:
    from perftiers.metadata import artifacts
    from perftiers.metadata.db import engine_for
    from perftiers.settings import load_settings

    _, spec = artifacts.current_spec(engine_for(load_settings(home=home).resolved_database_url))
    return spec.model_dump()


def _argv(program: str, store: datasets.Store, out: Path, spec: dict[str, int]) -> list[str]:
    base = [sys.executable, "-m", "bench.children"]
    if program == "perftiers":
        return [*base, "refresh", str(store.home), datasets.END_DATE, "full"]
    return [*base, BASELINE_COMMANDS[program], str(store.parquet), str(out), datasets.END_DATE, "UTC", json.dumps(spec)]


def _summarise(runs: list[ChildResult]) -> dict[str, Any]:
    return {
        "time_s": median([r.work_s for r in runs]),
        "cpu_s": median([r.cpu_s for r in runs]),
        "process_wall_s": median([r.wall_s for r in runs]),
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "runs": [r.summary() for r in runs],
    }


def compare(store: datasets.Store, outputs: dict[str, Path]) -> dict[str, Any]:
    """Rows of each baseline output whose metrics or flags differ from measurement.performance."""
    import duckdb

    from perftiers.lakehouse import catalog
    from perftiers.settings import load_settings

    perf = catalog.load(load_settings(home=store.home), catalog.PERFORMANCE).scan(
        selected_fields=("artifact_id", *METRICS)).to_arrow()
    con = duckdb.connect()
    con.register("perf", perf)
    result: dict[str, Any] = {}
    for program, path in outputs.items():
        # pandas computes money in float64: compare revenue to the cent there, exactly elsewhere
        tol = "0.005" if program == "pandas" else "0"
        checks = []
        for m in METRICS:
            if m.startswith("revenue") or m == "lifetime_revenue":
                checks.append(f"COUNT(*) FILTER (WHERE abs(CAST(p.{m} AS DOUBLE) - CAST(b.{m} AS DOUBLE)) > {tol} "
                              f"OR (p.{m} IS NULL) <> (b.{m} IS NULL)) AS {m}")
            elif m == "launch_date":
                checks.append(f"COUNT(*) FILTER (WHERE p.{m} IS DISTINCT FROM CAST(b.{m} AS DATE)) AS {m}")
            else:
                checks.append(f"COUNT(*) FILTER (WHERE p.{m} IS DISTINCT FROM b.{m}) AS {m}")
        any_diff = " OR ".join(
            f"abs(CAST(p.{m} AS DOUBLE) - CAST(b.{m} AS DOUBLE)) > {tol}" if "revenue" in m
            else f"p.{m} IS DISTINCT FROM CAST(b.{m} AS DATE)" if m == "launch_date"
            else f"p.{m} IS DISTINCT FROM b.{m}"
            for m in METRICS
        )
        row = con.execute(
            f"SELECT COUNT(*) AS rows, COUNT(*) FILTER (WHERE p.artifact_id IS NULL OR b.artifact_id IS NULL "
            f"OR {any_diff}) AS mismatched_rows, {', '.join(checks)} "
            f"FROM perf p FULL JOIN read_parquet('{path}') b USING (artifact_id)"
        ).fetchone()
        names = ["rows", "mismatched_rows", *METRICS]
        d = dict(zip(names, (int(v) for v in row)))
        result[program] = {"rows": d["rows"], "mismatched_rows": d["mismatched_rows"],
                           "columns": {m: d[m] for m in METRICS if d[m]}}
        daily_path = Path(f"{path}.daily.parquet")
        if daily_path.exists():  # the like-for-like baseline also wrote measurement.daily_sales' rows
            con.register("daily", catalog.load(load_settings(home=store.home), catalog.DAILY_SALES).scan().to_arrow())
            rows, bad = con.execute(
                f"SELECT COUNT(*), COUNT(*) FILTER (WHERE p.artifact_id IS NULL OR b.artifact_id IS NULL "
                f"OR p.net_units <> b.net_units OR p.revenue <> b.revenue OR p.orders <> b.orders) "
                f"FROM daily p FULL JOIN read_parquet('{daily_path}') b USING (artifact_id, day)").fetchone()
            result[program]["daily_sales"] = {"rows": int(rows), "mismatched_rows": int(bad)}
            con.unregister("daily")
    return result


def run(work: Path, products: int, sizes: list[int], rounds: int, programs: tuple[str, ...] = PROGRAMS) -> dict:
    out: dict[str, Any] = {"products": products, "rounds": rounds, "sizes": []}
    for lines in sizes:
        store = datasets.build(work, products, lines, parquet=True)
        spec = _spec(store.home)
        outputs = {p: store.root / f"out-{p}.parquet" for p in programs if p != "perftiers"}
        runs: dict[str, list[ChildResult]] = {p: [] for p in programs}
        for r in range(rounds):
            for program in programs:
                log(f"refresh {fmt_count(lines)} lines: {program} (round {r + 1}/{rounds})")
                runs[program].append(run_child(_argv(program, store, outputs.get(program, Path()), spec)))
        entry: dict[str, Any] = {
            "order_lines": lines, "products": products, "spec": spec, "as_of": datasets.END_DATE,
            "demo_sync": store.sync,
            **{p: _summarise(runs[p]) for p in programs},
        }
        entry["perftiers"]["phases"] = _median_phases(runs["perftiers"])
        entry["perftiers"]["counts"] = runs["perftiers"][-1].report.get("counts")
        for p in programs:
            if p != "perftiers":
                entry[f"ratio_vs_{p}"] = {
                    "time": ratio(entry["perftiers"]["time_s"], entry[p]["time_s"]),
                    "cpu": ratio(entry["perftiers"]["cpu_s"], entry[p]["cpu_s"]),
                    "peak_rss": ratio(entry["perftiers"]["peak_rss_mb"], entry[p]["peak_rss_mb"]),
                }
        entry["agreement"] = compare(store, outputs)
        entry["incremental"] = incremental(work, products, lines, rounds, runs["duckdb_sql"] if "duckdb_sql" in runs else [])
        out["sizes"].append(entry)
    out["growth"] = _growth(out["sizes"], programs)
    return out


def _day_of_orders(store: datasets.Store, day: date, folder: Path) -> int:
    """A `files` source folder whose order lines are a new day of orders: the last day's lines
    moved to `day` under new ids (products unchanged)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    last = date.fromisoformat(datasets.END_DATE)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM '{store.parquet}/products.parquet') TO '{folder}/products.parquet' (COMPRESSION zstd)")
    shift = (day - last).days
    con.execute(
        f"COPY (SELECT * REPLACE (order_id || '-d{shift}' AS order_id, line_id || '-d{shift}' AS line_id, "
        f"ordered_at + INTERVAL {shift} DAY AS ordered_at) FROM '{store.parquet}/order_lines.parquet' "
        f"WHERE CAST(timezone('UTC', ordered_at) AS DATE) = DATE '{last.isoformat()}') "
        f"TO '{folder}/order_lines.parquet' (COMPRESSION zstd)"
    )
    return con.execute(f"SELECT COUNT(*) FROM '{folder}/order_lines.parquet'").fetchone()[0]


def incremental(work: Path, products: int, lines: int, rounds: int, baseline: list[ChildResult]) -> dict[str, Any]:
    """The daily case on a copy of the store: a sync that adds the next day's orders, then a refresh
    as of that day (incremental: only that day's daily sales are computed), `rounds` days in a row.
    Whole processes, imports included, against the hand-written full query's whole process."""
    store = datasets.build(work, products, lines, parquet=True, refresh=True, copy="daily")
    out: dict[str, Any] = {"rounds": []}
    try:
        for r in range(rounds):
            day = date.fromisoformat(datasets.END_DATE) + timedelta(days=r + 1)
            added = _day_of_orders(store, day, store.root / f"day-{r + 1}")
            log(f"incremental refresh {fmt_count(lines)} lines: sync of {added:,} new lines, refresh as of {day}")
            synced = run_child([sys.executable, "-m", "bench.children", "sync", str(store.home), "files",
                                str(store.root / f"day-{r + 1}")])
            refreshed = run_child([sys.executable, "-m", "bench.children", "refresh", str(store.home), day.isoformat()])
            out["rounds"].append({"day": day.isoformat(), "lines_added": added, "sync": synced.summary(),
                                  "refresh": refreshed.summary(), "phases": refreshed.report.get("phases"),
                                  "daily_sales": refreshed.report.get("daily_sales")})
    finally:
        shutil.rmtree(store.root, ignore_errors=True)  # its reference date moved on: build it afresh next time
    refresh_runs = [r["refresh"] for r in out["rounds"]]
    out["refresh_process_wall_s"] = median([r["wall_s"] for r in refresh_runs])
    out["refresh_work_s"] = median([r["work_s"] for r in refresh_runs])
    out["refresh_peak_rss_mb"] = max(r["peak_rss_mb"] for r in refresh_runs)
    out["sync_process_wall_s"] = median([r["sync"]["wall_s"] for r in out["rounds"]])
    if baseline:
        out["baseline_process_wall_s"] = median([b.wall_s for b in baseline])
        out["ratio_vs_duckdb_sql_process"] = ratio(out["refresh_process_wall_s"], out["baseline_process_wall_s"])
    return out


def _median_phases(runs: list[ChildResult]) -> list[dict[str, Any]]:
    steps = [p["step"] for p in runs[0].report.get("phases", [])]
    phases = []
    for step in steps:
        rows = [p for r in runs for p in r.report.get("phases", []) if p["step"] == step]
        phases.append({"step": step, "wall_s": median([p["wall_s"] for p in rows]),
                       "cpu_s": median([p["cpu_s"] for p in rows]),
                       "peak_rss_mb": max(p["peak_rss_mb"] for p in rows)})
    return phases


def _growth(entries: list[dict[str, Any]], programs: tuple[str, ...]) -> list[dict[str, Any]]:
    """Time at each size relative to the smallest size, next to the growth in lines."""
    if len(entries) < 2:
        return []
    first = entries[0]
    return [
        {"from_lines": first["order_lines"], "to_lines": e["order_lines"],
         "lines_factor": e["order_lines"] / first["order_lines"],
         **{f"{p}_time_factor": ratio(e[p]["time_s"], first[p]["time_s"]) for p in programs}}
        for e in entries[1:]
    ]
