"""Where the problems are: physical line numbers of failed rows, found only on failure."""

from __future__ import annotations

import csv
import io
from typing import Any

import pyarrow as pa
from pyarrow import fs as pafs

from perftiers.sources.base import RowProblem
from perftiers.sources.files.model import DataFile, FileProblem, Problems
from perftiers.sources.files.reading import open_file, raise_csv_field_limit, read_lines


def resolve(fs: pafs.FileSystem, problems: Problems) -> list[RowProblem]:
    """Turn the kept problems into `FileProblem`s with physical line numbers, in file order."""
    rows_wanted: dict[int, tuple[DataFile, set[int]]] = {}
    bad_wanted: dict[int, tuple[DataFile, int]] = {}
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
        located[key], bad_located[key] = locate(fs, f, rows, n_bad)
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


def locate(fs: pafs.FileSystem, f: DataFile, rows: set[int], n_bad: int) -> tuple[dict[int, tuple[int, str]], list[tuple[int, int]]]:
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
        with open_file(fs, f) as stream:
            if f.fmt == "jsonl":
                row = 0
                for lineno, raw in enumerate(read_lines(stream), start=1):
                    if raw.strip():
                        if row in rows:
                            row_map[row] = (lineno, "line")
                        row += 1
                        if row > last_row:
                            break
                return row_map, bad_found
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
            raise_csv_field_limit()
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
