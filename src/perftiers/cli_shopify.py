"""`perftiers shopify ...`: write the tiers back to the shop as product tags.

Registered on the main command by `perftiers.cli` (it imports this module last, so the helpers
it defines are ready)."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from perftiers.cli import Output, _print_record, _run, _settings, clear_errors, out

shopify_app = typer.Typer(help="Shopify: tag products with their tiers (docs/shopify.md).", no_args_is_help=True)


def _print_plan(preview: dict, output: Output) -> None:
    if output is Output.json:
        out.print_json(json.dumps(preview, default=str))
        return
    out.print(f"{preview['shop_products']:,} product(s) in the shop, {preview['products_tagged']:,} with a tier tag; "
              f"{preview['products_to_change']:,} to change: [green]+{preview['tags_to_add']:,}[/] tag(s) to add, "
              f"[red]-{preview['tags_to_remove']:,}[/] to remove (prefix {escape(preview['prefix'])!s}).",
              highlight=False)
    if preview["not_in_shop"]:
        out.print(f"{preview['not_in_shop']:,} product(s) of the mart are not in the shop (nothing to tag).")
    if not preview["write_scope"]:
        out.print("[yellow]warning:[/] the app lacks the write_products scope: a push would be refused.")
    if preview["by_tag"]:
        counts = Table(title="By tag")
        for col in ("tag", "add", "remove"):
            counts.add_column(col, justify="left" if col == "tag" else "right")
        for tag, n in preview["by_tag"].items():
            counts.add_row(escape(tag), f"{n['add']:,}", f"{n['remove']:,}")
        out.print(counts)
    if preview["sample"]:
        shown = len(preview["sample"])
        sample = Table(title=f"First {shown} of {preview['products_to_change']:,} change(s)")
        for col in ("product", "add", "remove"):
            sample.add_column(col)
        for c in preview["sample"]:
            sample.add_row(escape(c["artifact_id"]), escape(", ".join(c["add"])), escape(", ".join(c["remove"])))
        out.print(sample)


@shopify_app.command("push-tags")
@clear_errors
def push_tags(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be added and removed; write nothing."),
    output: Output = typer.Option(Output.text, help="text or json"),
) -> None:
    """Tag each product with its tiers (perftiers:winner, ...) and remove tier tags that no longer hold.

    Reads the shop's current tags first, so a push with no tier change sends nothing and a push
    that was interrupted finishes what is missing. Needs the write_products scope.
    """
    settings = _settings(ctx)
    if dry_run:
        from perftiers.pipeline import tags

        _print_plan(tags.preview(settings), output)
        return
    from perftiers.pipeline import jobs

    record = _run("tag products in Shopify", lambda p: jobs.push_tags(settings, trigger="cli", progress=p))
    _print_record(record, output)
