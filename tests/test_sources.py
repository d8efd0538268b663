"""The source registry: one table of names, read by the settings, the CLI and the docs."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from perftiers.cli import app
from perftiers.errors import BadRequest
from perftiers.settings import Settings, SourceName
from perftiers.sources import SOURCES, make_source

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_name_makes_that_source(settings, tmp_path):
    assert tuple(SOURCES) == get_args(SourceName)
    configured = settings.model_copy(update=dict(shopify_shop="my-store", shopify_access_token="shpat_x",
                                                 sync_path=str(tmp_path)))
    for name in SOURCES:
        assert make_source(configured, name).name == name
        assert make_source(configured.model_copy(update=dict(sync_source=name))).name == name


def test_an_unknown_source_is_refused_naming_the_known_ones(settings, tmp_path):
    with pytest.raises(BadRequest, match="unknown source 'nope'; choose one of demo, files, shopify, shopify-csv"):
        make_source(settings, "nope")
    with pytest.raises(ValidationError, match="sync_source"):
        Settings(home=tmp_path, sync_source="nope")


def test_the_cli_and_the_docs_name_every_source():
    help_text = " ".join(CliRunner().invoke(app, ["sync", "--help"], terminal_width=200).output.split())
    assert " | ".join(SOURCES) in help_text
    row = next(line for line in (ROOT / "docs" / "configuration.md").read_text().splitlines()
               if line.startswith("| `sync_source` |"))
    assert all(f"`{name}`" in row for name in SOURCES)
    assert f"[--source {'|'.join(SOURCES)}]" in (ROOT / "README.md").read_text().replace("\\|", "|")
