"""The dashboard API: `create_app(settings)` (app.py), routes per feature, one error shape.

In:  the query engine's current snapshot, the metadata DB, telemetry.
Out: the JSON endpoints (docs/api.md), the dashboard page, OpenAPI at /openapi.json.
"""
