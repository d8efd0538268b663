"""`create_app(settings)`: the FastAPI app of `perftiers serve` (no settings are read at import)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import perftiers
from perftiers.api import errors, middleware
from perftiers.api.deps import SpecCache
from perftiers.api.models import ERROR_RESPONSES, NOT_READY
from perftiers.api.routes import analytics, auth, health, history, metrics, runs, web
from perftiers.api.routes import settings as settings_routes
from perftiers.api.routes import shopify as shopify_routes
from perftiers.api.routes import webhooks as webhook_routes
from perftiers.query.engine import QueryEngine
from perftiers.query.filters import FILTERS, SORTS
from perftiers.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """Product performance tiers for e-commerce brands: which products are winners and top
risers, which are bananas and archive candidates.

**Auth.** Send `Authorization: Bearer <token>` (create one with `perftiers token create --role viewer`).
Browsers sign in with `/login?token=...` or `POST /api/session`; cookie-authenticated writes need the
`X-CSRF-Token` header equal to the `perftiers_csrf` cookie. Roles: viewer reads; editor also writes rows,
thresholds and runs; admin also manages tokens and alert webhooks (`/api/webhooks`, docs/webhooks.md).

**Errors** are `{"error": {"code", "message", "details"}}`: 400 bad parameter, 401, 403, 404, 409 conflict or
a run in progress, 412 stale `If-Match`, 413 body over 1 MiB, 422 invalid body.

**Snapshots.** Reads answer from the current Iceberg snapshot, named in the `X-Snapshot-Id` header
(`X-Raw-Snapshot-Id` for the raw order lines behind commerce analytics).
"""


def _filters_doc() -> str:
    rows = "\n".join(f"| `{f.param}` | `{f.sql}` | {f.description} |" for f in FILTERS)
    sorts = ", ".join(f"`{s.param}`" for s in SORTS)
    return f"\n\n**List filters** (one table drives validation, SQL and these docs):\n\n| param | SQL | meaning |\n|---|---|---|\n{rows}\n\n**Sortable columns:** {sorts}.\n"


def create_app(settings: Settings, *, engine: QueryEngine | None = None, scheduler: bool = False,
               check_interval: float = 1.0) -> FastAPI:
    """The app. With `scheduler=True` the lifespan also runs the scheduled sync and refresh."""
    query_engine = engine or QueryEngine(settings, check_interval=check_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        query_engine.start()
        sched = alerts = None
        if scheduler:
            from perftiers.pipeline.alerts import AlertWorker
            from perftiers.pipeline.schedule import Scheduler

            sched = Scheduler(settings, on_done=lambda name: _reload(query_engine))
            sched.start()
            alerts = AlertWorker(settings)  # webhook deliveries from the outbox
            alerts.start()
        app.state.scheduler = sched
        app.state.alerts = alerts
        try:
            yield
        finally:
            if alerts is not None:
                alerts.stop()
            if sched is not None:
                sched.stop()
            query_engine.stop()

    app = FastAPI(
        title="perftiers",
        version=perftiers.__version__ if hasattr(perftiers, "__version__") else "0.1.0",
        description=DESCRIPTION + _filters_doc(),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their code from a CDN; the dashboard serves nothing remote
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = query_engine
    app.state.specs = SpecCache()
    app.state.scheduler = None
    app.state.alerts = None
    errors.install(app)
    app.add_middleware(middleware.CatchAll)
    app.add_middleware(middleware.BodyLimit)
    app.add_middleware(middleware.AccessLogAndHeaders)

    # Each route names its role (ViewerDep, EditorDep, AdminDep): the one place auth is declared.
    protected = dict(responses=ERROR_RESPONSES)
    snapshot_reads = dict(protected, responses={**ERROR_RESPONSES, **NOT_READY})
    app.include_router(health.router)
    app.include_router(auth.router, responses=ERROR_RESPONSES)
    app.include_router(analytics.router, **snapshot_reads)
    app.include_router(metrics.collection, **snapshot_reads)
    app.include_router(history.collection, **snapshot_reads)  # before metrics.items: see routes.history
    app.include_router(settings_routes.router, **protected)  # before history.items: it ends in /history too
    app.include_router(runs.router, **protected)
    app.include_router(webhook_routes.router, **protected)
    app.include_router(shopify_routes.router, **protected)
    app.include_router(history.items, **snapshot_reads)
    app.include_router(metrics.items, **snapshot_reads)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR, check_dir=False), name="static")
    return app


def _reload(engine: QueryEngine) -> None:
    try:
        engine.check(force=True)
    except Exception as exc:
        log.warning("reload after scheduled run failed: %s", exc)
