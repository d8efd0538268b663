"""The verdicts against the issue's targets, and the Markdown report."""

from __future__ import annotations

from typing import Any

from bench.core import fmt_count, ratio

GIB = 1024.0  # MB per GiB (RSS is measured in MiB)


def _verdict(name: str, value: float, op: str, target: float, unit: str, where: str, note: str = "",
             info: bool = False) -> dict:
    """One row of the targets table; `info` rows are context (not one of the issue's targets)."""
    met = value <= target if op == "<=" else value >= target
    if met or info:
        gap = ""
    elif op == "<=":
        gap = f"{(value / target - 1) * 100:.0f}% over"
    else:
        gap = f"{target / value:.1f}x short" if value else "no data"
    return {"target": name, "where": where, "value": value, "op": op, "goal": target, "unit": unit,
            "met": None if info else met, "gap": gap, "note": note}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    refresh = results.get("refresh")
    if refresh and refresh["sizes"]:
        # the size is 10M lines; otherwise the largest measured size up to it
        sizes = [s for s in refresh["sizes"] if s["order_lines"] <= 10_000_000] or refresh["sizes"]
        e = max(sizes, key=lambda s: s["order_lines"])
        where = f"{fmt_count(e['products'])} products / {fmt_count(e['order_lines'])} lines"
        if "ratio_vs_duckdb_sql" in e:
            r = e["ratio_vs_duckdb_sql"]["time"]
            out.append(_verdict("refresh time / hand-written DuckDB SQL", r, "<=", 1.5, "x", where,
                                "aim 1.2x" + (" (met)" if r <= 1.2 else "")))
        if "ratio_vs_duckdb_sql_both" in e:
            out.append(_verdict("refresh time / hand-written DuckDB SQL writing both outputs (like for like)",
                                e["ratio_vs_duckdb_sql_both"]["time"], "<=", 1.5, "x", where, info=True))
        if "duckdb_sql" in e:
            out.append(_verdict("full refresh, whole process / hand-written query, whole process",
                                ratio(e["perftiers"]["process_wall_s"], e["duckdb_sql"]["process_wall_s"]), "<=", 2.0,
                                "x", where))
        inc = e.get("incremental") or {}
        if "ratio_vs_duckdb_sql_process" in inc:
            out.append(_verdict("refresh after a day's sync (incremental), whole process / hand-written full query, "
                                "whole process", inc["ratio_vs_duckdb_sql_process"], "<=", 0.5, "x", where))
        out.append(_verdict("refresh peak RSS", e["perftiers"]["peak_rss_mb"] / GIB, "<=", 1.5, "GiB", where))
        if "ratio_vs_pandas" in e:
            out.append(_verdict("refresh time / pandas", e["ratio_vs_pandas"]["time"], "<=", 1.0, "x", where,
                                info=True))
    sync = results.get("sync")
    if sync:
        where = f"{fmt_count(sync['order_lines'])} lines, files source"
        out.append(_verdict("sync throughput from Parquet", sync["formats"]["parquet"]["first_sync"]["lines_per_s"],
                            ">=", 1_000_000, "lines/s", where))
        pq_ = sync["formats"]["parquet"]
        out.append(_verdict("unchanged re-sync / first sync", ratio(pq_["unchanged_resync"]["time_s"],
                                                                    pq_["first_sync"]["time_s"]), "<=", 0.2, "x", where))
    api = results.get("api")
    if api and api["stores"]:
        s = max(api["stores"], key=lambda s: s["products"])
        where = f"{fmt_count(s['products'])} products"
        c = f"c{api['clients']}"
        for name, entry in s["cases"].items():
            if name.startswith("list") or name == "summary":
                out.append(_verdict(f"{name}: HTTP median / naive in-process median", entry["ratio_median_c1"],
                                    "<=", 1.0, "x", where))
        for name, entry in s["cases"].items():
            floor = name == "healthz"  # the framework floor: context for the others, not a target
            out.append(_verdict(f"{name}: p99 with {api['clients']} clients / 1-client median",
                                entry["p99_c16_over_median_c1"], "<=", 4.0, "x", where,
                                f"p99 {entry['http'][c]['p99_ms']:.1f} ms", info=floor))
    out += _history_targets(results.get("history"))
    out += _startup_targets(results.get("startup"))
    return out


