"""Settings edges: the saved perftiers.toml, the typed object-store options, typed values."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from perftiers.lakehouse.objectstore import ObjectStore, s3_filesystem
from perftiers.settings import load_settings, remember
from perftiers.sources.files import FilesSource


def test_remember_adds_keys_and_keeps_the_file(tmp_path):
    home = tmp_path / "data"
    home.mkdir()
    (home / "perftiers.toml").write_text('# mine\ndemo_seed = 7\n\n[catalog]\ntype = "sql"\n')
    settings = load_settings(home=home)
    odd = 'C:\\stores\\"north"'
    assert remember(settings, {"demo_seed": 9, "demo_products": 40, "sync_path": odd, "timezone": None})
    text = (home / "perftiers.toml").read_text()
    assert "# mine\n" in text
    assert tomllib.loads(text) == {"demo_seed": 7, "demo_products": 40, "sync_path": odd, "catalog": {"type": "sql"}}
    assert remember(settings, {"demo_seed": 9}) is None  # nothing new: the file is not touched
    reloaded = load_settings(home=home)
    assert (reloaded.demo_products, reloaded.sync_path, reloaded.catalog) == (40, odd, {"type": "sql"})


def test_object_store_and_s3_sync_path_share_one_filesystem(tmp_path, monkeypatch):
    """The object store and an `s3://` sync path read the same typed options through one factory
    (they used to disagree on the region when none was set)."""
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    home = tmp_path / "data"
    home.mkdir()
    (home / "perftiers.toml").write_text(
        'object_store = "s3://bucket/objects"\n\n[object_store_options]\n'
        'endpoint = "http://127.0.0.1:9"\naccess_key_id = "key"\nsecret_access_key = "hush"\npath_style = "false"\n')
    monkeypatch.setenv("PERFTIERS_OBJECT_STORE_OPTIONS__ACCESS_KEY_ID", "env-key")
    settings = load_settings(home=home)
    options = settings.object_store_options
    assert (options.endpoint, options.region, options.access_key_id, options.path_style) == \
        ("http://127.0.0.1:9", None, "env-key", False)
    assert "hush" not in repr(settings)

    store = ObjectStore.from_settings(settings)
    files = FilesSource.from_settings(settings, path="s3://bucket/exports")
    assert store.fs.equals(files.fs) and store.fs.equals(s3_filesystem(options))
    assert (store.root, files.root) == ("bucket/objects", "bucket/exports")
    assert not files.fs.equals(s3_filesystem(options.model_copy(update={"region": "auto"})))


def test_unknown_object_store_options_are_refused(tmp_path):
    with pytest.raises(ValidationError, match="object_store_options.regoin"):
        load_settings(home=tmp_path, object_store_options={"regoin": "eu-central-1"})
