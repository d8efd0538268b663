"""The `files` source: products and order lines from CSV, Parquet or JSON Lines files.

This is the canonical input format (SPEC.md, "Input data"). A folder (or object-store prefix)
holds two tables, each in any of the three formats:

    products.csv | products.parquet | products.jsonl           one file, or
    products*.csv|.parquet|.pq|.jsonl|.ndjson [.gz for text]    several files, and/or
    products/<any of those, in sub-folders too>                 a folder of files
    (the same for order_lines)

Names are matched case-insensitively; files and folders whose name starts with `.` or `_` are
ignored (`_SUCCESS`, `.DS_Store`, ...). Column names are matched after trimming and lower-casing;
unknown columns are ignored.

Behaviour decisions (the contract leaves them open):

* Text values are trimmed; an empty text is a missing value (only that: `NULL` or `NA` are
  text). Required: products.artifact_id; order_lines order_id, line_id, ordered_at, artifact_id,
  quantity, unit_price. A required column missing from a CSV/Parquet file is one file-level
  problem; in JSON Lines each object stands alone, so each line without the key is a bad row.
* `is_active`: true/false/1/0/yes/no (any case) in text, a boolean or 0/1 elsewhere; an empty
  cell or a missing column means true. `cancelled` likewise, default false.
* Tags: comma-separated in text cells (also accepted in Parquet/JSON string columns), a list of
  strings in Parquet/JSON; items are trimmed and empty items dropped; no tags gives `[]`.
* Timestamps: ISO 8601, `T` or space between date and time, seconds and fractions optional
  (fractions beyond microseconds are truncated). With an offset (`Z`, `+02`, `+0200`, `+02:00`)
  the instant is that offset's; without one it is UTC; a date alone (`2024-05-01`) is midnight in
  the store timezone (for `launched_at` and also for `ordered_at`). Parquet timestamps with a
  zone are exact, without a zone they are UTC; Parquet dates are midnight in the store timezone.
* Integers: `3`, `+3` and `3.0` are 3; `3.5`, `abc` are rejected. quantity >= 1 (a line with
  nothing on it is an input error); 0 <= refunded_quantity <= quantity.
* Money (unit_price, discount): decimal notation with a `.` (an exponent such as `1.5E3` is
  accepted; `$`, thousands separators and decimal commas are not), at most 4 decimal places
  (trailing zeros beyond do not count) and at most 14 digits before the point (decimal(18, 4));
  >= 0. Parquet decimals and integers are exact; binary floats are rounded to 4 places when they
  are within float noise of such a value (0.1 + 0.2 -> 0.3000), else rejected. `discount` is the
  line's total discount and may not exceed quantity * unit_price.
* `currency`: a 3-letter code, upper-cased; empty means the store currency.
* IDs may be integers in Parquet/JSON (they become their decimal text).
* Order lines whose artifact_id is not a product are kept (stores delete products that still
  have sales) and counted in `counts["unmapped_order_lines"]`.
* artifact_id / line_id must be unique across all files of their table; the second and later
  occurrences are reported ("line_id 'L1' duplicates line 7 of order_lines.csv").
* A CSV quote that is never closed would swallow the rest of the file into one value (CSV
  readers accept that silently); it is reported at the line where the value starts.

Problems: each bad row is reported once with the file (relative to the source folder), the
physical line (CSV: the header is line 1; JSON Lines: the line number) or, for Parquet, the row
number counted from 1 (`FileProblem.unit == "row"`, shown as "row N"), and every reason found
for that row; a duplicate key is a problem of its own. File-level problems (missing column,
unreadable file) have line 0 and unit "file", except CSV header problems, which are line 1. The
first 100 problems are kept, all are counted; with any problem `extract()` raises
`SourceRejected` and hands out nothing.

Speed and memory: validation is vectorised with pyarrow.compute; Python only runs per row to word
the reasons of rows that failed, to find the CSV/JSON line numbers of those rows (one extra scan
of that file, only on failure), and for JSON Lines files that pyarrow's reader cannot take (mixed
types in a column, malformed lines), which are then parsed line by line from where pyarrow
stopped. `extract()` validates everything in one streaming pass. The converted order lines are
kept in memory while they fit in `memory_budget_bytes` (default 256 MiB, about 2 million lines);
beyond that they are dropped and the `order_lines()` iterator reads and converts the files a
second time. That pass first checks that no file changed (size, modification time) and raises
`ValidationFailed` if one did; it validates every row again and raises `SourceRejected` at the
end if anything is wrong, so the sync must only commit after the iterator is exhausted (it does:
one transaction). Either way the memory that stays proportional to the input is the key column
kept for the uniqueness check (about 20 bytes per line).
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from perftiers.errors import BadRequest, ValidationFailed
from perftiers.lakehouse import schemas
from perftiers.sources.base import RowProblem, SourceRejected, StoreExtract

MAX_PROBLEMS = 100
DEFAULT_MEMORY_BUDGET = 256 * 1024 * 1024
CSV_BLOCK_SIZE = 16 << 20
JSON_BLOCK_SIZE = 8 << 20
JSON_LINES_CHUNK = 1 << 16
PARQUET_BATCH_ROWS = 1 << 18

_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_TRUE = pa.array(["true", "1", "yes"])
_FALSE = pa.array(["false", "0", "no"])
_EXACT_TRUE = pa.array(["true", "1", "yes", "True", "TRUE", "Yes", "YES"])
_EXACT_BOOLS = pa.array(["true", "1", "yes", "True", "TRUE", "Yes", "YES", "false", "0", "no", "False", "FALSE", "No", "NO"])
_INT_RE = r"^[+-]?\d+(\.0*)?$"
_DEC_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TIME_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?"
_ZONED_RE = _TIME_RE + r"(Z|[+-]\d{2}(:?\d{2})?)$"
_NAIVE_RE = _TIME_RE + "$"
_CURRENCY_RE = r"^[A-Z]{3}$"
_MAX_MONEY = Decimal("99999999999999.9999")
_BAD_CAST = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError)


# -- problems ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileProblem(RowProblem):
    """A `RowProblem` that knows how its position is counted.

    unit "line": a physical line (CSV, JSON Lines); "row": a Parquet row counted from 1;
    "file": the whole file (line is 0).
    """

    unit: str = "line"

    def __str__(self) -> str:
        if self.unit == "row":
            return f"{self.file} row {self.line}: {self.reason}"
        if self.unit == "file":
            return f"{self.file}: {self.reason}"
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class _Pending:
    file: "_File"
    reason: str
    line: int | None = None  # known physical line (or Parquet row number, or 0 for the file)
    row: int | None = None  # data row index in the file, resolved to a line at the end
    badrow: int | None = None  # set for a CSV record pyarrow skipped (wrong field count); located later


class _Problems:
    def __init__(self, limit: int = MAX_PROBLEMS):
        self.lock = threading.Lock()  # the CSV reader reports bad rows from its threads
        self.limit = limit
        self.kept: list[_Pending] = []
        self.total = 0

    @property
    def room(self) -> int:
        return self.limit - len(self.kept)

    def add(self, pending: _Pending) -> None:
        with self.lock:
            self.total += 1
            if len(self.kept) < self.limit:
                self.kept.append(pending)

    def count(self, n: int) -> None:
        """Count problems that are not kept."""
        self.total += n


# -- files ---------------------------------------------------------------------------------------


@dataclass
class _File:
    path: str  # filesystem path
    name: str  # shown in problems: relative to the source folder
    fmt: str  # csv | parquet | jsonl
    compression: str | None
    size: int
    mtime: Any
    index: int = 0
    table_rank: int = 0
    ncols: int = 0  # CSV: columns in the header
    row_lines: list[int] | None = None  # JSON read line by line: physical line of each data row

    @property
    def unit(self) -> str:
        return "row" if self.fmt == "parquet" else "line"


def _file_format(base: str) -> tuple[str, str | None] | None:
    low = base.lower()
    compression = None
    if low.endswith(".gz"):
        low, compression = low[:-3], "gzip"
    for ext, fmt in _EXTENSIONS.items():
        if low.endswith(ext):
            if fmt == "parquet" and compression:
                return None
            return fmt, compression
    return None


# -- column specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    name: str
    kind: str  # id | text | tags | bool | ts | int | money | currency
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class _Table:
    name: str
    schema: pa.Schema
    columns: tuple[_Col, ...]
    key: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_PRODUCTS = _Table(
    "products",
    schemas.PRODUCTS,
    (
        _Col("artifact_id", "id", required=True),
        _Col("product_name", "text"),
        _Col("product_type", "text"),
        _Col("vendor", "text"),
        _Col("tags", "tags"),
        _Col("is_active", "bool", default=True),
        _Col("launched_at", "ts"),
    ),
    key="artifact_id",
)

_ORDER_LINES = _Table(
    "order_lines",
    schemas.ORDER_LINES,
    (
        _Col("order_id", "id", required=True),
        _Col("line_id", "id", required=True),
        _Col("ordered_at", "ts", required=True),
        _Col("artifact_id", "id", required=True),
        _Col("quantity", "int", required=True),
        _Col("unit_price", "money", required=True),
        _Col("discount", "money", default=Decimal(0)),
        _Col("refunded_quantity", "int", default=0),
        _Col("cancelled", "bool", default=False),
        _Col("currency", "currency"),
    ),
    key="line_id",
)


@dataclass
class _RawBatch:
    """Known columns of some rows of a file, as read (any Arrow type; None: column absent)."""

    columns: dict[str, pa.Array | None]
    num_rows: int
    first_row: int  # index of the first row among the file's data rows
    column_problems: dict[str, dict[int, str]] = field(default_factory=dict)  # column -> row -> reason


# -- small helpers ---------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        text = repr(value)
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _any(mask: pa.Array | None) -> bool:
    return mask is not None and len(mask) > 0 and bool(pc.any(mask).as_py())


def _or(a: pa.Array | None, b: pa.Array | None) -> pa.Array | None:
    if a is None:
        return b
    if b is None:
        return a
    return pc.or_(a, b)


def _mask(expr: pa.Array) -> pa.Array | None:
    """A boolean mask without nulls, or None if nothing is set."""
    expr = pc.fill_null(expr, False)
    return expr if _any(expr) else None


def _cast_each(arr: pa.Array, target: pa.DataType, safe: bool = True) -> tuple[pa.Array, list[int]]:
    """Cast `arr`; values that cannot be cast become null and their indices are returned.

    Whole-array cast first; on failure the array is halved recursively, so k bad values cost
    O(k log n) casts instead of a Python loop over every value.
    """
    try:
        return pc.cast(arr, target, safe=safe), []
    except _BAD_CAST:
        pass
    n = len(arr)
    if n <= 8:
        parts, bad = [], []
        for i in range(n):
            try:
                parts.append(pc.cast(arr.slice(i, 1), target, safe=safe))
            except _BAD_CAST:
                parts.append(pa.nulls(1, target))
                bad.append(i)
        return pa.concat_arrays(parts), bad
    half = n // 2
    left, bad_left = _cast_each(arr.slice(0, half), target, safe)
    right, bad_right = _cast_each(arr.slice(half), target, safe)
    return pa.concat_arrays([left, right]), bad_left + [half + i for i in bad_right]


def _indices_mask(n: int, indices: list[int]) -> pa.Array | None:
    if not indices:
        return None
    flags = [False] * n
    for i in indices:
        flags[i] = True
    return pa.array(flags, pa.bool_())


def _decode(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binaryish(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t)


def _first_value(arr: pa.Array) -> Any:
    return next((v for v in arr.slice(0, 64).to_pylist() if v is not None), None)


def _looks_clean(arr: pa.Array, pattern: str) -> bool:
    """Whether a whole-column cast is worth trying: no empty strings, and the first value is clean.

    (A cast that fails can cost far more than one that succeeds, so guessing matters.)
    """
    if arr.null_count == len(arr) or not pc.min(pc.binary_length(arr)).as_py():
        return False
    sample = _first_value(arr)
    return isinstance(sample, str) and re.fullmatch(pattern, sample) is not None


def _trimmed_text(arr: pa.Array) -> pa.Array:
    """Trimmed utf8 strings, empty -> null."""
    s = arr if pa.types.is_string(arr.type) else arr.cast(pa.string())
    if pc.all(pc.string_is_ascii(s)).as_py() is False:
        s = pc.utf8_trim_whitespace(s)  # also trims no-break spaces etc.
    else:
        s = pc.ascii_trim_whitespace(s)  # several times faster
    empty = pc.equal(pc.binary_length(s), 0)
    if _any(empty):
        s = pc.if_else(empty, pa.scalar(None, pa.string()), s)
    return s


# -- converters: raw column -> (values in the target type with nulls, bad mask, why(raw value)) -----


@dataclass
class _Converted:
    values: pa.Array
    bad: pa.Array | None  # True where the value is present but unusable
    why: Callable[[Any], str]  # reason for a bad raw value (the column name is prefixed later)


def _type_reason(t: pa.DataType, expected: str) -> Callable[[Any], str]:
    return lambda v: f"{_show(v)} is not {expected} (the column holds {t})"


def _unsupported(arr: pa.Array, target: pa.DataType, expected: str) -> _Converted:
    return _Converted(pa.nulls(len(arr), target), _mask(pc.is_valid(arr)), _type_reason(arr.type, expected))


def _conv_text(arr: pa.Array, col: _Col) -> _Converted:
    t = arr.type
    if pa.types.is_null(t):
        return _Converted(pa.nulls(len(arr), pa.string()), None, str)
    if _is_stringish(t) or pa.types.is_integer(t):
        return _Converted(_trimmed_text(arr), None, str)
    return _unsupported(arr, pa.string(), "text")


def _int_reason(v: Any) -> str:
    if isinstance(v, str) and re.match(_INT_RE, v.strip()):
        return f"{_show(v)} is out of range"
    if isinstance(v, float) and v.is_integer():
        return f"{_show(v)} is out of range"
    return f"{_show(v)} is not an integer"


def _conv_int(arr: pa.Array, col: _Col) -> _Converted:
    t, n = arr.type, len(arr)
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, pa.int64()), None, _int_reason)
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        values, bad = _cast_each(arr, pa.int64())
        return _Converted(values, _indices_mask(n, bad), _int_reason)
    if pa.types.is_floating(t):
        ok = pc.and_(pc.is_finite(arr), pc.equal(pc.floor(arr), arr))
        ok = pc.and_(ok, pc.less_equal(pc.abs(arr), 2.0**53))
        bad = _mask(pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False))))
        values = pc.cast(pc.if_else(pc.fill_null(ok, False), arr, pa.scalar(None, t)), pa.int64(), safe=False)
        return _Converted(values, bad, _int_reason)
    if _is_stringish(t):
        if _looks_clean(arr, r"-?\d+"):
            try:  # fast path: clean integers
                return _Converted(pc.cast(arr, pa.int64()), None, _int_reason)
            except _BAD_CAST:
                pass
        s = _trimmed_text(arr)
        ok = pc.match_substring_regex(s, _INT_RE)
        bad = _mask(pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False))))
        if bad is not None:
            s = pc.if_else(bad, pa.scalar(None, pa.string()), s)
        if _any(pc.match_substring(s, ".")) or _any(pc.starts_with(s, "+")):
            s = pc.replace_substring_regex(s, r"^\+|\.0*$", "")
        values, overflow = _cast_each(s, pa.int64())
        return _Converted(values, _or(bad, _indices_mask(n, overflow)), _int_reason)
    return _unsupported(arr, pa.int64(), "an integer")


def _money_reason(v: Any) -> str:
    text = repr(v) if isinstance(v, float) else str(v).strip()
    if isinstance(v, str) and not re.match(_DEC_RE, text):
        return f"{_show(v)} is not a decimal number"
    try:
        d = Decimal(text)
    except InvalidOperation:
        return f"{_show(v)} is not a decimal number"
    if not d.is_finite():
        return f"{_show(v)} is not a decimal number"
    if d != 0 and d.normalize().as_tuple().exponent < -4:
        return f"{_show(v)} has more than 4 decimal places"
    if abs(d) > _MAX_MONEY:
        return f"{_show(v)} is too big (at most 14 digits before the decimal point)"
    return f"{_show(v)} is not a valid amount"


def _conv_money(arr: pa.Array, col: _Col) -> _Converted:
    t, n = arr.type, len(arr)
    money = schemas.MONEY
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, money), None, _money_reason)
    if pa.types.is_integer(t) or pa.types.is_decimal(t):
        too_big: list[int] = []
        if pa.types.is_integer(t):  # int64 -> decimal(18, 4) is refused outright; go through (38, 4)
            ints, too_big = _cast_each(arr, pa.int64())
            arr = ints.cast(pa.decimal128(38, 4))
        values, bad = _cast_each(arr, money)
        return _Converted(values, _indices_mask(n, sorted(set(too_big + bad))), _money_reason)
    if pa.types.is_floating(t):
        arr = arr.cast(pa.float64())
        rounded = pc.round(arr, 4)
        noise = pc.multiply(pc.max_element_wise(pc.abs(arr), 1.0), 1e-9)
        ok = pc.and_(pc.is_finite(arr), pc.less_equal(pc.abs(pc.subtract(arr, rounded)), noise))
        ok = pc.fill_null(ok, False)
        bad = _mask(pc.and_(pc.is_valid(arr), pc.invert(ok)))
        values, too_big = _cast_each(pc.if_else(ok, rounded, pa.scalar(None, pa.float64())), money)
        return _Converted(values, _or(bad, _indices_mask(n, too_big)), _money_reason)
    if _is_stringish(t):
        if _looks_clean(arr, r"-?\d+(\.\d{0,4})?"):
            try:  # fast path: clean amounts
                return _Converted(pc.cast(arr, money), None, _money_reason)
            except _BAD_CAST:
                pass
        s = _trimmed_text(arr)
        ok = pc.match_substring_regex(s, _DEC_RE)
        bad = _mask(pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False))))
        if bad is not None:
            s = pc.if_else(bad, pa.scalar(None, pa.string()), s)
        values, failed = _cast_each(s, money)
        return _Converted(values, _or(bad, _indices_mask(n, failed)), _money_reason)
    return _unsupported(arr, money, "a decimal number")


def _bool_reason(v: Any) -> str:
    return f"{_show(v)} is not a boolean (use true/false, 1/0 or yes/no)"


def _conv_bool(arr: pa.Array, col: _Col) -> _Converted:
    t, n = arr.type, len(arr)
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, pa.bool_()), None, _bool_reason)
    if pa.types.is_boolean(t):
        return _Converted(arr, None, _bool_reason)
    if pa.types.is_integer(t):
        ok = pc.is_in(arr, pa.array([0, 1], t))
        bad = _mask(pc.and_(pc.is_valid(arr), pc.invert(ok)))
        values = pc.if_else(ok, pc.not_equal(arr, pa.scalar(0, t)), pa.scalar(None, pa.bool_()))
        return _Converted(values, bad, _bool_reason)
    if _is_stringish(t):
        if arr.null_count == 0 and pc.all(pc.is_in(arr, _EXACT_BOOLS)).as_py():  # fast path
            return _Converted(pc.is_in(arr, _EXACT_TRUE), None, _bool_reason)
        s = pc.utf8_lower(_trimmed_text(arr))
        yes, no = pc.is_in(s, _TRUE), pc.is_in(s, _FALSE)
        ok = pc.or_(yes, no)
        bad = _mask(pc.and_(pc.is_valid(s), pc.invert(ok)))
        values = pc.if_else(ok, yes, pa.scalar(None, pa.bool_()))
        return _Converted(values, bad, _bool_reason)
    return _unsupported(arr, pa.bool_(), "a boolean")


def _ts_reason(v: Any) -> str:
    if isinstance(v, str):
        text = v.strip()
        if re.match(_DATE_RE, text) or re.match(_ZONED_RE, text) or re.match(_NAIVE_RE, text):
            return f"{_show(v)} is not a valid date/time"
    return f"{_show(v)} is not an ISO 8601 date or date-time (e.g. 2024-05-01T13:45:00Z)"


def _local_midnight(naive: pa.Array, tz: str) -> pa.Array:
    local = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")
    return local.cast(schemas.TS)


def _conv_ts(arr: pa.Array, col: _Col, tz: str) -> _Converted:
    t, n = arr.type, len(arr)
    ts = schemas.TS
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, ts), None, _ts_reason)
    if pa.types.is_timestamp(t):
        if t.tz is None:
            return _Converted(arr.cast(pa.timestamp("us"), safe=False).cast(ts), None, _ts_reason)
        return _Converted(arr.cast(ts, safe=False), None, _ts_reason)
    if pa.types.is_date(t):
        return _Converted(_local_midnight(arr.cast(pa.timestamp("us")), tz), None, _ts_reason)
    if not _is_stringish(t):
        return _unsupported(arr, ts, "a date/time")
    s = arr
    for attempt in range(2):
        if attempt:
            s = _trimmed_text(arr)
            if _any(pc.match_substring_regex(s, r"\.\d{7}")):
                s = pc.replace_substring_regex(s, r"(\.\d{6})\d+", r"\1")
        # Fast paths: every value has an offset, or none has one and none is a bare date. A failing
        # cast can be slow (Arrow tries every value), so the first value picks the one to try.
        if s.null_count == len(s):
            break
        sample = _first_value(s)
        if not sample:
            continue
        if re.match(_ZONED_RE, sample):
            try:
                return _Converted(pc.cast(s, ts), None, _ts_reason)
            except _BAD_CAST:
                pass
        elif re.match(_NAIVE_RE, sample):
            shortest = pc.min(pc.binary_length(s)).as_py()
            if shortest is not None and shortest > 10:
                try:
                    return _Converted(pc.cast(s, pa.timestamp("us")).cast(ts), None, _ts_reason)
                except _BAD_CAST:
                    pass
    null_s = pa.scalar(None, pa.string())
    zoned = pc.fill_null(pc.match_substring_regex(s, _ZONED_RE), False)
    naive = pc.fill_null(pc.match_substring_regex(s, _NAIVE_RE), False)
    date = pc.fill_null(pc.match_substring_regex(s, _DATE_RE), False)
    parts: list[pa.Array] = []
    failed: list[int] = []
    if _any(zoned):
        values, bad = _cast_each(pc.if_else(zoned, s, null_s), ts)
        parts.append(values)
        failed += bad
    if _any(naive):
        values, bad = _cast_each(pc.if_else(naive, s, null_s), pa.timestamp("us"))
        parts.append(values.cast(ts))
        failed += bad
    if _any(date):
        values, bad = _cast_each(pc.if_else(date, s, null_s), pa.timestamp("us"))
        parts.append(_local_midnight(values, tz))
        failed += bad
    matched = pc.or_(pc.or_(zoned, naive), date)
    bad = _or(_mask(pc.and_(pc.is_valid(s), pc.invert(matched))), _indices_mask(n, failed))
    values = pc.coalesce(*parts) if parts else pa.nulls(n, ts)
    return _Converted(values, bad, _ts_reason)


def _currency_reason(v: Any) -> str:
    return f"{_show(v)} is not a 3-letter currency code (ISO 4217, e.g. USD)"


def _conv_currency(arr: pa.Array, col: _Col) -> _Converted:
    t, n = arr.type, len(arr)
    if pa.types.is_null(t):
        return _Converted(pa.nulls(n, pa.string()), None, _currency_reason)
    if not _is_stringish(t):
        return _unsupported(arr, pa.string(), "a currency code")
    distinct = pc.unique(arr)
    if len(distinct) <= 64 and all(v is None or re.fullmatch(_CURRENCY_RE, v) for v in distinct.to_pylist()):
        return _Converted(arr.cast(pa.string()), None, _currency_reason)  # fast path: a few clean codes
    s = pc.utf8_upper(_trimmed_text(arr))
    ok = pc.match_substring_regex(s, _CURRENCY_RE)
    bad = _mask(pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False))))
    if bad is not None:
        s = pc.if_else(bad, pa.scalar(None, pa.string()), s)
    return _Converted(s, bad, _currency_reason)


def _tags_reason(v: Any) -> str:
    return f"{_show(v)} is not a list of text tags"


def _clean_tags(items: list[Any]) -> list[str]:
    out = []
    for item in items:
        text = str(item).strip()
        if text:
            out.append(text)
    return out


def _conv_tags(arr: pa.Array, col: _Col) -> _Converted:
    # Products are small (thousands of rows), so the tags are tidied in Python.
    t, n = arr.type, len(arr)
    target = pa.list_(pa.string())
    if pa.types.is_null(t):
        return _Converted(pa.array([[]] * n, target), None, _tags_reason)
    if _is_stringish(t):
        values = [[] if v is None else _clean_tags(v.split(",")) for v in arr.to_pylist()]
        return _Converted(pa.array(values, target), None, _tags_reason)
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t)) and (
        _is_stringish(t.value_type) or pa.types.is_integer(t.value_type) or pa.types.is_null(t.value_type)
    ):
        values = [[] if v is None else _clean_tags(x for x in v if x is not None) for v in arr.to_pylist()]
        return _Converted(pa.array(values, target), None, _tags_reason)
    conv = _unsupported(arr, target, "a list of text tags")
    conv.values = pa.array([[]] * n, target)
    return conv


def _convert(arr: pa.Array, col: _Col, tz: str) -> _Converted:
    kind = col.kind
    if kind in ("id", "text"):
        return _conv_text(arr, col)
    if kind == "int":
        return _conv_int(arr, col)
    if kind == "money":
        return _conv_money(arr, col)
    if kind == "bool":
        return _conv_bool(arr, col)
    if kind == "ts":
        return _conv_ts(arr, col, tz)
    if kind == "currency":
        return _conv_currency(arr, col)
    if kind == "tags":
        return _conv_tags(arr, col)
    raise AssertionError(kind)


def _utf8(arr: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Text as valid UTF-8 strings: invalid values -> null and flagged.

    CSV columns arrive as binary; JSON and Parquet readers do not always check UTF-8 either, so
    string columns are checked too (a zero-copy view plus a validating cast: cheap).
    """
    t = arr.type
    if pa.types.is_string(t):
        arr = arr.view(pa.binary())
    elif pa.types.is_large_string(t):
        arr = arr.view(pa.large_binary())
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        try:
            arr.validate(full=True)
            return arr, None
        except pa.ArrowInvalid:
            bad = []
            for i in range(len(arr)):
                try:
                    arr.slice(i, 1).validate(full=True)
                except pa.ArrowInvalid:
                    bad.append(i)
            mask = _indices_mask(len(arr), bad)
            return pc.if_else(mask, pa.scalar(None, t), arr), mask
    elif not _is_binaryish(t):
        return arr, None
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.cast(pa.binary())
    target = pa.large_string() if pa.types.is_large_binary(arr.type) else pa.string()
    values, bad = _cast_each(arr, target)
    return values, _indices_mask(len(arr), bad)


