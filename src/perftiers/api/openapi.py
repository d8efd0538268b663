"""The OpenAPI document as committed in `openapi.json` (`perftiers openapi` regenerates it)."""

from __future__ import annotations

import json
from typing import Any

from perftiers.settings import Settings


def document() -> dict[str, Any]:
    from perftiers.api.app import create_app

    return create_app(Settings.model_construct()).openapi()


def render(doc: dict[str, Any] | None = None) -> str:
    return json.dumps(doc if doc is not None else document(), indent=2, ensure_ascii=False) + "\n"
