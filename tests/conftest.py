from __future__ import annotations

import pytest

from perftiers.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    for var in ("PERFTIERS_HOME", "PERFTIERS_CONFIG", "PERFTIERS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return load_settings(home=tmp_path / "data")
