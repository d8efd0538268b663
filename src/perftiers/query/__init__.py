"""The serving engine: DuckDB tables over the current Iceberg snapshots, and the reads over them.

In:  `measurement.performance`, `raw.products`, `raw.order_lines` (current snapshots).
Out: list / summary / facets / export / commerce answers (`performance`, `commerce`), all filtered
     through the declarative table in `filters`. Read-only: manual edits are `perftiers.refresh.edits`.
"""
