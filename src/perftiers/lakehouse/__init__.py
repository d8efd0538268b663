"""Iceberg tables, the object store and sync.telemetry records."""
