"""Docs match the code: every setting and every default threshold is documented."""

from pathlib import Path

from perftiers.rules import ClassificationSpec
from perftiers.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented():
    text = DOCS.read_text()
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in text]
    assert missing == []


def test_documented_threshold_defaults_match_code():
    text = DOCS.read_text()
    for name, field in ClassificationSpec.model_fields.items():
        assert f"| `{name}` | {field.default} |" in text
