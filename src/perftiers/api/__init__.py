"""The dashboard API: `create_app(settings)` (app.py), routes per feature, one error shape.

In:  the query engine's current snapshot, the metadata DB, telemetry.
Out: JSON endpoints of SPEC.md ("API"), the dashboard page, OpenAPI at /openapi.json.
"""
