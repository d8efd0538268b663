"""Data hygiene: after 200 refreshes, 1,000 manual writes and 20 changing syncs, every Iceberg table's
metadata and files stay bounded, and reading the table is no slower than at the start.

`snapshot_retention_hours = 0`, so each write expires the snapshots it replaced and
`lakehouse.maintenance` deletes the data files and manifests no snapshot needs. Counted per table
(metadata.json files, manifests and manifest lists, snapshots, data files) after a warm-up and at
the end; the end counts must be small constants, not growing with the number of writes. The scan
time (load the table, read it to Arrow; best of several) at the end is compared with the start.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from perftiers.lakehouse import catalog, maintenance
from perftiers.refresh import edits
from tests.api import store as known
from tests.api.conftest import make_settings
from tests.pipeline import close
from tests.storebuilder import line

pytestmark = pytest.mark.slow

REFRESHES = 200
WRITES_PER_REFRESH = 5  # 1,000 manual writes in all
SYNC_EVERY = 10  # 20 syncs that change a line


def census(settings) -> dict[str, Counter]:
    """Per table: files by kind under its location, and its snapshot count."""
    out = {}
    for ident in catalog.TABLE_SCHEMAS:
        table = catalog.load(settings, ident)
        root = maintenance._path(table.location())
        counts = Counter()
        for info in maintenance._files(maintenance._filesystem(table), root):
            name = info.path[len(root) + 1:]
            kind = ("metadata.json" if name.endswith(".metadata.json") else "manifests" if name.endswith(".avro")
                    else "data files" if name.startswith("data/") else "other")
            counts[kind] += 1
        counts["snapshots"] = len(table.snapshots())
        counts["unreferenced"] = sum(
            1 for info in maintenance._files(maintenance._filesystem(table), root)
            if info.path.endswith((".parquet", ".avro")) and info.path not in maintenance.referenced_files(table))
        out[catalog.table_name(ident)] = counts
    return out


def scan_seconds(settings, repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for ident in (catalog.PERFORMANCE, catalog.DAILY_SALES):
            catalog.load(settings, ident).scan().to_arrow()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.timeout(1200)  # 200 refreshes (each also writes the tier history) and 1,000 writes: ~5 min
def test_metadata_and_files_stay_bounded(tmp_path):
    settings = make_settings(tmp_path / "data", snapshot_retention_hours=0)
    known.build(settings)
    lines = list(known.LINES)
    writes = Counter()
    started = time.perf_counter()
    first_scan = warm = None

    for i in range(REFRESHES):
        if i % SYNC_EVERY == 0:  # a line changes: both raw tables get an overwrite commit
            lines[-1] = line("L10", "SKU-001", known.ts(2025, 4, 2, 10), 1 + i % 7, order_id="o9", unit_price="20.00")
            known.sync(settings, known.source(lines=lines))
            writes["syncs"] += 1
        known.refresh(settings)
        writes["refreshes"] += 1
        for j in range(WRITES_PER_REFRESH):  # create, update twice, delete, update an existing row
            new_id = f"NEW-{i}"
            if j == 0:
                edits.create(settings, new_id, {"product_name": f"new {i}", "sales_last_30_days": i}, by="test")
            elif j in (1, 2):
                edits.update(settings, new_id, {"vendor": f"vendor {j}", "sales_first_7_days": j * i}, by="test")
            elif j == 3:
                edits.delete(settings, new_id, by="test")
            else:
                edits.update(settings, "SKU-006", {"product_name": f"Zeta Hat v{i}"}, by="test")
            writes["manual writes"] += 1
        if i == 19:
            warm = census(settings)
            first_scan = scan_seconds(settings)

    end = census(settings)
    last_scan = scan_seconds(settings)
    elapsed = time.perf_counter() - started
    print(f"\nhygiene: {dict(writes)} in {elapsed:.0f} s; scan {first_scan * 1000:.1f} ms -> {last_scan * 1000:.1f} ms")
    for table, counts in end.items():
        print(f"  {table}: {dict(counts)} (after warm-up: {dict(warm[table])})")
    try:
        assert writes == {"syncs": 20, "refreshes": REFRESHES, "manual writes": REFRESHES * WRITES_PER_REFRESH}
        for table, counts in end.items():
            assert counts["snapshots"] <= 2, (table, counts)
            assert counts["data files"] <= 8, (table, counts)  # one table's worth (raw.order_lines: a file per month)
            assert counts["manifests"] <= 8, (table, counts)
            assert counts["metadata.json"] <= 12, (table, counts)  # previous-versions-max 10 + current + 1
            assert counts["unreferenced"] == 0, (table, counts)
            assert counts["other"] == 0, (table, counts)
            for kind in ("data files", "manifests", "snapshots"):  # metadata.json: capped above
                assert counts[kind] <= warm[table][kind] + 2, (table, kind, warm[table], counts)
        assert last_scan < max(2 * first_scan, first_scan + 0.02), (first_scan, last_scan)
    finally:
        close(settings)
