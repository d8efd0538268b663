"""API latency over real HTTP, the naive in-process baseline, and the serving memory.

Per store: `perftiers serve --no-scheduler` runs as a subprocess on a free port; a viewer token
comes from `perftiers token create`. Each case is requested by 1 client (sequential requests) and
by 16 concurrent clients (asyncio + httpx, keep-alive connections), after a warm-up. `/healthz`
on the same server is the framework floor. The naive baseline runs the same query in this
process against a plain DuckDB table made from `measurement.performance` (no precomputed order,
no caches), with 1 and 16 threads (one cursor each). The server's RSS is read from /proc after
loading and after the load test, next to the Arrow size of the performance table.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from bench import datasets
from bench.core import PERFTIERS, child_env, fmt_count, log, median, percentile, proc_status, ratio, REPO

PAGE_SIZE = 50
SEARCH = "fox"
"""A word of the demo store's product names (`Wild Fox Tee`): a realistic search hit rate."""
CLIENTS = 16

DEFAULT_ORDER = "nominal_classification DESC, aggregate_measurement_value DESC, artifact_id ASC"


def cases(total: int) -> list[dict[str, Any]]:
    """name, HTTP path + params, and the naive SQL (WHERE, ORDER BY, OFFSET) of each case."""
    deep = max(1, math.ceil(total * 0.9 / PAGE_SIZE))
    search_where = "(artifact_id ILIKE '%' || ? || '%' OR product_name ILIKE '%' || ? || '%')"
    lists = [
        ("list", {}, "TRUE", [], DEFAULT_ORDER, 0),
        ("list_tier", {"classification": "winner"}, "is_winner", [], DEFAULT_ORDER, 0),
        ("list_search", {"search": SEARCH}, search_where, [SEARCH, SEARCH], DEFAULT_ORDER, 0),
        ("list_sort", {"sort": "sales_last_30_days", "order": "desc"}, "TRUE", [],
         "sales_last_30_days DESC NULLS LAST, artifact_id DESC", 0),
        ("list_deep_page", {"page": deep}, "TRUE", [], DEFAULT_ORDER, (deep - 1) * PAGE_SIZE),
    ]
    out = [
        {"name": name, "path": "/api/performance-metrics", "params": {**params, "pageSize": PAGE_SIZE},
         "kind": "list", "where": where, "args": args, "order": order, "offset": offset}
        for name, params, where, args, order, offset in lists
    ]
    out.append({"name": "summary", "path": "/api/performance-metrics/stats/summary", "params": {}, "kind": "summary"})
    out.append({"name": "facets", "path": "/api/performance-metrics/facets", "params": {}, "kind": "facets"})
    out.append({"name": "healthz", "path": "/healthz", "params": {}, "kind": "floor"})
    return out


@dataclass(frozen=True)
class Budget:
    """Requests per case: counts, each capped by a time box (a slow case gets fewer samples)."""

    single: int
    per_client: int
    warmup: int
    single_s: float = 8.0
    concurrent_s: float = 10.0
    warmup_s: float = 3.0


# -- the server --------------------------------------------------------------------------------------

_DASHBOARD = re.compile(r"^Dashboard: (http://\S+?)/ ", re.MULTILINE)
"""The line `perftiers serve` prints once it has bound its port (`--port 0`: the system picks it)."""


def _token(home: Path) -> str:
    out = subprocess.run([*PERFTIERS, "--data-dir", str(home), "token", "create", "--role", "viewer",
                          "--name", f"bench-{os.getpid()}-{time.time_ns()}"],
                         cwd=REPO, env=child_env(), capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1].strip()