def _history_targets(h: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 13's size and speed targets for the tier history."""
    if not h:
        return []
    where = f"{fmt_count(h['products'])} products / {fmt_count(h['order_lines'])} lines, {h['days']} days"
    y = h["year"]
    return [
        _verdict(f"tier_history size after {h['days']} days (current snapshot's data files)",
                 y["data_bytes"] / 1e6, "<=", 50, "MB", where,
                 f"{y['rows']:,} rows; daily copies {y['daily_copies_bytes'] / 1e6:.1f} MB"),
        _verdict(f"tier_history data files after {h['days']} days", y["data_files"], "<=", 40, "files", where),
        _verdict(f"backfill of {h['days']} days / one full refresh", h["ratio_backfill_over_refresh"], "<=", 10.0,
                 "x", where),
        _verdict(f"one product's history ({h['days']} days) over HTTP / list median",
                 h["http"]["ratio_history_over_list"], "<=", 2.0, "x", f"{fmt_count(h['products'])} products"),
    ]


def _startup_targets(s: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 16's start-up targets: whole commands as a user times them (wall medians)."""
    if not s:
        return []
    c = s["commands"]
    demo = f"demo store, {fmt_count(s['products'])} products / {fmt_count(s['order_lines'])} lines"
    floor = f"python -c pass {c['python']['wall_s']:.2f} s, import typer {c['import_typer']['wall_s']:.2f} s"
    return [
        _verdict("`perftiers --help`, whole process", c["help"]["wall_s"], "<=", 0.3, "s", "any folder",
                 f"CPU {c['help']['cpu_s']:.2f} s; {floor}"),
        _verdict("`perftiers refresh`, whole process", c["refresh"]["wall_s"], "<=", 1.5, "s", demo,
                 f"work {c['refresh']['work_s']:.2f} s, the rest {c['refresh']['startup_s']:.2f} s; "
                 f"CPU {c['refresh']['cpu_s']:.2f} s"),
    ]


# -- Markdown -----------------------------------------------------------------------------------------

def _n(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != v:  # NaN
            return "–"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _value(t: dict[str, Any]) -> str:
    if t["unit"] == "lines/s":
        return f"{t['value']:,.0f} lines/s"
    if t["unit"] == "GiB":
        return f"{t['value']:.2f} GiB"
    if t["unit"] in ("MB", "files", "s"):
        return f"{_n(t['value'])} {t['unit']}"
    return f"{t['value']:.2f}x"


def _goal(t: dict[str, Any]) -> str:
    if t["unit"] == "lines/s":
        return f"{t['op']} {t['goal']:,.0f} lines/s"
    if t["unit"] in ("GiB", "MB", "files", "s"):
        return f"{t['op']} {t['goal']} {t['unit']}"
    return f"{t['op']} {t['goal']}x"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"# perftiers benchmark — {results['started_at']}",
        "",
        f"Mode `{results['mode']}`, {results['duration_s'] / 60:.1f} min. "
        f"Command: `{results['command']}`.",
        "",
        f"Machine: {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['cpu_model']}; {m['os']}; "
        f"Python {m['python']}, DuckDB {m['duckdb']}, PyIceberg {m['pyiceberg']}, PyArrow {m['pyarrow']}, "
        f"pandas {m['pandas']}; commit {m['git_commit']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in (m['load_average_at_start'] or []))}.",
        "",
        "## Targets",
        "",
        "| target | where | measured | goal | met | gap |",
        "|---|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        note = f" ({t['note']})" if t["note"] else ""
        met = "info" if t["met"] is None else "yes" if t["met"] else "**no**"
        lines.append(f"| {t['target']}{note} | {t['where']} | {_value(t)} | {_goal(t)} | {met} | {t['gap']} |")
    if results.get("refresh"):
        lines += _refresh_md(results["refresh"])
    if results.get("sync"):
        lines += _sync_md(results["sync"])
    if results.get("api"):
        lines += _api_md(results["api"])
    if results.get("history"):
        lines += _history_md(results["history"])
    if results.get("startup"):
        lines += _startup_md(results["startup"])
    return "\n".join(lines) + "\n"


def _refresh_md(r: dict[str, Any]) -> list[str]:
    out = ["", "## Mart refresh", "",
           f"{fmt_count(r['products'])} products; medians of {r['rounds']} interleaved round(s); each program in its "
           "own process; time = the work after imports; peak RSS = the process's VmHWM. `agree` = rows whose metrics or flags "
           "differ from perftiers' `measurement.performance` (0 = same result).", "",
           "| lines | program | time s | CPU s | peak RSS MiB | time ratio | CPU ratio | RSS ratio | agree |",
           "|---|---|---|---|---|---|---|---|---|"]
    for e in r["sizes"]:
        for p in ("perftiers", "duckdb_sql", "duckdb_sql_both", "pandas"):
            if p not in e:
                continue
            rt = e.get(f"ratio_vs_{p}", {})
            agree = e["agreement"].get(p)
            agree_s = "–" if agree is None else (f"{agree['mismatched_rows']:,} differ"
                                                 + (f" ({', '.join(agree['columns'])})" if agree["columns"] else ""))
            if agree and "daily_sales" in agree:
                agree_s += f"; daily sales {agree['daily_sales']['mismatched_rows']:,} differ"
            ratios = "| | |" if p == "perftiers" else f"| {_n(rt.get('time'))}x | {_n(rt.get('cpu'))}x |"
            lines_s = fmt_count(e["order_lines"])
            rss_ratio = "" if p == "perftiers" else f"{_n(rt.get('peak_rss'))}x"
            out.append(f"| {lines_s} | {p} | {_n(e[p]['time_s'])} | {_n(e[p]['cpu_s'])} | "
                       f"{_n(e[p]['peak_rss_mb'], 0)} {ratios} {rss_ratio} | {agree_s if p != 'perftiers' else ''} |")
    out += ["", "Ratios are perftiers / that program (time, CPU, peak RSS).", ""]
    if r.get("growth"):
        out += ["Growth of time with order lines:", "",
                "| from | to | lines x | perftiers x | duckdb_sql x | duckdb_sql_both x | pandas x |",
                "|---|---|---|---|---|---|---|"]
        for g in r["growth"]:
            out.append(f"| {fmt_count(g['from_lines'])} | {fmt_count(g['to_lines'])} | {_n(g['lines_factor'], 1)} | "
                       f"{_n(g.get('perftiers_time_factor'))} | {_n(g.get('duckdb_sql_time_factor'))} | "
                       f"{_n(g.get('duckdb_sql_both_time_factor'))} | {_n(g.get('pandas_time_factor'))} |")
        out.append("")
    big = max(r["sizes"], key=lambda s: s["order_lines"])
    inc = big.get("incremental") or {}
    if inc.get("rounds"):
        out += [f"Daily case at {fmt_count(big['order_lines'])} lines: a `files` sync adding the next day's orders, "
                "then `perftiers refresh` as of that day (incremental), whole processes with imports:", "",
                "| day | lines added | sync s | refresh s (process) | refresh work s | daily sales | peak RSS MiB |",
                "|---|---|---|---|---|---|---|"]
        for rd in inc["rounds"]:
            ds = rd.get("daily_sales") or {}
            out.append(f"| {rd['day']} | {rd['lines_added']:,} | {_n(rd['sync']['wall_s'])} | {_n(rd['refresh']['wall_s'])} | "
                       f"{_n(rd['refresh']['work_s'])} | {ds.get('mode', '?')} | {_n(rd['refresh']['peak_rss_mb'], 0)} |")
        if "baseline_process_wall_s" in inc:
            out += ["", f"Hand-written full query, whole process: {_n(inc['baseline_process_wall_s'])} s; "
                        f"incremental refresh / it: {_n(inc['ratio_vs_duckdb_sql_process'])}x."]
        phases = inc["rounds"][-1].get("phases") or []
        out += ["", "Incremental refresh phases (last day):", "", "| phase | wall s | CPU s | peak RSS MiB |",
                "|---|---|---|---|"]
        out += [f"| {ph['step']} | {_n(ph['wall_s'])} | {_n(ph['cpu_s'])} | {_n(ph['peak_rss_mb'], 0)} |" for ph in phases]
        out.append("")
    out += [f"perftiers refresh phases at {fmt_count(big['order_lines'])} lines (medians):", "",
            "| phase | wall s | CPU s | peak RSS MiB |", "|---|---|---|---|"]
    for ph in big["perftiers"].get("phases") or []:
        out.append(f"| {ph['step']} | {_n(ph['wall_s'])} | {_n(ph['cpu_s'])} | {_n(ph['peak_rss_mb'], 0)} |")
    return out


def _sync_md(s: dict[str, Any]) -> list[str]:
    out = ["", "## Sync", "",
           f"`files` source, {fmt_count(s['products'])} products / {fmt_count(s['order_lines'])} order lines, "
           f"first sync into a fresh data folder, then an unchanged re-sync (medians of {s['rounds']}). "
           "Baseline: DuckDB copying the same order-lines file to zstd Parquet.", "",
           "| format | file MB | first sync s | lines/s | peak RSS MiB | unchanged re-sync s | lines/s | "
           "DuckDB copy s | lines/s | sync / copy |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for fmt, f in s["formats"].items():
        fs, rs, cp = f["first_sync"], f["unchanged_resync"], f["duckdb_copy"]
        out.append(f"| {fmt} | {_n(f['file_mb'], 1)} | {_n(fs['time_s'])} | {fs['lines_per_s']:,.0f} | "
                   f"{_n(fs['peak_rss_mb'], 0)} | {_n(rs['time_s'])} | {rs['lines_per_s']:,.0f} | "
                   f"{_n(cp['time_s'])} | {cp['lines_per_s']:,.0f} | {_n(f['ratio_vs_duckdb_copy'])}x |")
    if s.get("demo_sync"):
        d = s["demo_sync"]
        out += ["", f"Demo-source sync of the same store (generation included): {_n(d['work_s'])} s, "
                    f"{d['lines_per_s']:,.0f} lines/s, peak RSS {_n(d['peak_rss_mb'], 0)} MiB."]
    parquet = s["formats"].get("parquet")
    if parquet and parquet["first_sync"].get("phases"):
        out += ["", "First sync from Parquet, phases:", "", "| phase | wall s | CPU s | peak RSS MiB |",
                "|---|---|---|---|"]
        for ph in parquet["first_sync"]["phases"]:
            out.append(f"| {ph['step']} | {_n(ph['wall_s'])} | {_n(ph['cpu_s'])} | {_n(ph['peak_rss_mb'], 0)} |")
    return out


def _api_md(a: dict[str, Any]) -> list[str]:
    c = f"c{a['clients']}"
    req = a["requests"]
    out = ["", "## API latency over HTTP", "",
           f"`perftiers serve --no-scheduler`, viewer token, pageSize {a['page_size']}, search `{a['search']}`, deep "
           f"page = 90% into the list. 1 client: up to {req['single']} sequential requests (at most "
           f"{req['single_s']:g} s); {a['clients']} clients: up to {req['per_client']} requests each, at once, for "
           f"at most {req['concurrent_s']:g} s (asyncio + httpx, keep-alive; closed loop, no think time); after "
           f"{req['warmup']} warm-up requests. Naive = the same SQL in process on a plain DuckDB table "
           "(1 thread / 16 threads, one cursor each). Times in ms."]
    for s in a["stores"]:
        out += ["", f"### {fmt_count(s['products'])} products ({fmt_count(s['order_lines'])} order lines)", "",
                f"| case | HTTP median | HTTP p99 | HTTP median {c} | HTTP p99 {c} | naive median | naive p99 | "
                f"naive p99 {c} | HTTP/naive median | p99 {c} / median | median / healthz | req/s 1 / {a['clients']} |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, e in s["cases"].items():
            h, n = e["http"], e.get("naive")
            out.append(
                f"| {name} | {_n(h['c1']['median_ms'])} | {_n(h['c1']['p99_ms'])} | {_n(h[c]['median_ms'])} | "
                f"{_n(h[c]['p99_ms'])} | {_n(n['c1']['median_ms']) if n else '–'} | "
                f"{_n(n['c1']['p99_ms']) if n else '–'} | {_n(n[c]['p99_ms']) if n else '–'} | "
                f"{_n(e.get('ratio_median_c1'))}{'x' if n else ''} | {_n(e['p99_c16_over_median_c1'])}x | "
                f"{_n(e['median_c1_over_floor'])}x | {_n(1000 / h['c1']['median_ms'], 0)} / "
                f"{_n(h[c].get('throughput_rps'), 0)} |")
    out += ["", "## Serving memory", "",
            "| products | order lines | serve RSS after load MiB | peak while loading MiB | after load test MiB | "
            "peak MiB | performance table as Arrow MB | RSS / Arrow | ready after s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for s in a["stores"]:
        out.append(f"| {fmt_count(s['products'])} | {fmt_count(s['order_lines'])} | "
                   f"{_n(s['serve_rss_after_load_mb'], 0)} | {_n(s.get('serve_peak_rss_loading_mb'), 0)} | "
                   f"{_n(s['serve_rss_after_load_test_mb'], 0)} | "
                   f"{_n(s['serve_peak_rss_mb'], 0)} | {_n(s['performance_arrow_mb'], 1)} | "
                   f"{_n(s['rss_over_arrow'], 1)}x | {_n(s['ready_s'], 1)} |")
    return out


def _history_md(h: dict[str, Any]) -> list[str]:
    y, b, f, http = h["year"], h["backfill"], h["refresh"], h["http"]
    refreshes = ", ".join(_n(r["work_s"]) for r in y["daily_refreshes"])
    out = ["", "## Tier history", "",
           f"{fmt_count(h['products'])} products / {fmt_count(h['order_lines'])} order lines, "
           f"{h['from']} .. {h['to']}. The {h['days']} days: `tier_history` dropped, a real backfill of the first "
           f"{h['days'] - h['daily_refreshes']} days ({_n(y['backfill']['work_s'])} s), then "
           f"{h['daily_refreshes']} real daily refreshes ({refreshes} s).", "",
           "| after | data files | data MB | rows | product-days | daily copies MB | snapshots kept | folder MB |",
           "|---|---|---|---|---|---|---|---|",
           f"| {h['days']} days | {y['data_files']} | {_n(y['data_bytes'] / 1e6)} | {_n(y['rows'])} | "
           f"{_n(y['product_days'])} | {_n(y['daily_copies_bytes'] / 1e6)} | "
           f"{y['snapshots_kept']} | {_n(y['folder_bytes'] / 1e6)} |"]
    a = h.get("after_rounds")
    if a:
        out.append(f"| + {h['rounds']} refresh/backfill round(s) | {a['data_files']} | {_n(a['data_bytes'] / 1e6)} | "
                   f"{_n(a['rows'])} | | | {a['snapshots_kept']} | {_n(a['folder_bytes'] / 1e6)} |")
    out += ["", f"Backfill of {h['days']} days vs one full refresh (medians of {h['rounds']} interleaved round(s), "
                "each its own process):", "",
            "| program | time s | CPU s | peak RSS MiB |", "|---|---|---|---|",
            f"| refresh | {_n(f['time_s'])} | {_n(f['cpu_s'])} | {_n(f['peak_rss_mb'], 0)} |",
            f"| backfill | {_n(b['time_s'])} | {_n(b['cpu_s'])} | {_n(b['peak_rss_mb'], 0)} |",
            "", f"Backfill / refresh: {_n(h['ratio_backfill_over_refresh'])}x. Backfill phases (last round):", "",
            "| phase | wall s | CPU s | peak RSS MiB |", "|---|---|---|---|"]
    for ph in b.get("phases") or []:
        out.append(f"| {ph['step']} | {_n(ph['wall_s'])} | {_n(ph['cpu_s'])} | {_n(ph['peak_rss_mb'], 0)} |")
    out += ["", f"Over HTTP (`perftiers serve`, 1 client, ms): the list's first page, then the history of "
                f"`{http['artifact_id']}` (the list's first product) from {http['from']} to {http['to']}, "
                "then the list again:", "",
            "| case | median | p99 | median c16 | p99 c16 | bytes |", "|---|---|---|---|---|---|"]
    for name in ("list", "history", "list_again"):
        e = http[name]
        out.append(f"| {name} | {_n(e['c1']['median_ms'])} | {_n(e['c1']['p99_ms'])} | {_n(e['c16']['median_ms'])} | "
                   f"{_n(e['c16']['p99_ms'])} | {_n(e['response_bytes'])} |")
    out += ["", f"History / list median: {_n(http['ratio_history_over_list'])}x."]
    return out


def _startup_md(s: dict[str, Any]) -> list[str]:
    c = s["commands"]
    out = ["", "## Start-up", "",
           f"Whole commands in their own processes, imports included, interleaved in {s['rounds']} rounds "
           f"(medians); the refresh on a `perftiers demo` store of {fmt_count(s['products'])} products / "
           f"{fmt_count(s['order_lines'])} order lines, its work from the run record.", "",
           "| command | wall s | CPU s | peak RSS MB | / python -c pass | / import typer |",
           "|---|---|---|---|---|---|"]
    names = {"python": "`python -c pass`", "import_typer": "`python -c \"import typer\"`",
             "help": "`perftiers --help`", "token_list": "`perftiers token list`", "refresh": "`perftiers refresh`"}
    for key, label in names.items():
        r = c[key]
        out.append(f"| {label} | {_n(r['wall_s'])} | {_n(r['cpu_s'])} | {_n(r['peak_rss_mb'], 0)} | "
                   f"{_n(r.get('ratio_vs_python'))} | {_n(r.get('ratio_vs_import_typer'))} |")
    r = c["refresh"]
    out += ["", f"Refresh: work {_n(r['work_s'])} s of {_n(r['wall_s'])} s; the rest ({_n(r['startup_s'])} s) is "
                "imports, settings, the catalog and the metadata DB opening, and exit."]
    return out
