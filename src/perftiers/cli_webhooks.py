"""`perftiers webhooks ...`: alert subscriptions, their delivery log, and one delivery pass.

Registered on the main command by `perftiers.cli` (it imports this module last, so the helpers
it defines are ready). The database layer is imported inside the commands, so `--help` stays light."""

from __future__ import annotations

import json
from typing import List, Optional

import typer
from rich.table import Table

from perftiers.cli import Output, _settings, clear_errors, console, out
from perftiers.metadata.webhook_events import EVENTS, FORMATS

webhooks_app = typer.Typer(help="Alerts: webhook subscriptions and their deliveries (docs/webhooks.md).",
                           no_args_is_help=True)


def _db(ctx: typer.Context):
    from perftiers.metadata.db import engine_for

    return engine_for(_settings(ctx).resolved_database_url)


def _choices(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise typer.BadParameter(f"unknown {what} {', '.join(bad)}; choose from {', '.join(allowed)}")
    return values


def _json(data) -> None:
    out.print_json(json.dumps(data, default=str))


@webhooks_app.command("add")
@clear_errors
def add(
    ctx: typer.Context,
    url: str = typer.Argument(..., help="http(s) URL of the receiver (a Slack incoming webhook for --format slack)."),
    event: Optional[List[str]] = typer.Option(None, "--event", "-e", help=f"Repeat for several: {', '.join(EVENTS)} (default all)."),
    tier: Optional[List[str]] = typer.Option(None, "--tier", "-t", help="Tiers whose moves to send (default all): top_riser, winner, banana, archive_candidate."),
    fmt: str = typer.Option("json", "--format", help="json (signed) or slack."),
) -> None:
    """Subscribe a URL; the signing secret is printed once, as the last line."""
    from perftiers.metadata import webhooks
    from perftiers.metadata.db import engine_for
    from perftiers.pipeline import webhook_targets
    from perftiers.rules import TIERS

    settings = _settings(ctx)
    events = _choices(event or list(EVENTS), EVENTS, "event")
    tiers = _choices(tier or list(TIERS), TIERS, "tier")
    _choices([fmt], FORMATS, "format")
    webhook_targets.check(url, allow_private=settings.webhooks_allow_private_targets)
    sub, secret = webhooks.create(engine_for(settings.resolved_database_url), url=url.strip(), events=events,
                                  tiers=tiers, fmt=fmt, created_by="cli")
    console.print(f"Created webhook {sub['id']} ({sub['format']}) for {', '.join(sub['events'])}. "
                  "Its signing secret is shown only once:")
    out.print(secret, highlight=False)


@webhooks_app.command("list")
@clear_errors
def list_(ctx: typer.Context, output: Output = typer.Option(Output.text, help="text or json")) -> None:
    """List subscriptions (never their secrets)."""
    from perftiers.metadata import webhooks

    subs = webhooks.list_all(_db(ctx))
    if output is Output.json:
        _json(subs)
        return
    table = Table("id", "url", "format", "events", "tiers", "enabled")
    for s in subs:
        enabled = "yes" if s["enabled"] else f"no ({s['disabled_reason'] or 'by an admin'})"
        table.add_row(str(s["id"]), s["url"], s["format"], ", ".join(s["events"]), ", ".join(s["tiers"]), enabled)
    out.print(table)


@webhooks_app.command("remove")
@clear_errors
def remove(ctx: typer.Context, sub_id: int = typer.Argument(..., help="Subscription id.")) -> None:
    """Delete a subscription and its delivery log."""
    from perftiers.metadata import webhooks

    webhooks.delete(_db(ctx), sub_id)
    out.print(f"removed webhook {sub_id}")


@webhooks_app.command("enable")
@clear_errors
def enable(ctx: typer.Context, sub_id: int = typer.Argument(..., help="Subscription id.")) -> None:
    """Enable a subscription (e.g. one a 410 answer disabled)."""
    from perftiers.metadata import webhooks

    webhooks.update(_db(ctx), sub_id, {"enabled": True})
    out.print(f"enabled webhook {sub_id}")


@webhooks_app.command("disable")
@clear_errors
def disable(ctx: typer.Context, sub_id: int = typer.Argument(..., help="Subscription id.")) -> None:
    """Disable a subscription: its pending deliveries are cancelled, new events skip it."""
    from perftiers.metadata import webhooks

    webhooks.update(_db(ctx), sub_id, {"enabled": False})
    out.print(f"disabled webhook {sub_id}")


@webhooks_app.command("deliveries")
@clear_errors
def deliveries(
    ctx: typer.Context,
    sub_id: int = typer.Argument(..., help="Subscription id."),
    limit: int = typer.Option(20, min=1, max=200, help="How many, newest first."),
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """The delivery log of a subscription: status, attempts, last HTTP status and error."""
    from perftiers.metadata import webhooks

    rows = webhooks.deliveries(_db(ctx), sub_id, limit)
    if output is Output.json:
        _json(rows)
        return
    table = Table("id", "event", "status", "attempts", "HTTP", "created", "next try", "last error")
    for d in rows:
        table.add_row(str(d["id"]), d["event"], d["status"], str(d["attempts"]), str(d["last_status_code"] or ""),
                      f"{d['created_at']:%Y-%m-%d %H:%M:%S}",
                      f"{d['next_attempt_at']:%H:%M:%S}" if d["next_attempt_at"] else "", d["last_error"] or "")
    out.print(table)


@webhooks_app.command("deliver")
@clear_errors
def deliver(ctx: typer.Context, output: Output = typer.Option(Output.text, help="text or json")) -> None:
    """Send every due delivery now, once (`perftiers serve` does this every few seconds)."""
    from perftiers.pipeline import alerts

    summary = alerts.deliver_due(_settings(ctx)).as_dict()
    if output is Output.json:
        _json(summary)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in summary.items()), highlight=False)