class Server:
    def __init__(self, home: Path, log_path: Path):
        self.home, self.base = home, ""
        self.log = open(log_path, "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [*PERFTIERS, "--data-dir", str(home), "serve", "--port", "0", "--no-scheduler"],
            cwd=REPO, env={**child_env(), "PYTHONUNBUFFERED": "1"}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.ready_s = self._wait_ready(t0)

    def _wait_ready(self, t0: float, timeout: float = 600) -> float:
        import httpx

        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"perftiers serve exited ({self.proc.returncode}); see {self.log.name}")
            if not self.base:
                printed = _DASHBOARD.search(Path(self.log.name).read_text(errors="replace"))
                self.base = printed.group(1) if printed else ""
                if not self.base:
                    time.sleep(0.05)
                    continue
            try:
                if httpx.get(f"{self.base}/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"perftiers serve was not ready within {timeout:.0f} s; see {self.log.name}")

    def memory(self) -> dict[str, float]:
        return proc_status(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# -- load generation -------------------------------------------------------------------------------

async def _http_case(base: str, token: str, case: dict[str, Any], budget: "Budget") -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=300) as client:
        async def one() -> float:
            t0 = time.perf_counter()
            r = await client.get(case["path"], params=case["params"])
            dt = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"{case['name']}: HTTP {r.status_code} {r.text[:300]}")
            return dt

        first = await client.get(case["path"], params=case["params"])
        if first.status_code != 200:
            raise RuntimeError(f"{case['name']}: HTTP {first.status_code} {first.text[:300]}")
        body = first.json()
        end = time.perf_counter() + budget.warmup_s
        for _ in range(budget.warmup):
            if time.perf_counter() > end:
                break
            await one()
        single: list[float] = []
        end = time.perf_counter() + budget.single_s
        while len(single) < budget.single and (not single or time.perf_counter() < end):
            single.append(await one())

        async def worker(end: float) -> list[float]:
            out = [await one()]
            while len(out) < budget.per_client and time.perf_counter() < end:
                out.append(await one())
            return out

        t0 = time.perf_counter()
        many = [x for xs in await asyncio.gather(*(worker(t0 + budget.concurrent_s) for _ in range(CLIENTS)))
                for x in xs]
        elapsed = time.perf_counter() - t0
    return {**_stats(single, many, elapsed), "response_bytes": len(first.content), "total": body.get("total")}


def _stats(single: list[float], many: list[float], elapsed: float) -> dict[str, Any]:
    ms = 1000.0
    return {
        "c1": {"median_ms": median(single) * ms, "p99_ms": percentile(single, 99) * ms, "n": len(single)},
        f"c{CLIENTS}": {"median_ms": median(many) * ms, "p99_ms": percentile(many, 99) * ms, "n": len(many),
                        "throughput_rps": len(many) / elapsed if elapsed else None},
    }


class Naive:
    """The same queries, naively, in process: a plain DuckDB table, one cursor per thread."""

    def __init__(self, home: Path):
        import duckdb

        from perftiers.lakehouse import catalog
        from perftiers.settings import load_settings

        data = catalog.load(load_settings(home=home), catalog.PERFORMANCE).scan().to_arrow()
        self.arrow_mb = data.nbytes / 1e6
        self.rows = data.num_rows
        self.con = duckdb.connect(config={"autoinstall_known_extensions": "false",
                                          "autoload_known_extensions": "false"})
        self.con.register("perf_arrow", data)
        self.con.execute("CREATE TABLE perf AS SELECT * FROM perf_arrow")
        self.con.unregister("perf_arrow")
        del data

    def query(self, case: dict[str, Any]) -> Callable[[Any], Any]:
        kind = case["kind"]
        if kind == "list":
            where, args, order, offset = case["where"], case["args"], case["order"], case["offset"]

            def run(cur: Any) -> Any:
                total = cur.execute(f"SELECT COUNT(*) FROM perf WHERE {where}", args).fetchone()[0]
                rows = cur.execute(f"SELECT * FROM perf WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                                   [*args, PAGE_SIZE, offset]).to_arrow_table().to_pylist()
                return total, rows
            return run
        if kind == "summary":
            def run(cur: Any) -> Any:
                return cur.execute(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE is_top_riser), COUNT(*) FILTER (WHERE is_winner), "
                    "COUNT(*) FILTER (WHERE is_banana), COUNT(*) FILTER (WHERE is_archive), "
                    "SUM(aggregate_measurement_value), SUM(sales_last_30_days) FROM perf").fetchone()
            return run
        if kind == "facets":
            def run(cur: Any) -> Any:
                return (
                    cur.execute("SELECT product_type, COUNT(*) FROM perf GROUP BY 1 ORDER BY 2 DESC").fetchall(),
                    cur.execute("SELECT vendor, COUNT(*) FROM perf GROUP BY 1 ORDER BY 2 DESC").fetchall(),
                    cur.execute("SELECT tag, COUNT(*) FROM (SELECT unnest(tags) AS tag FROM perf) "
                                "GROUP BY 1 ORDER BY 1").fetchall(),
                    cur.execute("SELECT COUNT(*) FILTER (WHERE is_top_riser), COUNT(*) FILTER (WHERE is_winner), "
                                "COUNT(*) FILTER (WHERE is_banana), COUNT(*) FILTER (WHERE is_archive), "
                                "COUNT(*) FROM perf").fetchone(),
                    cur.execute("SELECT is_active, COUNT(*) FROM perf GROUP BY 1").fetchall(),
                )
            return run
        raise ValueError(kind)

    def measure(self, case: dict[str, Any], budget: "Budget") -> dict[str, Any]:
        fn = self.query(case)
        cur = self.con.cursor()
        end = time.perf_counter() + budget.warmup_s
        for _ in range(budget.warmup):
            fn(cur)
            if time.perf_counter() > end:
                break
        single: list[float] = []
        end = time.perf_counter() + budget.single_s
        while len(single) < budget.single and (not single or time.perf_counter() < end):
            t0 = time.perf_counter()
            fn(cur)
            single.append(time.perf_counter() - t0)
        cur.close()
        many: list[float] = []
        lock = threading.Lock()

        def worker(end: float) -> None:
            c = self.con.cursor()
            local: list[float] = []
            while not local or (len(local) < budget.per_client and time.perf_counter() < end):
                t0 = time.perf_counter()
                fn(c)
                local.append(time.perf_counter() - t0)
            c.close()
            with lock:
                many.extend(local)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(t0 + budget.concurrent_s,)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return _stats(single, many, time.perf_counter() - t0)

    def close(self) -> None:
        self.con.close()


