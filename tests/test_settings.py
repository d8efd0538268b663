"""Settings edges: the saved perftiers.toml, the typed object-store options, typed values."""

from __future__ import annotations

import tomllib

from perftiers.settings import load_settings, remember


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
