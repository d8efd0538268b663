"""The `files` source: products and order lines from CSV, Parquet or JSON Lines files.

This is perftiers' canonical input format. A folder (or object-store prefix)
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

Layout, each module importing only those above it:

    model      the shared types: tunables, the two tables, a file, a raw batch, the problems kept
    arrays     vectorised helpers over pyarrow arrays (masks, tolerant casts, text clean-up)
    discover   finds the files of each table
    convert    raw columns -> the canonical Arrow types, and why a value is unusable
    reading    each format -> raw column batches
    positions  the physical lines of the rows that failed, found only on failure
    validate   one checking and converting pass over a table's files (`TablePass`)
    source     `FilesSource`: runs the passes within the memory budget
"""

from __future__ import annotations

from perftiers.sources.files.model import FileProblem
from perftiers.sources.files.source import FilesSource

__all__ = ["FileProblem", "FilesSource"]
