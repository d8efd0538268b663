"""`perftiers serve`: first-run help (admin token + login link, demo hint), then uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from perftiers.metadata import tokens
from perftiers.metadata.db import engine_for
from perftiers.settings import Settings

log = logging.getLogger(__name__)


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def first_run_messages(settings: Settings, host: str, port: int) -> list[str]:
    """What `serve` prints before it starts: a login link on a folder without tokens, a demo hint
    on a folder without store data, and the dashboard URL."""
    base = f"http://{_display_host(host)}:{port}"
    lines: list[str] = []
    db = engine_for(settings.resolved_database_url)
    if not tokens.any_active(db):
        principal, secret = tokens.create(db, "admin", "admin")
        lines += [f"No API tokens existed, so an admin token {principal.name!r} was created.",
                  "Open this login link in a browser (it is shown only once):",
                  f"    {base}/login?token={secret}",
                  "Create more with: perftiers token create --role viewer|editor|admin --name NAME"]
    if not has_data(settings):
        lines += [f"{settings.home.resolve()} holds no store data yet. Fill it with a generated demo store:",
                  f"    perftiers demo --data-dir {settings.home}",
                  "(or start a sync from the dashboard once a source is configured)."]
    lines.append(f"Dashboard: {base}/   OpenAPI: {base}/openapi.json   Guide: docs/api.md")
    return lines


def has_data(settings: Settings) -> bool:
    """Whether raw.products has a snapshot (without creating a catalog in an empty folder)."""
    from perftiers.lakehouse import catalog

    if not settings.catalog and not (settings.home / "catalog.db").exists():
        return False
    return catalog.current_snapshot_id(catalog.load_existing(settings, catalog.PRODUCTS)) is not None


def _logging() -> dict:
    config = dict(uvicorn.config.LOGGING_CONFIG)
    config["loggers"] = {**config["loggers"],
                         "perftiers": {"handlers": ["default"], "level": "INFO", "propagate": False}}
    return config


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, scheduler: bool = True) -> None:
    """With `port=0` bind first, so the printed URLs carry the port the system picked: a caller (the
    tests, a supervisor) never guesses a free port and races for it. Otherwise uvicorn binds every
    address `host` resolves to, as `uvicorn.run` does."""
    from perftiers.api.app import create_app
    from perftiers.pipeline.schedule import validate

    if scheduler:
        validate(settings)
    app = create_app(settings, scheduler=scheduler)
    # uvicorn's access log would print query strings (a login link carries a token): ours does not.
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=_logging(), server_header=False)
    sockets = [config.bind_socket()] if port == 0 else None
    for line in first_run_messages(settings, host, sockets[0].getsockname()[1] if sockets else port):
        print(line, flush=True)
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    sys.stdout.flush()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