# -- one store -----------------------------------------------------------------------------------------

def run_store(work: Path, products: int, lines: int, budget: Budget) -> dict:
    store = datasets.build(work, products, lines, refresh=True)
    token = _token(store.home)
    log(f"api {fmt_count(products)} products: starting perftiers serve")
    server = Server(store.home, work / f"serve-{fmt_count(products)}.log")
    result: dict[str, Any] = {"products": products, "order_lines": lines, "ready_s": server.ready_s, "cases": {}}
    try:
        mem = server.memory()
        result["serve_rss_after_load_mb"] = mem.get("VmRSS")
        result["serve_peak_rss_loading_mb"] = mem.get("VmHWM")
        import httpx

        total = httpx.get(f"{server.base}/api/performance-metrics", params={"pageSize": 1},
                          headers={"Authorization": f"Bearer {token}"}, timeout=300).json()["total"]
        all_cases = cases(total)
        for case in all_cases:
            log(f"api {fmt_count(products)} products: {case['name']} over HTTP")
            result["cases"][case["name"]] = {"http": asyncio.run(_http_case(server.base, token, case, budget))}
        mem = server.memory()
        result["serve_rss_after_load_test_mb"] = mem.get("VmRSS")
        result["serve_peak_rss_mb"] = mem.get("VmHWM")
    finally:
        server.stop()
    log(f"api {fmt_count(products)} products: naive in-process baseline")
    naive = Naive(store.home)
    try:
        result["performance_rows"] = naive.rows
        result["performance_arrow_mb"] = naive.arrow_mb
        for case in all_cases:
            if case["kind"] == "floor":
                continue
            entry = result["cases"][case["name"]]
            entry["naive"] = naive.measure(case, budget)
            entry["ratio_median_c1"] = ratio(entry["http"]["c1"]["median_ms"], entry["naive"]["c1"]["median_ms"])
        floor = result["cases"]["healthz"]["http"]["c1"]["median_ms"]
        for case in all_cases:
            entry = result["cases"][case["name"]]
            http = entry["http"]
            entry["p99_c16_over_median_c1"] = ratio(http[f"c{CLIENTS}"]["p99_ms"], http["c1"]["median_ms"])
            entry["median_c1_over_floor"] = ratio(http["c1"]["median_ms"], floor)
    finally:
        naive.close()
    result["rss_over_arrow"] = ratio(result["serve_rss_after_load_test_mb"] or 0, result["performance_arrow_mb"])
    return result


def run(work: Path, stores: list[tuple[int, int]], budget: Budget) -> dict:
    return {"clients": CLIENTS, "page_size": PAGE_SIZE, "search": SEARCH, "requests": asdict(budget),
            "stores": [run_store(work, p, l, budget) for p, l in stores]}