# -- the source --------------------------------------------------------------------------------------


class FilesSource:
    """Reads the canonical files (see the module docstring for the rules)."""

    name = "files"

    def __init__(
        self,
        path: str | Path,
        timezone: str = "UTC",
        currency: str = "USD",
        *,
        filesystem: pafs.FileSystem | None = None,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
        max_problems: int = MAX_PROBLEMS,
    ):
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadRequest(f"unknown timezone {timezone!r}; use an IANA name such as 'Europe/Berlin'") from exc
        if not re.fullmatch(r"[A-Za-z]{3}", currency or ""):
            raise BadRequest(f"store currency {currency!r} is not a 3-letter code such as 'USD'")
        self.timezone = timezone
        self.currency = currency.upper()
        self.memory_budget_bytes = memory_budget_bytes
        self.max_problems = max_problems
        self.display_path = str(path)
        if filesystem is not None:
            self.fs, self.root = filesystem, str(path).rstrip("/") or "/"
        else:
            self.fs, self.root = _filesystem_for(str(path))

    @classmethod
    def from_settings(cls, settings: Any, path: str | Path | None = None) -> "FilesSource":
        path = path if path not in (None, "") else getattr(settings, "sync_path", None)
        if not path:
            raise BadRequest(
                "the files source needs a folder to read: pass --path PATH or set sync_path "
                "(PERFTIERS_SYNC_PATH) to a folder or object-store prefix with products and order_lines files"
            )
        text = str(path)
        if urlparse(text).scheme in ("s3", "s3a"):
            filesystem, root = _s3_for(text, getattr(settings, "object_store_options", {}) or {})
            return cls(root, settings.timezone, settings.currency, filesystem=filesystem)
        return cls(path, settings.timezone, settings.currency)

    # -- public ------------------------------------------------------------------------------

    def extract(self) -> StoreExtract:
        product_files, line_files = self._discover()
        problems = _Problems(self.max_problems)

        products_pass = _Pass(self, _PRODUCTS, product_files, problems, retain_budget=None)
        products_pass.run()
        product_ids = products_pass.keys()

        lines_pass = _Pass(
            self, _ORDER_LINES, line_files, problems, retain_budget=self.memory_budget_bytes, known_ids=product_ids
        )
        lines_pass.run()

        products_pass.check_unique()
        lines_pass.check_unique()
        if problems.total:
            raise SourceRejected(self._resolve(problems), problems.total)

        products = pa.Table.from_batches(products_pass.retained, schema=schemas.PRODUCTS)
        counts = {
            "products": products.num_rows,
            "order_lines": lines_pass.rows,
            "unmapped_order_lines": lines_pass.unmapped,
            "product_files": len(product_files),
            "order_line_files": len(line_files),
        }
        if lines_pass.retained is not None:
            retained = lines_pass.retained

            def order_lines() -> Iterator[pa.RecordBatch]:
                yield from retained

        else:
            fingerprints = {f.path: (f.size, f.mtime) for f in line_files}

            def order_lines() -> Iterator[pa.RecordBatch]:
                yield from self._reread(line_files, fingerprints, product_ids)

        return StoreExtract(products=products, order_lines=order_lines, counts=counts)

    # -- discovery ---------------------------------------------------------------------------

    def _discover(self) -> tuple[list[_File], list[_File]]:
        info = self.fs.get_file_info(self.root)
        if info.type == pafs.FileType.NotFound:
            raise BadRequest(f"sync path {self.display_path!r} does not exist")
        if info.type != pafs.FileType.Directory:
            raise BadRequest(f"sync path {self.display_path!r} is not a folder")
        top = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=False))
        found: dict[str, list[_File]] = {}
        missing: list[str] = []
        for table in (_PRODUCTS.name, _ORDER_LINES.name):
            files: list[_File] = []
            for entry in top:
                base = entry.base_name
                if entry.type == pafs.FileType.File and base.lower().startswith(table) and not base.startswith((".", "_")):
                    files += self._file(entry)
            for entry in top:
                if entry.type == pafs.FileType.Directory and entry.base_name.lower() == table:
                    inner = self.fs.get_file_info(pafs.FileSelector(entry.path, recursive=True))
                    for sub in sorted(inner, key=lambda i: i.path):
                        rel = self._relative(sub.path)
                        if sub.type == pafs.FileType.File and not any(p.startswith((".", "_")) for p in rel.split("/")):
                            files += self._file(sub)
            files.sort(key=lambda f: f.name)
            for i, f in enumerate(files):
                f.index = i
                f.table_rank = 0 if table == _PRODUCTS.name else 1
            if not files:
                missing.append(
                    f"no {table} data: looked for {table}.csv, {table}.parquet or {table}.jsonl (also "
                    f"{table}*.csv|.parquet|.pq|.jsonl|.ndjson, text formats optionally .gz, and a {table}/ "
                    "folder of such files)"
                )
            found[table] = files
        if missing:
            raise BadRequest(f"{self.display_path!r} cannot be read: " + "; ".join(missing), details={"missing": missing})
        return found[_PRODUCTS.name], found[_ORDER_LINES.name]

    def _relative(self, path: str) -> str:
        root = self.root.rstrip("/")
        return path[len(root) + 1 :] if path.startswith(root + "/") else path

    def _file(self, info: pafs.FileInfo) -> list[_File]:
        fmt = _file_format(info.base_name)
        if fmt is None:
            return []
        return [_File(info.path, self._relative(info.path), fmt[0], fmt[1], info.size, info.mtime)]

    # -- reading ------------------------------------------------------------------------------

    def _open(self, f: _File):
        return self.fs.open_input_stream(f.path, compression=f.compression)

    def read(self, f: _File, table: _Table, problems: _Problems) -> Iterator[_RawBatch]:
        if f.fmt == "csv":
            return self._read_csv(f, table, problems)
        if f.fmt == "parquet":
            return self._read_parquet(f, table, problems)
        return self._read_jsonl(f, table, problems)

    def _read_csv(self, f: _File, table: _Table, problems: _Problems) -> Iterator[_RawBatch]:
        try:
            header = self._csv_header(f)
        except UnicodeDecodeError:
            problems.add(_Pending(f, "the header is not valid UTF-8 text (save the file as UTF-8)", line=1))
            return
        except (OSError, pa.ArrowException, csv.Error) as exc:
            problems.add(_Pending(f, f"cannot be read: {exc}", line=0))
            return
        if header is None:  # an empty file
            return
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            problems.add(_Pending(f, "the header has a single column: the file must be comma-separated", line=1))
        names = [h.strip().lower() for h in header]
        f.ncols = len(names)
        positions: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in table.names:
                if name in positions:
                    problems.add(_Pending(f, f"column {name!r} appears twice in the header", line=1))
                positions.setdefault(name, i)
        for col in table.columns:
            if col.required and col.name not in positions:
                problems.add(_Pending(f, f"missing required column {col.name!r}", line=1))
        if not positions:
            return
        generated = [f"c{i}" for i in range(len(names))]

        def on_invalid(row: Any) -> str:
            # Called from reader threads, maybe out of order: the line is found later by a scan.
            problems.add(_Pending(f, f"expected {row.expected_columns} columns, found {row.actual_columns}", badrow=0))
            return "skip"

        try:
            stream = self._open(f)
        except OSError as exc:
            problems.add(_Pending(f, f"cannot be read: {exc}", line=0))
            return
        first_row = 0
        try:
            reader = pcsv.open_csv(
                stream,
                read_options=pcsv.ReadOptions(
                    use_threads=True, block_size=CSV_BLOCK_SIZE, column_names=generated, skip_rows=1
                ),
                parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(
                    column_types={g: pa.binary() for g in generated},
                    strings_can_be_null=False,
                    check_utf8=False,
                ),
            )
            last = None
            for batch in reader:
                if batch.num_rows:
                    last = batch
                columns = {name: batch.column(generated[i]) for name, i in positions.items()}
                for col in table.columns:
                    columns.setdefault(col.name, None)
                yield _RawBatch(columns, batch.num_rows, first_row)
                first_row += batch.num_rows
            # A quote that is never closed swallows the rest of the file into one value of the
            # last row; CSV readers accept that silently. Look closer only in that case.
            if last is not None and any(
                v is not None and (b"\n" in v or b"\r" in v) for v in (c[-1].as_py() for c in last.columns)
            ):
                line = self._csv_open_quote(f)
                if line:
                    problems.add(
                        _Pending(f, 'a quoted value that starts on this line is never closed (a stray " character?)', line=line)
                    )
        except (pa.ArrowException, OSError) as exc:
            problems.add(_Pending(f, f"cannot be read as CSV after data row {first_row}: {exc}", line=0))
        finally:
            stream.close()

    def _csv_open_quote(self, f: _File) -> int | None:
        """The line where the record with an unclosed quote starts, if there is one."""
        try:
            with self._open(f) as stream:
                text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
                _raise_csv_field_limit()
                reader = csv.reader(text, strict=True)
                end = 0
                try:
                    for _ in reader:
                        end = reader.line_num
                except csv.Error as exc:
                    if "unexpected end of data" in str(exc):
                        return end + 1
        except OSError:
            pass
        return None

    def _csv_header(self, f: _File) -> list[str] | None:
        with self._open(f) as stream:
            data = b""
            while b"\n" not in data:
                chunk = stream.read(1 << 16)
                if not chunk:
                    break
                data += chunk
                if len(data) > 16 << 20:
                    break
        line = data.split(b"\n", 1)[0]
        text = line.decode("utf-8-sig").rstrip("\r")
        if not text.strip():
            if not data.strip():
                return None
        return next(csv.reader([text]), [])

    def _read_parquet(self, f: _File, table: _Table, problems: _Problems) -> Iterator[_RawBatch]:
        try:
            handle = self.fs.open_input_file(f.path)
        except OSError as exc:
            problems.add(_Pending(f, f"cannot be read: {exc}", line=0))
            return
        first_row = 0
        try:
            try:
                parquet = pq.ParquetFile(handle)
            except (pa.ArrowException, OSError) as exc:
                problems.add(_Pending(f, f"is not a readable Parquet file ({exc})", line=0))
                return
            actual: dict[str, str] = {}
            for name in parquet.schema_arrow.names:
                key = name.strip().lower()
                if key in table.names:
                    if key in actual:
                        problems.add(_Pending(f, f"column {key!r} appears twice", line=0))
                        continue
                    actual[key] = name
            for col in table.columns:
                if col.required and col.name not in actual:
                    problems.add(_Pending(f, f"missing required column {col.name!r}", line=0))
            if not actual:
                return
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=list(actual.values()), use_threads=True):
                columns = {key: _decode(batch.column(name)) for key, name in actual.items()}
                for col in table.columns:
                    columns.setdefault(col.name, None)
                yield _RawBatch(columns, batch.num_rows, first_row)
                first_row += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            problems.add(_Pending(f, f"cannot be read after row {first_row} ({exc})", line=0))
        finally:
            handle.close()

    def _read_jsonl(self, f: _File, table: _Table, problems: _Problems) -> Iterator[_RawBatch]:
        # Fast path: pyarrow's JSON reader (text columns forced to strings so that dates are not
        # guessed). If it gives up midway (mixed types, a malformed line...), the rest of the file is
        # read line by line, skipping the rows already handed on.
        explicit = pa.schema([(c.name, pa.string()) for c in table.columns if c.kind in ("id", "text", "ts", "currency")])
        done = 0
        try:
            stream = self._open(f)
        except OSError as exc:
            problems.add(_Pending(f, f"cannot be read: {exc}", line=0))
            return
        try:
            reader = pjson.open_json(
                stream,
                read_options=pjson.ReadOptions(use_threads=True, block_size=JSON_BLOCK_SIZE),
                parse_options=pjson.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer"),
            )
            lowered = [n.strip().lower() for n in reader.schema.names]
            if len(set(lowered)) != len(lowered):
                raise pa.ArrowInvalid("duplicate keys after normalisation")
            for batch in reader:
                columns: dict[str, pa.Array | None] = {}
                for name, arr in zip(lowered, batch.columns):
                    if name in table.names:
                        columns[name] = _decode(arr)
                for col in table.columns:
                    if col.name not in columns:
                        columns[col.name] = pa.nulls(batch.num_rows)
                yield _RawBatch(columns, batch.num_rows, done)
                done += batch.num_rows
            return
        except (pa.ArrowException, OSError):
            pass
        finally:
            stream.close()
        yield from self._read_jsonl_lines(f, table, problems, skip_rows=done)

    def _read_jsonl_lines(self, f: _File, table: _Table, problems: _Problems, skip_rows: int) -> Iterator[_RawBatch]:
        f.row_lines = []
        chunk = JSON_LINES_CHUNK
        values: dict[str, list[Any]] = {c.name: [] for c in table.columns}
        reasons: dict[str, dict[int, str]] = {}
        first_row = skip_rows
        rows = 0
        seen = 0
        try:
            stream = self._open(f)
        except OSError as exc:
            problems.add(_Pending(f, f"cannot be read: {exc}", line=0))
            return

        def flush() -> _RawBatch:
            columns = {c.name: _py_array(values[c.name], c) for c in table.columns}
            batch = _RawBatch(columns, rows, first_row, {k: dict(v) for k, v in reasons.items()})
            for c in table.columns:
                values[c.name] = []
            reasons.clear()
            return batch

        try:
            lineno = 0
            for raw in _lines(stream):
                lineno += 1
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                body = raw.rstrip(b"\r\n")
                seen += 1
                if seen <= skip_rows:
                    f.row_lines.append(lineno)
                    continue
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problems.add(_Pending(f, f"not valid UTF-8 text (byte 0x{body[exc.start]:02x} at column {exc.start + 1})", line=lineno))
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    problems.add(_Pending(f, f"malformed JSON: {exc.msg} (column {exc.colno})", line=lineno))
                    continue
                if not isinstance(obj, dict):
                    problems.add(_Pending(f, f"expected a JSON object, found {type(obj).__name__}", line=lineno))
                    continue
                obj = {str(k).strip().lower(): v for k, v in obj.items()}
                for col in table.columns:
                    v = obj.get(col.name)
                    if isinstance(v, dict) or (isinstance(v, list) and col.kind != "tags"):
                        kind = "object" if isinstance(v, dict) else "array"
                        reasons.setdefault(col.name, {})[rows] = f"expected a single value, found a JSON {kind}"
                        v = None
                    elif col.kind == "tags" and isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
                        reasons.setdefault(col.name, {})[rows] = "tags must be text"
                        v = None
                    elif col.kind == "tags" and isinstance(v, str):
                        v = v.split(",")
                    elif col.kind == "tags" and v is not None and not isinstance(v, list):
                        v = [v]
                    values[col.name].append(v)
                f.row_lines.append(lineno)
                rows += 1
                if rows >= chunk:
                    yield flush()
                    first_row += rows
                    rows = 0
            if rows:
                yield flush()
        except OSError as exc:
            problems.add(_Pending(f, f"cannot be read: {exc}", line=0))
        finally:
            stream.close()

    def _reread(self, files: list[_File], fingerprints: dict[str, tuple[int, Any]], product_ids: pa.Array) -> Iterator[pa.RecordBatch]:
        for f in files:
            info = self.fs.get_file_info(f.path)
            if (info.size, info.mtime) != fingerprints[f.path]:
                raise ValidationFailed(
                    f"{f.name} changed while the sync was reading it; nothing was written. Run the sync again.",
                    details={"file": f.name},
                )
        problems = _Problems(self.max_problems)
        second = _Pass(self, _ORDER_LINES, files, problems, retain_budget=None, known_ids=product_ids, stream=True)
        yield from second.iterate()
        if problems.total:
            raise SourceRejected(self._resolve(problems), problems.total)

    # -- problem positions --------------------------------------------------------------------

    def _resolve(self, problems: _Problems) -> list[RowProblem]:
        """Turn the kept problems into `FileProblem`s with physical line numbers, in file order."""
        rows_wanted: dict[int, tuple[_File, set[int]]] = {}
        bad_wanted: dict[int, tuple[_File, int]] = {}
        for p in problems.kept:
            if p.line is None and p.row is not None:
                rows_wanted.setdefault(id(p.file), (p.file, set()))[1].add(p.row)
            if p.line is None and p.badrow is not None:
                f, k = bad_wanted.get(id(p.file), (p.file, 0))
                bad_wanted[id(p.file)] = (f, k + 1)
        located: dict[int, dict[int, tuple[int, str]]] = {}
        bad_located: dict[int, list[tuple[int, int]]] = {}
        for key in set(rows_wanted) | set(bad_wanted):
            f = (rows_wanted.get(key) or bad_wanted[key])[0]
            rows = rows_wanted.get(key, (f, set()))[1]
            n_bad = bad_wanted.get(key, (f, 0))[1]
            located[key], bad_located[key] = self._locate(f, rows, n_bad)
        seen_bad: dict[int, int] = {}
        out: list[tuple[tuple[Any, ...], FileProblem]] = []
        for order, p in enumerate(problems.kept):
            f = p.file
            unit, reason = f.unit, p.reason
            if p.line is not None:
                line = p.line
                if line == 0:
                    unit = "file"
            elif p.row is not None:
                line, unit = located[id(f)].get(p.row, (p.row + 1, "row"))
            else:
                k = seen_bad.get(id(f), 0)
                seen_bad[id(f)] = k + 1
                found = bad_located[id(f)]
                if k < len(found):
                    line, actual = found[k]
                    reason = f"expected {f.ncols} columns, found {actual}"
                else:
                    line, unit = 0, "file"
            out.append(((f.table_rank, f.index, line, order), FileProblem(f.name, line, reason, unit)))
        out.sort(key=lambda item: item[0])
        return [problem for _, problem in out]

    def locate_rows(self, f: _File, rows: set[int]) -> dict[int, tuple[int, str]]:
        return self._locate(f, rows, 0)[0]

    def _locate(self, f: _File, rows: set[int], n_bad: int) -> tuple[dict[int, tuple[int, str]], list[tuple[int, int]]]:
        """Physical lines of data rows (by index), and of the first `n_bad` CSV records with a
        wrong number of fields (line, fields found). One scan of the file, only on failure."""
        if f.fmt == "parquet":
            return {r: (r + 1, "row") for r in rows}, []
        if f.row_lines is not None:
            return {r: (f.row_lines[r], "line") for r in rows if r < len(f.row_lines)}, []
        row_map: dict[int, tuple[int, str]] = {}
        bad_found: list[tuple[int, int]] = []
        last_row = max(rows, default=-1)
        try:
            with self._open(f) as stream:
                if f.fmt == "jsonl":
                    row = 0
                    for lineno, raw in enumerate(_lines(stream), start=1):
                        if raw.strip():
                            if row in rows:
                                row_map[row] = (lineno, "line")
                            row += 1
                            if row > last_row:
                                break
                    return row_map, bad_found
                text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
                _raise_csv_field_limit()
                reader = csv.reader(text)
                if next(reader, None) is None:
                    return row_map, bad_found
                end = reader.line_num
                row = 0
                for record in reader:
                    start, end = end + 1, reader.line_num
                    if not record:
                        continue
                    if len(record) != f.ncols:
                        if len(bad_found) < n_bad:
                            bad_found.append((start, len(record)))
                    else:
                        if row in rows:
                            row_map[row] = (start, "line")
                        row += 1
                    if row > last_row and len(bad_found) >= n_bad:
                        break
        except (OSError, csv.Error, pa.ArrowException):
            pass
        return row_map, bad_found


