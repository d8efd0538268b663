"""Latency of the main API endpoints against a running `perftiers serve`.

Usage: .venv/bin/python bench/api_latency.py http://127.0.0.1:8000 TOKEN [--requests 200] [--threads 8]
Prints median / p95 / max per endpoint (sequential), then throughput with concurrent clients.
Sends traffic only to the URL given (use a local server).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import httpx

ENDPOINTS = [
    ("list, default order", "/api/performance-metrics", {}),
    ("list, winner + search", "/api/performance-metrics", {"classification": "winner", "search": "a"}),
    ("list, sort + tag + page 3", "/api/performance-metrics",
     {"sort": "sales_last_30_days", "order": "desc", "page": 3, "pageSize": 100}),
    ("one row", "/api/performance-metrics/{first}", {}),
    ("summary", "/api/performance-metrics/stats/summary", {}),
    ("summary, vendor filter", "/api/performance-metrics/stats/summary", {"is_active": "true"}),
    ("facets", "/api/performance-metrics/facets", {}),
    ("commerce overview, 30 days", "/analytics/commerce/overview", {}),
    ("commerce top products", "/analytics/commerce/products", {}),
    ("settings", "/api/performance-metrics/settings/classification", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    client = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=30)
    first = client.get("/api/performance-metrics", params={"pageSize": 1}).json()["items"][0]["artifact_id"]
    print(f"{'endpoint':32} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for label, path, params in ENDPOINTS:
        path = path.format(first=first)
        times = []
        for i in range(args.requests):
            p = dict(params)
            if "search" in p:
                p["search"] = "abcdefghij"[i % 10]  # vary the filter: counts are cached per filter
            t0 = time.perf_counter()
            response = client.get(path, params=p)
            times.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
        times.sort()
        print(f"{label:32} {statistics.median(times):10.1f} {times[int(len(times) * .95)]:8.1f} {times[-1]:8.1f}")

    done = 0
    lock = threading.Lock()
    stop = time.perf_counter() + 5

    def worker() -> None:
        nonlocal done
        c = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=30)
        while time.perf_counter() < stop:
            c.get("/api/performance-metrics", params={"classification": "winner"}).raise_for_status()
            with lock:
                done += 1

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"list requests, {args.threads} concurrent clients: {done / 5:.0f} per second")


if __name__ == "__main__":
    main()
