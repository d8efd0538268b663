"""The mart refresh and every other write to the mart.

`mart`: raw tables -> classified `measurement.performance` and `measurement.daily_sales`.
`edits`: manual changes to `measurement.performance` (the API's POST / PUT / DELETE).
`overrides_sql`: the stored manual overrides applied to a DuckDB table before it is classified.
"""
