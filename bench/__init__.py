"""perftiers benchmarks: refresh, sync and API against baselines measured in the same run.

Run `.venv/bin/python -m bench run` (default sizes, < 15 min) or `--quick` (< 2 min). Results go
to `bench/results/<timestamp>.json` and `.md`; docs/benchmarks.md explains them.
"""
