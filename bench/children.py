"""The measured programs, each run in its own process so its peak RSS and CPU time are its own.

    python -m bench.children refresh HOME AS_OF            perftiers' mart refresh (jobs.refresh)
    python -m bench.children sync HOME SOURCE [PATH]       perftiers' sync (jobs.sync)
    python -m bench.children duckdb-sql DATA OUT AS_OF TZ SPEC   the hand-written DuckDB SQL
    python -m bench.children duckdb-sql-both DATA OUT AS_OF TZ SPEC   the same, also writing daily sales
    python -m bench.children pandas DATA OUT AS_OF TZ SPEC       the straightforward pandas version
    python -m bench.children duckdb-copy SRC OUT                 Parquet/CSV -> Parquet (zstd) copy

Each prints one JSON line last: `work_s` (the work, after imports), and per-phase timings where
the program reports progress. SPEC is the classification_spec body as JSON. DATA is a folder with
`products.parquet` and `order_lines.parquet`.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from datetime import date
from typing import Any


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


class Phases:
    """progress(step, ...) recorder: wall, CPU and peak RSS (polled every 20 ms) per step."""

    def __init__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), _cpu()
        self.marks: list[tuple[str, float, float]] = []
        self.peaks: dict[str, float] = {}
        self.current = "start"
        self._stop = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            rss = _rss_mb()
            self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), rss)
            self._stop.wait(0.02)

    def __call__(self, step: str, done: int | None = None, total: int | None = None) -> None:
        if self.marks and self.marks[-1][0] == step:
            return
        self.marks.append((step, time.perf_counter() - self.t0, _cpu() - self.c0))
        self.current = step

    def finish(self) -> dict[str, Any]:
        end, cend = time.perf_counter() - self.t0, _cpu() - self.c0
        self._stop.set()
        marks = [("start", 0.0, 0.0), *self.marks, ("end", end, cend)]
        phases = [
            {"step": step, "wall_s": round(marks[i + 1][1] - t, 3), "cpu_s": round(marks[i + 1][2] - c, 3),
             "peak_rss_mb": round(self.peaks.get(step, 0.0), 1)}
            for i, (step, t, c) in enumerate(marks[:-1])
        ]
        return {"work_s": round(end, 4), "work_cpu_s": round(cend, 3), "phases": phases}


# -- perftiers ---------------------------------------------------------------------------------------

def refresh(home: str, as_of: str, mode: str = "auto") -> dict[str, Any]:
    """`mode` full: rebuild the daily sales from every line (`perftiers refresh --full`)."""
    import perftiers.refresh.mart  # noqa: F401  (imported before the clock starts, like the baselines' duckdb)
    from perftiers.pipeline import jobs
    from perftiers.settings import load_settings

    settings = load_settings(home=home)
    phases = Phases()
    record = jobs.refresh(settings, trigger="cli", as_of=date.fromisoformat(as_of), full=mode == "full",
                          progress=phases)
    return {**phases.finish(), "counts": record.get("counts"), "spec_version": record.get("spec_version"),
            "daily_sales": record.get("daily_sales"),
            "job_duration_ms": record.get("duration_ms")}


def sync(home: str, source: str, path: str | None = None) -> dict[str, Any]:
    import perftiers.sync  # noqa: F401
    from perftiers.pipeline import jobs
    from perftiers.settings import load_settings
    from perftiers.sources import make_source

    make_source(load_settings(home=home), source, path)  # imports the source's module

    settings = load_settings(home=home)
    phases = Phases()
    record = jobs.sync(settings, trigger="cli", source=source, path=path, progress=phases)
    return {**phases.finish(), "counts": record.get("counts"), "job_duration_ms": record.get("duration_ms")}


# -- baselines ---------------------------------------------------------------------------------------

def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _tiers_and_copy_sql(spec: dict[str, int], out: str) -> str:
    """The hand-written tier rules over a `metrics` CTE, and the COPY to `out` (shared by both baselines)."""
    t = {k: int(v) for k, v in spec.items()}
    return f"""flagged AS (
        SELECT *,
               sales_first_7_days >= {t['top_riser_7_day_threshold']}
                   OR sales_first_14_days >= {t['top_riser_14_day_threshold']} AS is_top_riser,
               sales_last_30_days >= {t['winner_30_day_threshold']} AS is_winner,
               ROW_NUMBER() OVER (ORDER BY aggregate_measurement_value, artifact_id)
                   <= {t['banana_count']} AS is_banana,
               NOT is_active AND sales_last_30_days = 0 AS is_archive
        FROM metrics
      )
      SELECT *, CASE WHEN is_top_riser THEN 'top_riser' WHEN is_winner THEN 'winner'
                     WHEN is_banana THEN 'banana' WHEN is_archive THEN 'archive_candidate'
                     ELSE 'none' END AS nominal_classification
      FROM flagged ORDER BY artifact_id
    ) TO {_lit(out)} (FORMAT parquet, COMPRESSION zstd)"""


def baseline_sql(data: str, out: str, as_of: str, tz: str, spec: dict[str, int]) -> str:
    """One hand-written DuckDB statement: SPEC's metrics and tiers from the Parquet files, written
    as Parquet. What someone who knows DuckDB would write for this job (the practical limit)."""
    return f"""
    COPY (
      WITH lines AS (
        SELECT artifact_id, cancelled,
               CAST(timezone({_lit(tz)}, ordered_at) AS DATE) AS day,
               CASE WHEN cancelled THEN 0 ELSE quantity - refunded_quantity END AS units,
               CASE WHEN cancelled THEN 0 ELSE (quantity - refunded_quantity) * unit_price - discount END
                   AS revenue
        FROM read_parquet({_lit(data + '/order_lines.parquet')})
        WHERE CAST(timezone({_lit(tz)}, ordered_at) AS DATE) <= DATE {_lit(as_of)}
      ),
      first_sale AS (SELECT artifact_id, MIN(day) AS first_day FROM lines WHERE NOT cancelled GROUP BY 1),
      products AS (
        SELECT p.*, COALESCE(CAST(timezone({_lit(tz)}, p.launched_at) AS DATE), f.first_day) AS launch_date
        FROM read_parquet({_lit(data + '/products.parquet')}) p LEFT JOIN first_sale f USING (artifact_id)
      ),
      sums AS (
        SELECT l.artifact_id,
               SUM(l.units) FILTER (WHERE l.day BETWEEN p.launch_date AND p.launch_date + 6) AS s7,
               SUM(l.units) FILTER (WHERE l.day BETWEEN p.launch_date AND p.launch_date + 13) AS s14,
               SUM(l.units) FILTER (WHERE l.day >= DATE {_lit(as_of)} - 29) AS s30,
               SUM(l.units) AS lifetime,
               SUM(l.revenue) FILTER (WHERE l.day >= DATE {_lit(as_of)} - 29) AS r30,
               SUM(l.revenue) AS rlife
        FROM lines l JOIN products p USING (artifact_id)
        GROUP BY 1
      ),
      metrics AS (
        SELECT p.*,
               COALESCE(s.s7, 0)::BIGINT AS sales_first_7_days,
               COALESCE(s.s14, 0)::BIGINT AS sales_first_14_days,
               COALESCE(s.s30, 0)::BIGINT AS sales_last_30_days,
               COALESCE(s.lifetime, 0)::BIGINT AS aggregate_measurement_value,
               COALESCE(s.r30, 0)::DECIMAL(18, 4) AS revenue_last_30_days,
               COALESCE(s.rlife, 0)::DECIMAL(18, 4) AS lifetime_revenue
        FROM products p LEFT JOIN sums s USING (artifact_id)
      ),
      {_tiers_and_copy_sql(spec, out)}
    """


def both_outputs_sql(data: str, out: str, as_of: str, tz: str, spec: dict[str, int]) -> list[str]:
    """Hand-written DuckDB SQL for both outputs of the refresh: `<out>.daily.parquet` (per artifact
    and day: net units, net revenue, distinct non-cancelled orders, as measurement.daily_sales)
    and `<out>` (the metrics and tiers, computed from those daily rows). Like for like."""
    d = _lit(as_of)
    return [
        f"""CREATE TABLE daily AS
            SELECT artifact_id, CAST(timezone({_lit(tz)}, ordered_at) AS DATE) AS day,
                   SUM(CASE WHEN cancelled THEN 0 ELSE quantity - refunded_quantity END)::BIGINT AS net_units,
                   SUM(CASE WHEN cancelled THEN 0 ELSE (quantity - refunded_quantity) * unit_price - discount END)
                       ::DECIMAL(18, 4) AS revenue,
                   COUNT(DISTINCT order_id) FILTER (WHERE NOT cancelled)::BIGINT AS orders
            FROM read_parquet({_lit(data + '/order_lines.parquet')})
            WHERE CAST(timezone({_lit(tz)}, ordered_at) AS DATE) <= DATE {d}
            GROUP BY ALL""",
        f"COPY (SELECT * FROM daily ORDER BY artifact_id, day) TO {_lit(out + '.daily.parquet')} "
        "(FORMAT parquet, COMPRESSION zstd)",
        f"""COPY (
          WITH products AS (
            SELECT p.*, COALESCE(CAST(timezone({_lit(tz)}, p.launched_at) AS DATE), f.first_day) AS launch_date
            FROM read_parquet({_lit(data + '/products.parquet')}) p
            LEFT JOIN (SELECT artifact_id, MIN(day) AS first_day FROM daily WHERE orders > 0 GROUP BY 1) f
            USING (artifact_id)
          ),
          metrics AS (
            SELECT p.*,
              COALESCE(SUM(d.net_units) FILTER (WHERE d.day BETWEEN p.launch_date AND p.launch_date + 6), 0)
                  ::BIGINT AS sales_first_7_days,
              COALESCE(SUM(d.net_units) FILTER (WHERE d.day BETWEEN p.launch_date AND p.launch_date + 13), 0)
                  ::BIGINT AS sales_first_14_days,
              COALESCE(SUM(d.net_units) FILTER (WHERE d.day >= DATE {d} - 29), 0)::BIGINT AS sales_last_30_days,
              COALESCE(SUM(d.net_units), 0)::BIGINT AS aggregate_measurement_value,
              COALESCE(SUM(d.revenue) FILTER (WHERE d.day >= DATE {d} - 29), 0)::DECIMAL(18, 4)
                  AS revenue_last_30_days,
              COALESCE(SUM(d.revenue), 0)::DECIMAL(18, 4) AS lifetime_revenue
            FROM products p LEFT JOIN daily d USING (artifact_id)
            GROUP BY ALL
          ),
          {_tiers_and_copy_sql(spec, out)}""",
    ]


def duckdb_sql_both(data: str, out: str, as_of: str, tz: str, spec_json: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    statements = both_outputs_sql(data, out, as_of, tz, json.loads(spec_json))
    t0, c0 = time.perf_counter(), _cpu()
    for sql in statements:
        con.execute(sql)
    return {"work_s": round(time.perf_counter() - t0, 4), "work_cpu_s": round(_cpu() - c0, 3)}


def duckdb_sql(data: str, out: str, as_of: str, tz: str, spec_json: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    sql = baseline_sql(data, out, as_of, tz, json.loads(spec_json))
    t0, c0 = time.perf_counter(), _cpu()
    con.execute(sql)
    return {"work_s": round(time.perf_counter() - t0, 4), "work_cpu_s": round(_cpu() - c0, 3)}


def pandas_impl(data: str, out: str, as_of: str, tz: str, spec_json: str) -> dict[str, Any]:
    """SPEC's metrics with plain pandas: read, derive columns, filter, groupby, merge, write.

    Decimal money is read as float64 (pandas has no fast decimal; the usual choice).
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = json.loads(spec_json)
    t0, c0 = time.perf_counter(), _cpu()
    columns = ["ordered_at", "artifact_id", "quantity", "refunded_quantity", "unit_price", "discount", "cancelled"]
    table = pq.read_table(f"{data}/order_lines.parquet", columns=columns)
    for name in ("unit_price", "discount"):
        table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(pa.float64()))
    lines = table.to_pandas()
    del table
    products = pd.read_parquet(f"{data}/products.parquet")

    D = pd.Timestamp(as_of)
    lines["day"] = lines["ordered_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    lines = lines[lines["day"] <= D]
    live = ~lines["cancelled"]
    net = lines["quantity"] - lines["refunded_quantity"]
    lines["units"] = net.where(live, 0)
    lines["revenue"] = (net * lines["unit_price"] - lines["discount"]).where(live, 0.0)

    first = lines[live].groupby("artifact_id")["day"].min().rename("first_day")
    p = products.merge(first, left_on="artifact_id", right_index=True, how="left")
    launched = p["launched_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    p["launch_date"] = launched.fillna(p["first_day"])

    l = lines[["artifact_id", "day", "units", "revenue"]].merge(p[["artifact_id", "launch_date"]], on="artifact_id")
    age = (l["day"] - l["launch_date"]).dt.days
    recent = l["day"] >= D - pd.Timedelta(days=29)
    l["u7"] = l["units"].where((age >= 0) & (age <= 6), 0)
    l["u14"] = l["units"].where((age >= 0) & (age <= 13), 0)
    l["u30"] = l["units"].where(recent, 0)
    l["r30"] = l["revenue"].where(recent, 0.0)
    sums = l.groupby("artifact_id").agg(
        sales_first_7_days=("u7", "sum"), sales_first_14_days=("u14", "sum"),
        sales_last_30_days=("u30", "sum"), aggregate_measurement_value=("units", "sum"),
        revenue_last_30_days=("r30", "sum"), lifetime_revenue=("revenue", "sum"))
    m = p.drop(columns=["first_day"]).merge(sums, left_on="artifact_id", right_index=True, how="left")
    for c in sums.columns:
        m[c] = m[c].fillna(0)
    for c in ("sales_first_7_days", "sales_first_14_days", "sales_last_30_days", "aggregate_measurement_value"):
        m[c] = m[c].astype("int64")

    m = m.sort_values(["aggregate_measurement_value", "artifact_id"], kind="stable")
    m["is_banana"] = np.arange(len(m)) < int(spec["banana_count"])
    m["is_top_riser"] = ((m["sales_first_7_days"] >= spec["top_riser_7_day_threshold"])
                         | (m["sales_first_14_days"] >= spec["top_riser_14_day_threshold"]))
    m["is_winner"] = m["sales_last_30_days"] >= spec["winner_30_day_threshold"]
    m["is_archive"] = ~m["is_active"] & (m["sales_last_30_days"] == 0)
    m["nominal_classification"] = np.select(
        [m["is_top_riser"], m["is_winner"], m["is_banana"], m["is_archive"]],
        ["top_riser", "winner", "banana", "archive_candidate"], default="none")
    m = m.sort_values("artifact_id")
    m["launch_date"] = m["launch_date"].dt.date
    m.to_parquet(out, index=False)
    return {"work_s": round(time.perf_counter() - t0, 4), "work_cpu_s": round(_cpu() - c0, 3)}


def duckdb_copy(src: str, out: str) -> dict[str, Any]:
    """The I/O limit of a sync: read the order lines (Parquet or CSV) and write them as Parquet."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    reader = f"read_csv({_lit(src)})" if src.endswith(".csv") else f"read_parquet({_lit(src)})"
    t0, c0 = time.perf_counter(), _cpu()
    con.execute(f"COPY (SELECT * FROM {reader}) TO {_lit(out)} (FORMAT parquet, COMPRESSION zstd)")
    return {"work_s": round(time.perf_counter() - t0, 4), "work_cpu_s": round(_cpu() - c0, 3)}


COMMANDS = {
    "refresh": refresh,
    "sync": sync,
    "duckdb-sql": duckdb_sql,
    "duckdb-sql-both": duckdb_sql_both,
    "pandas": pandas_impl,
    "duckdb-copy": duckdb_copy,
}


def _vm_hwm_mb() -> float | None:
    """This process's peak RSS since exec (the kernel's VmHWM). Not ru_maxrss: after fork + exec
    that starts at the parent's RSS, so a child of a big parent would report the parent's size."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        sys.exit(__doc__)
    result = COMMANDS[argv[0]](*argv[1:])
    result["peak_rss_mb"] = _vm_hwm_mb()
    print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
