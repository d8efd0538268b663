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
                         (404, "Not found"), (413, "Body over 1 MiB"), (422, "Invalid body"))
}
WRITE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The row already exists (create), or a sync or refresh is running"}}
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "No snapshot could be loaded yet; retry shortly"}}
"""Responses of the routes that write rows, and of those that read the served snapshot."""
