"""What every store source hands to the sync.

A source returns a `StoreExtract`: the full product table and an iterator of order-line record
batches, both in the canonical Arrow schemas of `perftiers.lakehouse.schemas`. Sources validate
their own input and raise `SourceRejected` (with every problem found) before yielding anything
that could be written, so a bad input never changes a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import pyarrow as pa

from perftiers.errors import ValidationFailed


@dataclass(frozen=True)
class RowProblem:
    """One rejected input row: where it is and why it was refused."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class SourceRejected(ValidationFailed):
    """The input has bad rows; nothing was written."""

    code = "source_rejected"

    def __init__(self, problems: list[RowProblem], total: int | None = None):
        self.problems = problems[:100]
        self.total = total if total is not None else len(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  ... {self.total - 20} more" if self.total > 20 else ""
        super().__init__(
            f"{self.total} bad row(s); nothing was written. Fix the input and run the sync again.\n{shown}{more}",
            details={"problems": [p.__dict__ for p in self.problems], "total": self.total},
        )


@dataclass
class StoreExtract:
    """Everything one sync reads from a store."""

    products: pa.Table
    order_lines: Callable[[], Iterator[pa.RecordBatch]]
    """Called once by the sync; yields batches in `schemas.ORDER_LINES`."""
    counts: dict[str, Any] = field(default_factory=dict)
    """Extra counts for telemetry (e.g. unmapped lines; a list of examples may ride along).
    Read after `order_lines` is exhausted, so a source may fill it in while it yields."""
    on_committed: Callable[[], None] | None = None
    """Called by the sync once every row of this extract is committed (incremental sources move
    their saved position here, never earlier)."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should act on that do not stop the sync; the run record lists them."""


class Source(Protocol):
    name: str

    def extract(self) -> StoreExtract: ...
