"""The `perftiers` command: serve, demo, sync, refresh, token, doctor (webhooks and shopify in their own modules).

Start-up stays light: this module and the sub-command modules import only Typer, Rich and
perftiers' plain constants; each command imports what it uses (settings, the database, the
lakehouse, the API) in its body, so `perftiers --help` loads none of them
(tests/test_cli_startup.py keeps it so)."""

from __future__ import annotations

import functools
import json
import sys
from datetime import date
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from perftiers.errors import PerftiersError
from perftiers.source_names import SourceName

if TYPE_CHECKING:
    from perftiers.settings import Settings

app = typer.Typer(help="Product-performance tiers for e-commerce brands.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console(stderr=True)
out = Console()


class Output(str, Enum):
    text = "text"
    json = "json"


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj["settings"]()


def clear_errors(fn: Callable) -> Callable:
    """Print a clear message for expected failures and exit non-zero, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PerftiersError as exc:
            console.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
            raise typer.Exit(2 if exc.status_code < 500 else 1)
        except Exception as exc:
            from pydantic import ValidationError  # here, not at the top: --help loads no pydantic

            if not isinstance(exc, ValidationError):
                raise
            console.print(f"[bold red]invalid settings:[/] {exc}", highlight=False)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            console.print("interrupted")
            raise typer.Exit(130)

    return wrapper


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data folder (default $PERFTIERS_HOME or ./perftiers-data)."),
) -> None:
    ctx.obj = {"settings": functools.partial(_load_settings, home=data_dir)}


def _load_settings(**overrides: Any) -> Settings:
    """`settings.load_settings`, imported when a command first asks (pydantic-settings costs ~0.15 s)."""
    from perftiers.settings import load_settings

    return load_settings(**overrides)


class _RichProgress:
    """Adapts the jobs' progress(step, done, total) calls to a rich progress line."""

    def __init__(self, enabled: bool):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.enabled = enabled
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f}"),
                            TimeElapsedColumn(), console=console, transient=True, disable=not enabled)
        self.task = None
        self.step = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def __call__(self, step: str, done: int | None = None, total: int | None = None) -> None:
        if step != self.step:
            self.finish()
            self.task = self.bar.add_task(step, total=total)
            self.step = step
        if done is not None:
            self.bar.update(self.task, completed=done, total=total)

    def finish(self) -> None:
        """Tick off the current step (a run ended, or the next step began)."""
        if self.task is not None:
            self.bar.update(self.task, visible=False)
            console.print(f"  [green]✓[/] {self.step}", highlight=False)
        self.task = self.step = None


def _run(label: str, fn: Callable[[Callable], dict]) -> dict:
    console.print(f"[bold]{label}[/]")
    with _RichProgress(enabled=True) as progress:
        record = fn(progress)
        progress.finish()
    return record


def _print_record(record: dict, output: Output) -> None:
    if output is Output.json:
        out.print_json(json.dumps(record, default=str))
        return
    counts = record.get("counts", {})
    summary = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in counts.items())
    out.print(f"{record['kind']} {record['status']} in {record['duration_ms'] / 1000:.1f}s "
              f"(run {record['run_id']}): {summary}", highlight=False)
    if (record.get("daily_sales") or {}).get("reason"):
        out.print(f"daily sales rebuilt from every order line: {escape(record['daily_sales']['reason'])}", highlight=False)
    for warning in record.get("warnings") or ():
        out.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@app.command()
@clear_errors
def sync(
    ctx: typer.Context,
    source: Optional[str] = typer.Option(None, help=f"{' | '.join(get_args(SourceName))} (default from settings)."),
    path: Optional[str] = typer.Option(None, help="Folder the files / shopify-csv source reads."),
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """Run one daily sync: store -> raw Iceberg tables."""
    from perftiers.pipeline import jobs

    settings = _settings(ctx)
    record = _run("sync", lambda p: jobs.sync(settings, trigger="cli", source=source, path=path, progress=p))
    _print_record(record, output)


def _parse_date(value: Optional[str]) -> Optional[date]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)")


