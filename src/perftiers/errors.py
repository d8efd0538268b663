"""The exception tree. Each class carries the HTTP status and error code it maps to.

    PerftiersError (500, internal)
    ├── BadRequest (400)                 invalid parameter values
    ├── Unauthorized (401)               no or an unknown token
    ├── Forbidden (403)                  the token's role is too low, or a CSRF check failed
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── AlreadyRunning               a sync or refresh holds the pipeline lock (retryable)
    │   └── LostLock                     a job's lease ran out and another run took the lock (terminal)
    ├── PreconditionFailed (412)         stale If-Match
    ├── ValidationFailed (422)           a body or input file that fails validation
    ├── ConfigurationError (500)         settings that cannot work; the message says what to fix
    │                                    (the CLI exits 1; the API answers 409: the client can act on it)
    └── NotReady (503)                   the query engine has no snapshot loaded yet; try again shortly

The API turns any of these into `{error: {code, message, details}}`; the CLI prints the message
and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class PerftiersError(Exception):
    status_code = 500
    code = "internal"
    retryable = False

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(PerftiersError):
    status_code = 400
    code = "bad_request"


class Unauthorized(PerftiersError):
    status_code = 401
    code = "unauthorized"


class Forbidden(PerftiersError):
    status_code = 403
    code = "forbidden"


class NotFound(PerftiersError):
    status_code = 404
    code = "not_found"


class Conflict(PerftiersError):
    status_code = 409
    code = "conflict"


class AlreadyRunning(Conflict):
    """Another sync or refresh holds the pipeline lock; try again when it has finished."""

    code = "already_running"
    retryable = True


class LostLock(Conflict):
    """This job's lease on the pipeline lock ran out and another run took it: the job stops before
    its next commit (the fencing check in `perftiers.metadata.locks`), so it wrote nothing more."""

    code = "lost_lock"


class PreconditionFailed(PerftiersError):
    status_code = 412
    code = "precondition_failed"


class ValidationFailed(PerftiersError):
    status_code = 422
    code = "validation_failed"


class ConfigurationError(PerftiersError):
    code = "configuration"


class NotReady(PerftiersError):
    """The query engine has not loaded the current snapshot (yet); a retry shortly succeeds."""

    status_code = 503
    code = "not_ready"
    retryable = True
