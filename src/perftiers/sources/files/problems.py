"""Problems found while reading: kept (up to a limit) while the passes run, all counted."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from perftiers.sources.base import RowProblem
from perftiers.sources.files import MAX_PROBLEMS
from perftiers.sources.files.discover import _File


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