@app.command()
@clear_errors
def refresh(
    ctx: typer.Context,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Reference date YYYY-MM-DD (default today, store timezone)."),
    full: bool = typer.Option(False, "--full", help="Rebuild the daily sales from every order line, not only the days syncs changed."),
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """Run one mart refresh: raw tables -> classified measurement.performance."""
    from perftiers.pipeline import jobs

    settings = _settings(ctx)
    day = _parse_date(as_of)
    record = _run("refresh", lambda p: jobs.refresh(settings, trigger="cli", as_of=day, full=full, progress=p))
    _print_record(record, output)


def _print_tiers(record: dict) -> None:
    counts = record["counts"]
    table = Table(title=f"Tiers as of {record.get('as_of')} (classification_spec v{record.get('spec_version')})")
    for col in ("products", "top_risers", "winners", "bananas", "archive_candidates"):
        table.add_column(col.replace("_", " "), justify="right")
    table.add_row(*(f"{counts.get(c, 0):,}" for c in ("products", "top_risers", "winners", "bananas", "archive_candidates")))
    out.print(table)


def has_data(settings: Settings) -> bool:
    from perftiers.lakehouse import catalog

    table = catalog.load_existing(settings, catalog.PRODUCTS) if (settings.catalog or (settings.home / "catalog.db").exists()) else None
    return table is not None and table.current_snapshot() is not None


@app.command()
@clear_errors
def demo(
    ctx: typer.Context,
    products: Optional[int] = typer.Option(None, help="Products to generate (default 2,000)."),
    order_lines: Optional[int] = typer.Option(None, "--order-lines", help="Approximate order lines (default 1,000,000)."),
    seed: Optional[int] = typer.Option(None, help="Generator seed (default 42)."),
    force: bool = typer.Option(False, help="Sync the demo store into a folder that already has data."),
) -> None:
    """Fill an empty data folder with a generated store, sync it and refresh the mart."""
    from perftiers.pipeline import jobs
    from perftiers.settings import load_settings, remember

    settings = load_settings(**{**_settings(ctx).model_dump(exclude_unset=True), "demo_products": products,
                                "demo_order_lines": order_lines, "demo_seed": seed})
    if has_data(settings) and not force:
        console.print(f"{settings.home} already holds store data; nothing to do (--force syncs the demo store into it).")
        return
    saved = remember(settings, {"demo_products": products, "demo_order_lines": order_lines, "demo_seed": seed})
    if saved:
        console.print(f"Saved the demo store's size in {saved}, so later syncs regenerate the same store.")
    console.print(f"Generating a demo store in {settings.home.resolve()} "
                  f"({settings.demo_products:,} products, ~{settings.demo_order_lines:,} order lines)")

    def finished(record: dict) -> None:  # each run's end: its summary, then the next run's heading
        if record["status"] != "succeeded":
            return  # the error is printed by clear_errors
        progress.finish()
        _print_record(record, Output.text)
        if record["kind"] == "sync":
            console.print("[bold]refresh[/]")

    console.print("[bold]sync[/]")
    with _RichProgress(enabled=True) as progress:
        record = jobs.sync_then_refresh(settings, trigger="cli", source="demo", progress=progress, on_done=finished)
    _print_tiers(record)
    _demo_backfill(settings, record)
    out.print(f"Next: {Path(sys.argv[0]).name} serve --data-dir {settings.home}")


DEMO_BACKFILL_DAYS = 90


def _demo_backfill(settings: Settings, refreshed: dict) -> None:
    """The 90 days before the demo's refresh, so the dashboard shows tier history at once."""
    from datetime import timedelta

    from perftiers.pipeline import jobs

    if refreshed.get("status") != "succeeded" or not refreshed.get("as_of"):
        return
    as_of = date.fromisoformat(refreshed["as_of"])
    record = _run("history backfill", lambda p: jobs.backfill(
        settings, trigger="cli", start=as_of - timedelta(days=DEMO_BACKFILL_DAYS), end=as_of - timedelta(days=1),
        progress=p))
    _print_record(record, Output.text)


history_app = typer.Typer(help="The tier history (measurement.tier_history).", no_args_is_help=True)
app.add_typer(history_app, name="history")


@history_app.command("backfill")
@clear_errors
def history_backfill(
    ctx: typer.Context,
    start: str = typer.Option(..., "--from", help="First day to compute (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--to", help="Last day (default: the day before the last refresh)."),
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """Compute the tiers each past day would have had, from the raw order lines, in one pass.

    Uses the classification_spec version in force on each day and today's is_active; the periods
    are marked backfilled. Days from the last refresh on belong to refreshes.
    """
    from perftiers.pipeline import jobs

    settings = _settings(ctx)
    first, last = _parse_date(start), _parse_date(end)
    record = _run("history backfill", lambda p: jobs.backfill(settings, trigger="cli", start=first, end=last,
                                                              progress=p))
    _print_record(record, output)


@app.command()
@clear_errors
def changes(
    ctx: typer.Context,
    since: str = typer.Option("previous", help="previous (the refresh before the current one) or YYYY-MM-DD."),
    limit: int = typer.Option(1000, min=1, max=100_000, help="At most this many moved products."),
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """Which products entered or left each tier since a day (the movements table)."""
    from perftiers.query import history as tier_history

    report = tier_history.report(_settings(ctx), since, limit=limit)
    if output is Output.json:
        out.print_json(json.dumps(report, default=str))
        return
    if report["since"] is None:
        out.print("No earlier refresh to compare with yet (use --since YYYY-MM-DD).")
        return
    counts = Table(title=f"Tier changes since {report['since']} (now as of {report['as_of']})")
    for col in ("tier", "entered", "left"):
        counts.add_column(col, justify="left" if col == "tier" else "right")
    for t in report["tiers"]:
        counts.add_row(t["tier"], f"{t['entered']:,}", f"{t['left']:,}")
    out.print(counts)
    moved = Table(title=f"{report['total']:,} product(s) moved"
                        + (f" (first {len(report['items']):,})" if report["total"] > len(report["items"]) else ""))
    for col in ("artifact_id", "product", "then", "now", "entered", "left"):
        moved.add_column(col)
    for i in report["items"]:
        moved.add_row(escape(i["artifact_id"]), escape(i["product_name"] or ""),
                      i["previous_nominal_classification"] or "-", i["nominal_classification"],
                      ", ".join(i["entered"]), ", ".join(i["left"]))
    out.print(moved)


@app.command()
@clear_errors
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on (0: a free port, printed in the URLs)."),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="Run the daily sync and refresh on their schedules."),
) -> None:
    """Serve the API, the dashboard and the scheduler."""
    from perftiers.api.server import serve as run_server

    run_server(_settings(ctx), host=host, port=port, scheduler=scheduler)


@app.command()
@clear_errors
def openapi(
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file (e.g. openapi.json) instead of stdout."),
) -> None:
    """Print the API's OpenAPI document (the repository keeps it as openapi.json)."""
    from perftiers.api.openapi import render

    text = render()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


_MARKS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}


@app.command()
@clear_errors
def doctor(
    ctx: typer.Context,
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """Check the metadata DB, catalog, warehouse, object store, lock and clocks; say what to fix.

    Exits 1 when any check fails.
    """
    from perftiers import doctor as checks

    settings = _settings(ctx)
    text = output is Output.text

    def show(check) -> None:
        if text:
            row = Table.grid(padding=(0, 1))
            row.add_column(width=4, no_wrap=True)
            row.add_column(width=12, no_wrap=True, style="bold")
            row.add_column(overflow="fold")
            row.add_row(_MARKS[check.status], check.name, escape(check.detail))
            if check.fix:
                row.add_row("", "", f"[italic]fix:[/] {escape(check.fix)}")
            out.print(row, highlight=False)

    if text:
        out.print(f"perftiers doctor: data folder {settings.home.resolve()}", highlight=False)
    report = checks.run(settings, progress=show)
    if output is Output.json:
        out.print_json(json.dumps(report.as_dict()))
    elif text:
        failed = [c.name for c in report.checks if c.status == "fail"]
        out.print("all checks passed" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    if not report.ok:
        raise typer.Exit(1)


@token_app.command("create")
@clear_errors
def token_create(
    ctx: typer.Context,
    role: str = typer.Option(..., help="viewer | editor | admin"),
    name: Optional[str] = typer.Option(None, help="A name to recognise the token by (shown as created_by)."),
) -> None:
    """Create a token; it is printed once, as the last line."""
    from perftiers.metadata import tokens
    from perftiers.metadata.db import engine_for

    principal, secret = tokens.create(engine_for(_settings(ctx).resolved_database_url), role, name)
    console.print(f"Created {principal.role} token {principal.name!r}. It is shown only once:")
    out.print(secret, highlight=False)


@token_app.command("revoke")
@clear_errors
def token_revoke(ctx: typer.Context, name: str = typer.Argument(..., help="Token name or id.")) -> None:
    """Revoke a token by name or id."""
    from perftiers.metadata import tokens
    from perftiers.metadata.db import engine_for

    n = tokens.revoke(engine_for(_settings(ctx).resolved_database_url), name)
    out.print(f"revoked {n} token(s)")


@token_app.command("list")
@clear_errors
def token_list(ctx: typer.Context) -> None:
    """List tokens (never their secrets)."""
    from perftiers.metadata import tokens
    from perftiers.metadata.db import engine_for

    for t in tokens.list_tokens(engine_for(_settings(ctx).resolved_database_url)):
        out.print(f"{t['id']}\t{t['name']}\t{t['role']}\t{'revoked' if t['revoked'] else 'active'}\t{t['created_at']:%Y-%m-%d %H:%M}")


from perftiers.cli_webhooks import webhooks_app  # noqa: E402 (last: it uses the helpers above)

app.add_typer(webhooks_app, name="webhooks")

from perftiers.cli_shopify import shopify_app  # noqa: E402 (last: it uses the helpers above)

app.add_typer(shopify_app, name="shopify")
