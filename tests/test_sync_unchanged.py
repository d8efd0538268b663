"""The daily re-sync of unchanged files is skipped without reading them (`sync.py`, `metadata.sync_inputs`)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from perftiers.lakehouse import schemas
from perftiers.settings import load_settings
from perftiers.sources.files import FilesSource

from tests.pipeline import close, snapshot_ids, sync
from tests.storebuilder import MemorySource, line, product

T0 = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def folder(path: Path, lines: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([product("a"), product("b")], schema=schemas.PRODUCTS), path / "products.parquet")
    pq.write_table(pa.Table.from_pylist(lines, schema=schemas.ORDER_LINES), path / "order_lines.parquet")
    return path


def test_an_unchanged_resync_is_skipped_and_any_change_is_read(tmp_path):
    lines = [line("1", "a", T0, 2), line("2", "b", T0 + timedelta(days=1), 1)]
    src = folder(tmp_path / "in", lines)
    s = load_settings(home=tmp_path / "data", database_url=None)
    try:
        first = sync(s, FilesSource(src))
        assert first["counts"]["order_lines_written"] == 2 and "input_unchanged" not in first
        before = snapshot_ids(s)

        again = sync(s, FilesSource(src))
        assert again["input_unchanged"] is True
        assert again["counts"] | {} == {**first["counts"], "products_written": 0, "order_lines_written": 0,
                                        "rows_written": 0}
        assert snapshot_ids(s) == before

        os.utime(src / "order_lines.parquet", ns=(1, 1))  # touched: read and compared, nothing to write
        touched = sync(s, FilesSource(src))
        assert "input_unchanged" not in touched and touched["counts"]["rows_written"] == 0
        assert sync(s, FilesSource(src))["input_unchanged"] is True

        sync(s, MemorySource([product("a"), product("b")], [line("3", "a", T0, 5)]))  # another source wrote
        after_other = sync(s, FilesSource(src))
        assert "input_unchanged" not in after_other

        folder(src, [*lines, line("4", "b", T0, 1)])  # new contents
        changed = sync(s, FilesSource(src))
        assert "input_unchanged" not in changed and changed["counts"]["order_lines_written"] == 1

        close(s)
        s = load_settings(home=tmp_path / "data", database_url=None, timezone="Europe/Berlin")
        assert "input_unchanged" not in sync(s, FilesSource(src, timezone="Europe/Berlin"))  # read in another zone
    finally:
        close(s)
