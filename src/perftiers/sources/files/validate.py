"""One validating and converting pass over the files of a table, and the wording of its problems."""

from __future__ import annotations

import bisect
from decimal import Decimal
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import fs as pafs

from perftiers.lakehouse import schemas
from perftiers.sources.files import reading
from perftiers.sources.files.arrays import decode, indices_mask, nonnull_mask, or_masks, show, utf8
from perftiers.sources.files.convert import convert
from perftiers.sources.files.model import ORDER_LINES, PRODUCTS, DataFile, Pending, Problems, RawBatch, Table
from perftiers.sources.files.positions import locate


class TablePass:
    """One validating (and converting) pass over the files of one table.

    Times without an offset are read in `timezone`; a missing currency is `currency`."""

    def __init__(
        self,
        table: Table,
        files: list[DataFile],
        problems: Problems,
        *,
        fs: pafs.FileSystem,
        timezone: str,
        currency: str,
        retain_budget: int | None,
        known_ids: pa.Array | None = None,
        stream: bool = False,
    ):
        self.table, self.files, self.problems = table, files, problems
        self.fs, self.timezone, self.currency = fs, timezone, currency
        self.retain_budget = retain_budget
        self.known_ids = known_ids
        self.stream = stream
        self.retained: list[pa.RecordBatch] | None = []
        self.retained_bytes = 0
        self.rows = 0
        self.unmapped = 0
        # for the uniqueness check: key chunks and where they came from
        self.key_chunks: list[pa.Array] = []
        self.key_origin: list[tuple[DataFile, int]] = []  # (file, first data row of the chunk)

    def run(self) -> None:
        for _ in self.iterate():
            pass

    def iterate(self) -> Iterator[pa.RecordBatch]:
        for f in self.files:
            for raw in reading.read(self.fs, f, self.table, self.problems):
                batch = self._batch(f, raw)
                if batch is None:
                    continue
                if self.stream:
                    yield batch
                elif self.retained is not None:
                    self.retained.append(batch)
                    self.retained_bytes += batch.nbytes
                    if self.retain_budget is not None and self.retained_bytes > self.retain_budget:
                        self.retained = None
        if self.problems.total and not self.stream:
            self.retained = []

    def keys(self) -> pa.Array:
        if not self.key_chunks:
            return pa.array([], pa.string())
        return pa.concat_arrays(self.key_chunks)

    def _batch(self, f: DataFile, raw: RawBatch) -> pa.RecordBatch | None:
        n = raw.num_rows
        tz = self.timezone
        values: dict[str, pa.Array] = {}
        checks: list[tuple[pa.Array, Callable[[int], str]]] = []

        for col in self.table.columns:
            arr = raw.columns.get(col.name)
            if arr is None:  # column absent from the file
                values[col.name] = pa.nulls(n, self.table.schema.field(col.name).type)
                continue
            arr = decode(arr)
            shown = arr  # for messages; string columns may hold bad UTF-8, so show their bytes
            if pa.types.is_string(arr.type):
                shown = arr.view(pa.binary())
            elif pa.types.is_large_string(arr.type):
                shown = arr.view(pa.large_binary())
            arr, not_utf8 = utf8(arr)
            if not_utf8 is not None:
                checks.append((not_utf8, _reason(col.name, shown, lambda v: f"{show(v)} is not valid UTF-8 text")))
            found = raw.column_problems.get(col.name)
            read_bad = indices_mask(n, sorted(found)) if found else None
            if found:
                checks.append((read_bad, lambda i, name=col.name, found=found: f"{name}: {found[i]}"))
            conv = convert(arr, col, tz)
            values[col.name] = conv.values
            if conv.bad is not None:
                checks.append((conv.bad, _reason(col.name, arr, conv.why)))
            if col.required:
                missing = pc.is_null(conv.values)
                for mask in (not_utf8, read_bad, conv.bad):
                    if mask is not None:
                        missing = pc.and_(missing, pc.invert(mask))
                missing = nonnull_mask(missing)
                if missing is not None:
                    checks.append((missing, _const(f"{col.name}: missing value")))

        if self.table is ORDER_LINES:
            checks += self._order_line_checks(values, raw)

        bad = None
        for mask, _ in checks:
            bad = or_masks(bad, mask)
        n_bad = int(pc.sum(bad).as_py() or 0) if bad is not None else 0

        key = values[self.table.key]
        if key.null_count < n:
            self.key_chunks.append(key)
            self.key_origin.append((f, raw.first_row))

        if n_bad:
            room = max(self.problems.room, 0)
            rows = pc.indices_nonzero(bad).slice(0, room).to_pylist() if room else []
            for i in rows:
                reasons = [why(i) for mask, why in checks if mask[i].as_py()]
                self.problems.add(Pending(f, "; ".join(reasons), **_where(f, raw.first_row + i)))
            self.problems.count(n_bad - len(rows))
        if self.problems.total:
            return None

        # defaults and output batch
        for col in self.table.columns:
            default = col.default
            if col.kind == "currency":
                default = self.currency
            if default is not None and values[col.name].null_count:
                values[col.name] = pc.fill_null(values[col.name], pa.scalar(default, self.table.schema.field(col.name).type))
        if self.table is PRODUCTS and values["tags"].null_count:
            values["tags"] = pc.if_else(pc.is_null(values["tags"]), pa.scalar([], pa.list_(pa.string())), values["tags"])
        if self.table is ORDER_LINES and self.known_ids is not None:
            self.unmapped += n - int(pc.sum(pc.is_in(values["artifact_id"], value_set=self.known_ids)).as_py() or 0)
        self.rows += n
        return pa.RecordBatch.from_arrays([values[name] for name in self.table.schema.names], schema=self.table.schema)

    def _order_line_checks(self, values: dict[str, pa.Array], raw: RawBatch) -> list[tuple[pa.Array, Callable[[int], str]]]:
        out: list[tuple[pa.Array, Callable[[int], str]]] = []
        qty, refunded = values["quantity"], values["refunded_quantity"]
        price, discount = values["unit_price"], values["discount"]
        zero = pa.scalar(Decimal(0), schemas.MONEY)

        def add(expr: pa.Array, why: Callable[[int], str]) -> None:
            mask = nonnull_mask(expr)
            if mask is not None:
                out.append((mask, why))

        add(pc.less(qty, 1), lambda i: f"quantity {qty[i].as_py()} must be at least 1")
        add(pc.less(refunded, 0), lambda i: f"refunded_quantity {refunded[i].as_py()} is negative")
        add(pc.greater(refunded, qty), lambda i: f"refunded_quantity {refunded[i].as_py()} > quantity {qty[i].as_py()}")
        add(pc.less(price, zero), lambda i: f"unit_price {_fmt_money(price[i].as_py())} is negative")
        add(pc.less(discount, zero), lambda i: f"discount {_fmt_money(discount[i].as_py())} is negative")
        if discount.null_count < len(discount):
            total = pc.multiply(pc.cast(qty, pa.decimal128(19, 0)), price)
            add(
                pc.greater(discount, total),
                lambda i: f"discount {_fmt_money(discount[i].as_py())} exceeds the line total "
                f"{_fmt_money(total[i].as_py())} (quantity x unit_price)",
            )
        return out

    def check_unique(self) -> None:
        """Report every row whose key repeats an earlier row's key (in any file of the table)."""
        if not self.key_chunks:
            return
        keys = pa.chunked_array(self.key_chunks, pa.string())
        distinct = len(pc.unique(keys)) - (1 if keys.null_count else 0)  # faster than count_distinct
        if distinct == len(keys) - keys.null_count:
            return
        starts, pos = [], 0
        for chunk in self.key_chunks:
            starts.append(pos)
            pos += len(chunk)
        t = pa.table({"k": keys, "i": pa.array(range(len(keys)), pa.int64())}).filter(pc.is_valid(keys))
        groups = t.group_by("k", use_threads=False).aggregate([("i", "min"), ("i", "count")])
        groups = groups.filter(pc.greater(groups["i_count"], 1))
        idx = pc.index_in(t["k"], value_set=groups["k"])
        first = pc.take(groups["i_min"], idx)
        is_dup = pc.fill_null(pc.not_equal(t["i"], first), False)
        dups = pa.table({"k": t["k"], "i": t["i"], "first": first}).filter(is_dup).sort_by("i")
        room = max(self.problems.room, 0)
        shown = dups.slice(0, room).to_pylist()
        self.problems.count(dups.num_rows - len(shown))

        def origin(i: int) -> tuple[DataFile, int]:
            c = bisect.bisect_right(starts, i) - 1
            f, first_row = self.key_origin[c]
            return f, first_row + (i - starts[c])

        wanted: dict[int, tuple[DataFile, set[int]]] = {}
        for rec in shown:
            f, row = origin(rec["first"])
            wanted.setdefault(id(f), (f, set()))[1].add(row)
        located = {key: locate(self.fs, f, rows, 0)[0] for key, (f, rows) in wanted.items()}
        for rec in shown:
            f, row = origin(rec["i"])
            first_file, first_row = origin(rec["first"])
            line, unit = located[id(first_file)].get(first_row, (first_row + 1, "row"))
            where = f"{unit} {line} of {first_file.name}"
            self.problems.add(Pending(f, f"{self.table.key} {rec['k']!r} duplicates {where}", **_where(f, row)))


def _where(f: DataFile, row: int) -> dict[str, int]:
    if f.fmt == "parquet":
        return {"line": row + 1}
    if f.row_lines is not None and row < len(f.row_lines):
        return {"line": f.row_lines[row]}
    return {"row": row}


def _reason(name: str, raw: pa.Array, why: Callable[[Any], str]) -> Callable[[int], str]:
    return lambda i: f"{name}: {why(raw[i].as_py())}"


def _const(text: str) -> Callable[[int], str]:
    return lambda i: text


def _fmt_money(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        if "." in text:
            whole, frac = text.split(".")
            return f"{whole}.{frac.ljust(2, '0')}"
        return f"{text}.00"
    return str(value)
