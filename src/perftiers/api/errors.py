"""One error shape for every response: `{"error": {"code", "message", "details"}}`.

    PerftiersError subclasses        their own status and code (the tree is in perftiers.errors)
    ConfigurationError               409 with its own code: settings the operator can fix (a Shopify
                                     shop or token, a scope, a source) are never a server fault
    HTTPException                    404 unknown path, 405 method not allowed, ...
    RequestValidationError           400 for query, path and header parameters; 422 for bodies
    anything else                    500 with a generic message; the traceback goes to the log only
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from perftiers.errors import ConfigurationError, PerftiersError

log = logging.getLogger("perftiers.api")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 412: "precondition_failed",
              413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
              429: "too_many_requests", 500: "internal", 503: "not_ready"}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status,
                        headers=headers)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why, never the rejected input (it may be huge or a secret)."""
    out = []
    for e in exc.errors():
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


def status_of(exc: PerftiersError) -> int:
    """The HTTP status of an error. A ConfigurationError (500 in the exception tree, so the CLI exits
    1) is 409 here: the request cannot succeed until someone changes a setting the message names,
    which is the client's to fix or report, not a crash to retry."""
    return 409 if isinstance(exc, ConfigurationError) else exc.status_code


async def _perftiers_error(request: Request, exc: PerftiersError) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    elif isinstance(exc, ConfigurationError):
        log.warning("%s %s needs configuration: %s", request.method, request.url.path, exc.message)
    return error_response(status, exc.code, exc.message, _jsonable(exc.details), headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, None, getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = _validation_details(exc)
    in_body = any(d["loc"] and d["loc"][0] == "body" for d in details)
    if in_body:
        return error_response(422, "validation_failed", "The request body is not valid.", details)
    fields = ", ".join(sorted({d["loc"][-1] for d in details if d["loc"]}))
    return error_response(400, "bad_request", f"Invalid request parameter(s): {fields}.", details)


def internal_error() -> JSONResponse:
    return error_response(500, "internal", "Internal server error; the details are in the server log.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(PerftiersError, _perftiers_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Any other exception: perftiers.api.middleware.CatchAll answers 500 and logs the traceback.