class _Pass:
    """One validating (and converting) pass over the files of one table."""

    def __init__(
        self,
        source: FilesSource,
        table: _Table,
        files: list[_File],
        problems: _Problems,
        retain_budget: int | None,
        known_ids: pa.Array | None = None,
        stream: bool = False,
    ):
        self.source, self.table, self.files, self.problems = source, table, files, problems
        self.retain_budget = retain_budget
        self.known_ids = known_ids
        self.stream = stream
        self.retained: list[pa.RecordBatch] | None = []
        self.retained_bytes = 0
        self.rows = 0
        self.unmapped = 0
        # for the uniqueness check: key chunks and where they came from
        self.key_chunks: list[pa.Array] = []
        self.key_origin: list[tuple[_File, int]] = []  # (file, first data row of the chunk)

    def run(self) -> None:
        for _ in self.iterate():
            pass

    def iterate(self) -> Iterator[pa.RecordBatch]:
        for f in self.files:
            for raw in self.source.read(f, self.table, self.problems):
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

    def _batch(self, f: _File, raw: _RawBatch) -> pa.RecordBatch | None:
        n = raw.num_rows
        tz = self.source.timezone
        values: dict[str, pa.Array] = {}
        checks: list[tuple[pa.Array, Callable[[int], str]]] = []

        for col in self.table.columns:
            arr = raw.columns.get(col.name)
            if arr is None:  # column absent from the file
                values[col.name] = pa.nulls(n, self.table.schema.field(col.name).type)
                continue
            arr = _decode(arr)
            shown = arr  # for messages; string columns may hold bad UTF-8, so show their bytes
            if pa.types.is_string(arr.type):
                shown = arr.view(pa.binary())
            elif pa.types.is_large_string(arr.type):
                shown = arr.view(pa.large_binary())
            arr, not_utf8 = _utf8(arr)
            if not_utf8 is not None:
                checks.append((not_utf8, _reason(col.name, shown, lambda v: f"{_show(v)} is not valid UTF-8 text")))
            found = raw.column_problems.get(col.name)
            read_bad = _indices_mask(n, sorted(found)) if found else None
            if found:
                checks.append((read_bad, lambda i, name=col.name, found=found: f"{name}: {found[i]}"))
            conv = _convert(arr, col, tz)
            values[col.name] = conv.values
            if conv.bad is not None:
                checks.append((conv.bad, _reason(col.name, arr, conv.why)))
            if col.required:
                missing = pc.is_null(conv.values)
                for mask in (not_utf8, read_bad, conv.bad):
                    if mask is not None:
                        missing = pc.and_(missing, pc.invert(mask))
                missing = _mask(missing)
                if missing is not None:
                    checks.append((missing, _const(f"{col.name}: missing value")))

        if self.table is _ORDER_LINES:
            checks += self._order_line_checks(values, raw)

        bad = None
        for mask, _ in checks:
            bad = _or(bad, mask)
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
                self.problems.add(_Pending(f, "; ".join(reasons), **_where(f, raw.first_row + i)))
            self.problems.count(n_bad - len(rows))
        if self.problems.total:
            return None

        # defaults and output batch
        for col in self.table.columns:
            default = col.default
            if col.kind == "currency":
                default = self.source.currency
            if default is not None and values[col.name].null_count:
                values[col.name] = pc.fill_null(values[col.name], pa.scalar(default, self.table.schema.field(col.name).type))
        if self.table is _PRODUCTS and values["tags"].null_count:
            values["tags"] = pc.if_else(pc.is_null(values["tags"]), pa.scalar([], pa.list_(pa.string())), values["tags"])
        if self.table is _ORDER_LINES and self.known_ids is not None:
            self.unmapped += n - int(pc.sum(pc.is_in(values["artifact_id"], value_set=self.known_ids)).as_py() or 0)
        self.rows += n
        return pa.RecordBatch.from_arrays([values[name] for name in self.table.schema.names], schema=self.table.schema)

    def _order_line_checks(self, values: dict[str, pa.Array], raw: _RawBatch) -> list[tuple[pa.Array, Callable[[int], str]]]:
        out: list[tuple[pa.Array, Callable[[int], str]]] = []
        qty, refunded = values["quantity"], values["refunded_quantity"]
        price, discount = values["unit_price"], values["discount"]
        zero = pa.scalar(Decimal(0), schemas.MONEY)

        def add(expr: pa.Array, why: Callable[[int], str]) -> None:
            mask = _mask(expr)
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

        def origin(i: int) -> tuple[_File, int]:
            c = bisect.bisect_right(starts, i) - 1
            f, first_row = self.key_origin[c]
            return f, first_row + (i - starts[c])

        wanted: dict[int, tuple[_File, set[int]]] = {}
        for rec in shown:
            f, row = origin(rec["first"])
            wanted.setdefault(id(f), (f, set()))[1].add(row)
        located = {key: self.source.locate_rows(f, rows) for key, (f, rows) in wanted.items()}
        for rec in shown:
            f, row = origin(rec["i"])
            first_file, first_row = origin(rec["first"])
            line, unit = located[id(first_file)].get(first_row, (first_row + 1, "row"))
            where = f"{unit} {line} of {first_file.name}"
            self.problems.add(_Pending(f, f"{self.table.key} {rec['k']!r} duplicates {where}", **_where(f, row)))


