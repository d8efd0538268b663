"""Reading CSV, Parquet and JSON Lines files into raw column batches (`RawBatch`).

Readers keep only the known columns, as read; problems with the file itself (header, columns,
malformed lines) go to `Problems`. Converting and checking the values is `validate`'s job.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from perftiers.sources.files import model as tuning  # block sizes, looked up at call time
from perftiers.sources.files.arrays import decode
from perftiers.sources.files.model import Column, DataFile, Pending, Problems, RawBatch, Table


def open_file(fs: pafs.FileSystem, f: DataFile):
    return fs.open_input_stream(f.path, compression=f.compression)


def read(fs: pafs.FileSystem, f: DataFile, table: Table, problems: Problems) -> Iterator[RawBatch]:
    """Raw batches of the known columns of `f`, in row order; file-level problems go to `problems`."""
    if f.fmt == "csv":
        return _read_csv(fs, f, table, problems)
    if f.fmt == "parquet":
        return _read_parquet(fs, f, table, problems)
    return _read_jsonl(fs, f, table, problems)


def _read_csv(fs: pafs.FileSystem, f: DataFile, table: Table, problems: Problems) -> Iterator[RawBatch]:
    try:
        header = _csv_header(fs, f)
    except UnicodeDecodeError:
        problems.add(Pending(f, "the header is not valid UTF-8 text (save the file as UTF-8)", line=1))
        return
    except (OSError, pa.ArrowException, csv.Error) as exc:
        problems.add(Pending(f, f"cannot be read: {exc}", line=0))
        return
    if header is None:  # an empty file
        return
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        problems.add(Pending(f, "the header has a single column: the file must be comma-separated", line=1))
    if len(header) > tuning.MAX_CSV_COLUMNS:
        problems.add(Pending(f, f"the header has {len(header):,} columns; files with more than "
                                 f"{tuning.MAX_CSV_COLUMNS:,} are not read (is this the right file?)", line=1))
        return
    names = [h.strip().lower() for h in header]
    f.ncols = len(names)
    positions: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in table.names:
            if name in positions:
                problems.add(Pending(f, f"column {name!r} appears twice in the header", line=1))
            positions.setdefault(name, i)
    for col in table.columns:
        if col.required and col.name not in positions:
            problems.add(Pending(f, f"missing required column {col.name!r}", line=1))
    if not positions:
        return
    generated = [f"c{i}" for i in range(len(names))]

    def on_invalid(row: Any) -> str:
        # Called from reader threads, maybe out of order: the line is found later by a scan.
        problems.add(Pending(f, f"expected {row.expected_columns} columns, found {row.actual_columns}", badrow=0))
        return "skip"

    try:
        stream = open_file(fs, f)
    except OSError as exc:
        problems.add(Pending(f, f"cannot be read: {exc}", line=0))
        return
    first_row = 0
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(
                use_threads=True, block_size=tuning.CSV_BLOCK_SIZE, column_names=generated, skip_rows=1
            ),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={generated[i]: pa.binary() for i in positions.values()},
                include_columns=[generated[i] for i in positions.values()],  # unknown columns: parsed, not kept
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
            yield RawBatch(columns, batch.num_rows, first_row)
            first_row += batch.num_rows
        # A quote that is never closed swallows the rest of the file into one value of the
        # last row; CSV readers accept that silently. Look closer only in that case.
        if last is not None and any(
            v is not None and (b"\n" in v or b"\r" in v) for v in (c[-1].as_py() for c in last.columns)
        ):
            line = _csv_open_quote(fs, f)
            if line:
                problems.add(
                    Pending(f, 'a quoted value that starts on this line is never closed (a stray " character?)', line=line)
                )
    except (pa.ArrowException, OSError) as exc:
        problems.add(Pending(f, f"cannot be read as CSV after data row {first_row}: {exc}", line=0))
    finally:
        stream.close()


def _csv_open_quote(fs: pafs.FileSystem, f: DataFile) -> int | None:
    """The line where the record with an unclosed quote starts, if there is one."""
    try:
        with open_file(fs, f) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
            raise_csv_field_limit()
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


def _csv_header(fs: pafs.FileSystem, f: DataFile) -> list[str] | None:
    with open_file(fs, f) as stream:
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


def _read_parquet(fs: pafs.FileSystem, f: DataFile, table: Table, problems: Problems) -> Iterator[RawBatch]:
    try:
        handle = fs.open_input_file(f.path)
    except OSError as exc:
        problems.add(Pending(f, f"cannot be read: {exc}", line=0))
        return
    first_row = 0
    try:
        try:
            parquet = pq.ParquetFile(handle)
        except (pa.ArrowException, OSError) as exc:
            problems.add(Pending(f, f"is not a readable Parquet file ({exc})", line=0))
            return
        actual: dict[str, str] = {}
        for name in parquet.schema_arrow.names:
            key = name.strip().lower()
            if key in table.names:
                if key in actual:
                    problems.add(Pending(f, f"column {key!r} appears twice", line=0))
                    continue
                actual[key] = name
        for col in table.columns:
            if col.required and col.name not in actual:
                problems.add(Pending(f, f"missing required column {col.name!r}", line=0))
        if not actual:
            return
        for batch in parquet.iter_batches(batch_size=tuning.PARQUET_BATCH_ROWS, columns=list(actual.values()), use_threads=True):
            columns = {key: decode(batch.column(name)) for key, name in actual.items()}
            for col in table.columns:
                columns.setdefault(col.name, None)
            yield RawBatch(columns, batch.num_rows, first_row)
            first_row += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        problems.add(Pending(f, f"cannot be read after row {first_row} ({exc})", line=0))
    finally:
        handle.close()


def _read_jsonl(fs: pafs.FileSystem, f: DataFile, table: Table, problems: Problems) -> Iterator[RawBatch]:
    # Fast path: pyarrow's JSON reader (text columns forced to strings so that dates are not
    # guessed). If it gives up midway (mixed types, a malformed line...), the rest of the file is
    # read line by line, skipping the rows already handed on.
    explicit = pa.schema([(c.name, pa.string()) for c in table.columns if c.kind in ("id", "text", "ts", "currency")])
    done = 0
    try:
        if _nested_too_deep(fs, f, tuning.MAX_JSON_DEPTH):  # pyarrow's type inference crashes (SIGSEGV)
            yield from _read_jsonl_lines(fs, f, table, problems, skip_rows=0)
            return
        stream = open_file(fs, f)
    except OSError as exc:
        problems.add(Pending(f, f"cannot be read: {exc}", line=0))
        return
    try:
        reader = pjson.open_json(
            stream,
            read_options=pjson.ReadOptions(use_threads=True, block_size=tuning.JSON_BLOCK_SIZE),
            parse_options=pjson.ParseOptions(explicit_schema=explicit, unexpected_field_behavior="infer"),
        )
        lowered = [n.strip().lower() for n in reader.schema.names]
        if len(set(lowered)) != len(lowered):
            raise pa.ArrowInvalid("duplicate keys after normalisation")
        for batch in reader:
            columns: dict[str, pa.Array | None] = {}
            for name, arr in zip(lowered, batch.columns):
                if name in table.names:
                    columns[name] = decode(arr)
            for col in table.columns:
                if col.name not in columns:
                    columns[col.name] = pa.nulls(batch.num_rows)
            yield RawBatch(columns, batch.num_rows, done)
            done += batch.num_rows
        return
    except (pa.ArrowException, OSError):
        pass
    finally:
        stream.close()
    yield from _read_jsonl_lines(fs, f, table, problems, skip_rows=done)


def _nested_too_deep(fs: pafs.FileSystem, f: DataFile, limit: int) -> bool:
    """Whether some line nests `[` / `{` deeper than `limit` (brackets inside strings count too:
    a false alarm only costs the slower line-by-line reader, which reports real depth problems).
    Vectorised over the brackets only: about 0.1 s per 100 MB."""
    import numpy as np

    carry = 0  # depth at the end of the previous chunk, within its last line
    with open_file(fs, f) as stream:
        while chunk := stream.read(8 << 20):
            a = np.frombuffer(chunk, dtype=np.uint8)
            where = np.flatnonzero((a == 0x5B) | (a == 0x7B) | (a == 0x5D) | (a == 0x7D))
            newlines = np.flatnonzero(a == 0x0A)
            if where.size:
                step = np.where((a[where] == 0x5B) | (a[where] == 0x7B), 1, -1)
                line = np.searchsorted(newlines, where)  # brackets in the same line share a number
                depth = np.cumsum(step)
                first = np.r_[True, line[1:] != line[:-1]]
                start = np.maximum.accumulate(np.where(first, np.arange(where.size), 0))
                depth = depth - depth[start] + step[start] + np.where(line == 0, carry, 0)
                if int(depth.max()) > limit:
                    return True
                tail = line == newlines.size  # brackets after the chunk's last newline
                carry = int(depth[tail][-1]) if tail.any() else (0 if newlines.size else carry)
            elif newlines.size:
                carry = 0
    return False


def _read_jsonl_lines(fs: pafs.FileSystem, f: DataFile, table: Table, problems: Problems, skip_rows: int) -> Iterator[RawBatch]:
    f.row_lines = []
    chunk = tuning.JSON_LINES_CHUNK
    values: dict[str, list[Any]] = {c.name: [] for c in table.columns}
    reasons: dict[str, dict[int, str]] = {}
    first_row = skip_rows
    rows = 0
    seen = 0
    try:
        stream = open_file(fs, f)
    except OSError as exc:
        problems.add(Pending(f, f"cannot be read: {exc}", line=0))
        return

    def flush() -> RawBatch:
        columns = {c.name: _py_array(values[c.name], c) for c in table.columns}
        batch = RawBatch(columns, rows, first_row, {k: dict(v) for k, v in reasons.items()})
        for c in table.columns:
            values[c.name] = []
        reasons.clear()
        return batch

    try:
        lineno = 0
        for raw in read_lines(stream, tuning.MAX_LINE_BYTES):
            lineno += 1
            if raw is None:
                seen += 1
                if seen > skip_rows:
                    problems.add(Pending(f, f"the line is longer than {tuning.MAX_LINE_BYTES >> 20} MiB", line=lineno))
                continue
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
                problems.add(Pending(f, f"not valid UTF-8 text (byte 0x{body[exc.start]:02x} at column {exc.start + 1})", line=lineno))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.add(Pending(f, f"malformed JSON: {exc.msg} (column {exc.colno})", line=lineno))
                continue
            except RecursionError:
                problems.add(Pending(f, "the JSON is nested too deeply", line=lineno))
                continue
            if not isinstance(obj, dict):
                problems.add(Pending(f, f"expected a JSON object, found {type(obj).__name__}", line=lineno))
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
        problems.add(Pending(f, f"cannot be read: {exc}", line=0))
    finally:
        stream.close()


def _py_array(values: list[Any], col: Column) -> pa.Array:
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


def read_lines(stream: Any, max_bytes: int | None = None) -> Iterator[bytes | None]:
    """The stream's lines; with `max_bytes`, a longer line is skipped (never held in memory) and
    given as None."""
    buffer = io.BufferedReader(_RawStream(stream), buffer_size=1 << 20)
    if max_bytes is None:
        yield from buffer
        return
    while line := buffer.readline(max_bytes):
        if len(line) < max_bytes or line.endswith(b"\n"):
            yield line
            continue
        while (rest := buffer.readline(max_bytes)) and not rest.endswith(b"\n"):
            pass
        yield None


class _RawStream(io.RawIOBase):
    def __init__(self, stream: Any):
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.stream.read(len(b))
        b[: len(data)] = data
        return len(data)


def raise_csv_field_limit() -> None:
    limit = csv.field_size_limit()
    if limit < 1 << 30:
        csv.field_size_limit(min(sys.maxsize, 1 << 30))
