"""The pipeline stage: every job that runs under the pipeline lock, and when it runs.

`runs`: one run of a job (the lock, a sync.telemetry record, success or failure). `jobs`: the jobs
as the CLI, the API and the scheduler start them. `schedule`: the in-process scheduler of
`perftiers serve`.
"""
