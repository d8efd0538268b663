"""`python -m bench run [--quick] [...]`: the perftiers benchmark suite (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import report
from bench.core import REPO, fmt_count, log, machine, parse_count

DEFAULTS = {
    # the sizes: refresh at 100k products / 10M lines (growth from 1M), API at 100k and 1M products
    "default": {"products": "100k", "sizes": "1M,10M", "rounds": 3, "sync_products": "100k", "sync_lines": "1M",
                "sync_rounds": 2, "api_products": "100k,1M", "api_lines_per_product": 3,
                "requests": 40, "per_client": 10, "warmup": 3,
                # tier history at the refresh bench's 10M store (reused from the same --work folder)
                "history_products": "100k", "history_lines": "10M", "history_days": 365, "history_daily": 3,
                "history_rounds": 2,
                # start-up: whole commands; the refresh on the default demo store (2,000 products)
                "startup_products": "2000", "startup_lines": "1M", "startup_rounds": 5},
    "quick": {"products": "20k", "sizes": "100k,300k", "rounds": 1, "sync_products": "20k", "sync_lines": "100k",
              "sync_rounds": 1, "api_products": "10k", "api_lines_per_product": 3,
              "requests": 5, "per_client": 2, "warmup": 1,
              "budget": {"single_s": 2.0, "concurrent_s": 2.0, "warmup_s": 1.0},
              "history_products": "20k", "history_lines": "100k", "history_days": 30, "history_daily": 1,
              "history_rounds": 1,
              "startup_products": "100", "startup_lines": "5k", "startup_rounds": 2},
}
PARTS = ("refresh", "sync", "api", "history", "startup")
DOCS = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"


def _counts(text: str) -> list[int]:
    return [parse_count(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the benchmarks and write bench/results/<timestamp>.json and .md")
    r.add_argument("--quick", action="store_true", help="small sizes, one round: a working check in < 2 min")
    r.add_argument("--sizes", help="order lines of the refresh stores, e.g. 1M,10M,30M (default 1M,10M)")
    r.add_argument("--products", help="products of the refresh stores (default 100k)")
    r.add_argument("--rounds", type=int, help="interleaved refresh rounds per size (default 3)")
    r.add_argument("--sync-products", help="products of the sync store (default 100k)")
    r.add_argument("--sync-lines", help="order lines of the sync store (default 1M)")
    r.add_argument("--sync-rounds", type=int, help="first syncs per format (default 2)")
    r.add_argument("--api-products", help="products of the API stores (default 100k,1M)")
    r.add_argument("--api-lines-per-product", type=int, help="order lines per product in the API stores (default 3)")
    r.add_argument("--requests", type=int, help="sequential requests per API case (default 40)")
    r.add_argument("--per-client", type=int, help="requests per concurrent client per API case (default 10)")
    r.add_argument("--history-products", help="products of the tier-history store (default 100k)")
    r.add_argument("--history-lines", help="order lines of the tier-history store (default 10M)")
    r.add_argument("--history-days", type=int, help="days of tier history: the year built, the backfill timed "
                                                    "(default 365)")
    r.add_argument("--history-daily", type=int, help="real daily refreshes ending that year (default 3)")
    r.add_argument("--history-rounds", type=int, help="interleaved refresh/backfill rounds (default 2)")
    r.add_argument("--startup-rounds", type=int, help="interleaved rounds of the start-up commands (default 5)")
    r.add_argument("--only", help=f"comma-separated parts to run: {', '.join(PARTS)} (default all)")
    r.add_argument("--work", type=Path, help="folder for the generated stores; kept and reused across runs "
                                             "(default: a temporary folder, deleted afterwards)")
    r.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where results go")
    r.add_argument("--update-docs", action="store_true", help=f"also put the tables into {DOCS.relative_to(REPO)}")
    d = sub.add_parser("docs", help=f"put a saved result's tables into {DOCS.relative_to(REPO)}")
    d.add_argument("result", type=Path, help="a bench/results/<timestamp>.json (re-rendered) or .md file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "docs":
        if args.result.suffix == ".json":  # re-render a saved run with the current report code
            _update_docs(report.markdown(json.loads(args.result.read_text())))
        else:
            _update_docs(args.result.read_text())
        return 0
    mode = "quick" if args.quick else "default"
    d = DEFAULTS[mode]
    opt = lambda name: getattr(args, name, None) if getattr(args, name, None) is not None else d[name]  # noqa: E731
    parts = [x.strip() for x in (args.only or ",".join(PARTS)).split(",") if x.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")

    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="perftiers-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "started_at": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "mode": mode,
        "command": "python -m bench " + " ".join(argv),
        "machine": machine(),
        "parameters": {},
    }
    try:
        if "refresh" in parts:
            from bench import refresh

            sizes, products, rounds = _counts(opt("sizes")), parse_count(opt("products")), opt("rounds")
            results["parameters"]["refresh"] = {"products": products, "sizes": sizes, "rounds": rounds}
            results["refresh"] = refresh.run(work, products, sizes, rounds)
        if "sync" in parts:
            from bench import sync

            products, lines = parse_count(opt("sync_products")), parse_count(opt("sync_lines"))
            results["parameters"]["sync"] = {"products": products, "order_lines": lines, "rounds": opt("sync_rounds")}
            results["sync"] = sync.run(work, products, lines, opt("sync_rounds"))
        if "api" in parts:
            from bench import api

            per = opt("api_lines_per_product")
            stores = [(p, p * per) for p in _counts(opt("api_products"))]
            results["parameters"]["api"] = {"stores": stores, "requests": opt("requests"),
                                            "per_client": opt("per_client"), "warmup": d["warmup"]}
            budget = api.Budget(single=opt("requests"), per_client=opt("per_client"), warmup=d["warmup"],
                                **d.get("budget", {}))
            results["api"] = api.run(work, stores, budget)
        if "history" in parts:
            from bench import api, history

            products, lines = parse_count(opt("history_products")), parse_count(opt("history_lines"))
            days, daily, rounds = opt("history_days"), opt("history_daily"), opt("history_rounds")
            results["parameters"]["history"] = {"products": products, "order_lines": lines, "days": days,
                                                "daily_refreshes": daily, "rounds": rounds}
            budget = api.Budget(single=opt("requests"), per_client=opt("per_client"), warmup=d["warmup"],
                                **d.get("budget", {}))
            results["history"] = history.run(work, products, lines, days, daily, rounds, budget)
        if "startup" in parts:
            from bench import startup

            products, lines = parse_count(opt("startup_products")), parse_count(opt("startup_lines"))
            results["parameters"]["startup"] = {"products": products, "order_lines": lines,
                                                "rounds": opt("startup_rounds")}
            results["startup"] = startup.run(work, products, lines, opt("startup_rounds"))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    results["duration_s"] = time.perf_counter() - t0
    results["targets"] = report.targets(results)
    md = report.markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    json_path, md_path = args.out / f"{stamp}.json", args.out / f"{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(md)
    if args.update_docs:
        _update_docs(md)
    log(f"done in {results['duration_s'] / 60:.1f} min: {json_path} and {md_path}")
    print(md_path)
    return 0


def _update_docs(md: str) -> None:
    """Replace the generated part of docs/benchmarks.md (between the markers), keep the notes."""
    body = md.split("\n", 1)[1].lstrip("\n")  # drop the report's own title
    text = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{body}{END}{tail}")
    log(f"updated {DOCS}")


if __name__ == "__main__":
    sys.exit(main())
