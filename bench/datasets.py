"""Benchmark stores: the demo source synced into a fresh perftiers data folder, plus exports.

A store folder holds `home/` (a perftiers data folder), `parquet/` and `csv/` (the raw tables as
files the `files` source reads and the baselines scan) and `store.json` (what was built, so a
`--work` folder can be reused across runs).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core import ChildResult, fmt_count, log, run_child

END_DATE = "2026-06-30"
"""Last day of demo sales and the refresh reference date: fixed, so every run sees the same store."""
SEED = 42


@dataclass
class Store:
    root: Path
    products: int
    order_lines: int
    sync: dict[str, Any] | None = None
    """The measured demo sync that built it (None when reused from an earlier run)."""

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def parquet(self) -> Path:
        return self.root / "parquet"

    @property
    def csv(self) -> Path:
        return self.root / "csv"

    @property
    def label(self) -> str:
        return f"{fmt_count(self.products)} products / {fmt_count(self.order_lines)} lines"


def build(work: Path, products: int, order_lines: int, *, parquet: bool = False, csv: bool = False,
          refresh: bool = False, copy: str = "") -> Store:
    """The store with these sizes under `work`, built by a demo sync unless already there.
    `copy` names another store of the same sizes (one a bench part changes for good)."""
    root = work / f"store-{fmt_count(products)}p-{fmt_count(order_lines)}l{'-' + copy if copy else ''}"
    want = {"products": products, "order_lines": order_lines, "seed": SEED, "end_date": END_DATE}
    marker = root / "store.json"
    done: dict[str, Any] = json.loads(marker.read_text()) if marker.exists() else {}
    store = Store(root, products, order_lines)
    if {k: done.get(k) for k in want} != want:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        log(f"building store {store.label} (demo source -> perftiers sync)")
        result = run_child(
            [sys.executable, "-m", "bench.children", "sync", str(store.home), "demo"],
            env={"PERFTIERS_DEMO_PRODUCTS": str(products), "PERFTIERS_DEMO_ORDER_LINES": str(order_lines),
                 "PERFTIERS_DEMO_SEED": str(SEED), "PERFTIERS_DEMO_END_DATE": END_DATE},
        )
        store.sync = _sync_summary(result, order_lines)
        done = dict(want)
        marker.write_text(json.dumps(done))
    if parquet and not done.get("parquet"):
        log(f"exporting {store.label} to Parquet")
        _export(store, "parquet")
        done["parquet"] = True
        marker.write_text(json.dumps(done))
    if csv and not done.get("csv"):
        log(f"exporting {store.label} to CSV")
        _export(store, "csv")
        done["csv"] = True
        marker.write_text(json.dumps(done))
    if refresh and not done.get("refreshed"):
        log(f"refreshing {store.label}")
        run_child([sys.executable, "-m", "bench.children", "refresh", str(store.home), END_DATE])
        done["refreshed"] = True
        marker.write_text(json.dumps(done))
    return store


def _sync_summary(result: ChildResult, lines: int) -> dict[str, Any]:
    return {"work_s": result.work_s, "wall_s": result.wall_s, "cpu_s": result.cpu_s,
            "peak_rss_mb": result.peak_rss_mb, "lines_per_s": lines / result.work_s if result.work_s else None,
            "phases": result.report.get("phases")}


def _export(store: Store, fmt: str) -> None:
    """raw.products and raw.order_lines as `products.<fmt>` and `order_lines.<fmt>`.

    Parquet is zstd-compressed like the Iceberg files; CSV writes tags comma-separated and
    timestamps as ISO text with an offset, as the `files` source expects.
    """
    import duckdb

    from perftiers.lakehouse import catalog
    from perftiers.settings import load_settings

    settings = load_settings(home=store.home)
    out = store.root / fmt
    out.mkdir(exist_ok=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    con.execute("SET TimeZone = 'UTC'")
    try:
        for name, ident in (("products", catalog.PRODUCTS), ("order_lines", catalog.ORDER_LINES)):
            con.register("src", catalog.load(settings, ident).scan().to_arrow_batch_reader())
            target = out / f"{name}.{fmt}"
            if fmt == "parquet":
                con.execute(f"COPY (SELECT * FROM src) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
            else:
                select = "SELECT * REPLACE (array_to_string(tags, ',') AS tags) FROM src" if name == "products" \
                    else "SELECT * FROM src"
                con.execute(f"COPY ({select}) TO '{target}' (HEADER, TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%S.%fZ')")
            con.unregister("src")
    finally:
        con.close()
