"""JSON for the hot reads (list, summary, facets) without response-model validation.

FastAPI validates a route's return value against its `response_model` and then serialises it;
for a list page of 50 rows that is most of the request's time. These routes build their data
in the model's field order and return `JsonBytes`, rendered by orjson, so FastAPI skips both
steps. The decorator keeps `response_model`, so `/openapi.json` is unchanged, and the bytes equal
what the model would write (tests/api/test_fast_json.py holds that): UTC datetimes end in `Z`,
dates are ISO days, money is a JSON number.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

OPTIONS = orjson.OPT_UTC_Z
"""pydantic writes a UTC datetime as `...Z`; orjson's default would be `+00:00`."""


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=OPTIONS)


class JsonBytes(Response):
    """An `application/json` response of already rendered bytes (or of content orjson renders)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else dumps(content)


def respond(content: Any, response: Response, status_code: int = 200) -> JsonBytes:
    """`content` as JSON with the headers dependencies set on `response` (`X-Snapshot-Id`...):
    FastAPI copies them only onto responses it builds itself."""
    out = JsonBytes(content, status_code=status_code)
    out.headers.raw.extend(response.headers.raw)
    return out
