"""`python -m bench run --quick` works: it writes the JSON and Markdown results with every part.

For working, not for timing: the numbers only have to exist and be positive.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def test_quick_run_writes_results(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--quick", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=580)
    assert proc.returncode == 0, proc.stderr[-4000:]
    [json_path] = out.glob("*.json")
    [md_path] = out.glob("*.md")
    assert md_path.stem == json_path.stem
    r = json.loads(json_path.read_text())

    assert r["mode"] == "quick"
    for key in ("cores", "ram_gib", "cpu_model", "python", "duckdb", "pyiceberg"):
        assert r["machine"][key], key
    assert _positive(r["duration_s"])

    refresh = r["refresh"]
    assert len(refresh["sizes"]) >= 2 and refresh["growth"]
    for size in refresh["sizes"]:
        for program in ("perftiers", "duckdb_sql", "duckdb_sql_both", "pandas"):
            for key in ("time_s", "cpu_s", "peak_rss_mb"):
                assert _positive(size[program][key]), (program, key)
        for baseline in ("duckdb_sql", "duckdb_sql_both", "pandas"):
            assert _positive(size[f"ratio_vs_{baseline}"]["time"])
            # the baselines compute exactly what the refresh computes (else no ratio means anything)
            assert size["agreement"][baseline]["mismatched_rows"] == 0, size["agreement"][baseline]
        assert size["agreement"]["duckdb_sql_both"]["daily_sales"]["mismatched_rows"] == 0
        assert size["perftiers"]["phases"]

    for fmt in ("parquet", "csv"):
        f = r["sync"]["formats"][fmt]
        assert _positive(f["first_sync"]["lines_per_s"]) and _positive(f["unchanged_resync"]["lines_per_s"])
        assert f["first_sync"]["order_lines_written"] == r["sync"]["order_lines"]
        assert f["unchanged_resync"]["order_lines_written"] == 0
        assert _positive(f["ratio_vs_duckdb_copy"])

    [store] = r["api"]["stores"]
    for key in ("serve_rss_after_load_mb", "serve_rss_after_load_test_mb", "performance_arrow_mb", "rss_over_arrow"):
        assert _positive(store[key]), key
    expected = {"list", "list_tier", "list_search", "list_sort", "list_deep_page", "summary", "facets", "healthz"}
    assert set(store["cases"]) == expected
    for name, case in store["cases"].items():
        for clients in ("c1", "c16"):
            assert _positive(case["http"][clients]["median_ms"]) and _positive(case["http"][clients]["p99_ms"])
        if name != "healthz":
            assert _positive(case["naive"]["c1"]["median_ms"]) and _positive(case["ratio_median_c1"])

    h = r["history"]  # tier history: size after the days, backfill vs refresh, one product's history over HTTP
    assert h["year"]["data_files"] >= 1 and _positive(h["year"]["data_bytes"]) and _positive(h["year"]["rows"])
    assert h["year"]["rows"] < h["year"]["daily_copies_rows"] == h["year"]["product_days"]
    assert _positive(h["ratio_backfill_over_refresh"]) and h["backfill"]["counts"]["days"] == h["days"]
    assert _positive(h["http"]["ratio_history_over_list"]) and _positive(h["http"]["history"]["c1"]["median_ms"])

    s = r["startup"]["commands"]  # start-up: whole commands beside `python -c pass` and `import typer`
    for name in ("python", "import_typer", "help", "token_list", "refresh"):
        assert _positive(s[name]["wall_s"]), name
    for name in ("help", "token_list", "refresh"):  # (the CPU time of `python -c pass` may round to 0)
        assert _positive(s[name]["cpu_s"]), name
    assert _positive(s["refresh"]["work_s"]) and _positive(s["help"]["ratio_vs_import_typer"])

    assert r["targets"] and all({"target", "value", "goal", "met", "gap"} <= set(t) for t in r["targets"])
    md = md_path.read_text()
    for heading in ("## Targets", "## Mart refresh", "## Sync", "## API latency over HTTP", "## Serving memory",
                    "## Tier history", "## Start-up"):
        assert heading in md
