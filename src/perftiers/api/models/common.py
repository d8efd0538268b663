"""Shared pieces: the error body and text validation."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Refuse control characters and lone surrogates (they cannot be stored as UTF-8)."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`, `already_running`.")
    message: str = Field(description="What went wrong and what to do next.")
    details: Any = Field(None, description="Extra facts: invalid fields, current version, ...")


class ErrorBody(BaseModel):
    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((400, "Bad parameter"), (401, "No or invalid token"), (403, "Role too low or CSRF"),
                         (404, "Not found"), (422, "Invalid body"))
}