def _where(f: _File, row: int) -> dict[str, int]:
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


def _py_array(values: list[Any], col: _Col) -> pa.Array:
    """A column of Python values from JSON lines; mixed scalar types fall back to their text."""
    if col.kind == "tags":
        return pa.array([None if v is None else [None if x is None else str(x) for x in v] for v in values], pa.list_(pa.string()))
    if col.kind in ("id", "text", "ts", "currency"):
        if all(v is None or isinstance(v, str) for v in values):
            return pa.array(values, pa.string())
    else:
        try:
            return pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass
    return pa.array([_py_text(v) for v in values], pa.string())


def _py_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _lines(stream: Any) -> Iterator[bytes]:
    buffer = io.BufferedReader(_RawStream(stream), buffer_size=1 << 20)
    yield from buffer


class _RawStream(io.RawIOBase):
    def __init__(self, stream: Any):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.stream.read(len(b))
        b[: len(data)] = data
        return len(data)


def _raise_csv_field_limit() -> None:
    limit = csv.field_size_limit()
    if limit < 1 << 30:
        csv.field_size_limit(min(sys.maxsize, 1 << 30))


def _filesystem_for(path: str) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(path)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and sys.platform == "win32"):
        local = parsed.path if parsed.scheme == "file" else path
        return pafs.LocalFileSystem(), str(Path(local).expanduser().resolve())
    try:
        filesystem, root = pafs.FileSystem.from_uri(path)
    except (pa.ArrowException, ValueError) as exc:
        raise BadRequest(f"cannot open sync path {path!r}: {exc}") from exc
    return filesystem, root.rstrip("/")


def _s3_for(uri: str, opts: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(uri)
    endpoint = opts.get("endpoint")
    scheme = "https"
    if endpoint and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    filesystem = pafs.S3FileSystem(
        access_key=opts.get("access_key_id"),
        secret_key=opts.get("secret_access_key"),
        region=opts.get("region", "auto"),
        endpoint_override=endpoint,
        scheme=scheme,
        force_virtual_addressing=str(opts.get("path_style", "true")).lower() != "true",
    )
    return filesystem, f"{parsed.netloc}{parsed.path}".rstrip("/")
