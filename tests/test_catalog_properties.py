"""Catalog settings reach PyIceberg unchanged (SPEC: "anything PyIceberg can reach works"), from
perftiers.toml and from the environment alike."""

from __future__ import annotations

import pytest

from perftiers.lakehouse import catalog
from perftiers.settings import load_settings

R2 = {
    "type": "rest",
    "uri": "https://catalog.cloudflarestorage.com/0123abcd/acme-perftiers",
    "warehouse": "0123abcd_acme-perftiers",
    "token": "r2-api-token",
    "s3.endpoint": "https://0123abcd.r2.cloudflarestorage.com",
    "s3.region": "auto",
    "header.X-Custom": "kept as it is",
}


@pytest.fixture
def captured(monkeypatch):
    calls: list[tuple[str, dict]] = []

    class FakeCatalog:
        def __init__(self, name, props):
            self.name, self.properties = name, props

        def commit_table(self, table, requirements, updates):  # perftiers wraps it with its lock check
            raise AssertionError("no commit is made here")

    def fake_load_catalog(name, **props):
        calls.append((name, props))
        return FakeCatalog(name, props)

    monkeypatch.setattr(catalog, "load_catalog", fake_load_catalog)
    monkeypatch.setattr(catalog, "_catalogs", {})
    return calls


def test_rest_catalog_properties_pass_through_unchanged(tmp_path, captured):
    settings = load_settings(home=tmp_path, catalog=R2, catalog_name="acme")
    catalog.catalog(settings)
    assert captured == [("acme", R2)]
    assert not (tmp_path / "warehouse").exists()  # nothing local is prepared for a remote catalog


def test_catalog_properties_merge_from_the_file_and_the_environment(tmp_path, captured, monkeypatch):
    (tmp_path / "perftiers.toml").write_text(
        "[catalog]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in R2.items() if k != "token"))
    monkeypatch.setenv("PERFTIERS_HOME", str(tmp_path))
    monkeypatch.delenv("PERFTIERS_CONFIG", raising=False)
    monkeypatch.setenv("PERFTIERS_CATALOG__TOKEN", "r2-api-token")
    catalog.catalog(load_settings())
    assert captured == [("perftiers", R2)]
