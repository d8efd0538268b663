"""Who is calling: a Bearer token (API clients) or a browser session cookie (the dashboard).

Bearer requests need nothing else. Cookie-authenticated writes (POST, PUT, PATCH, DELETE) must
also send `X-CSRF-Token` equal to the `perftiers_csrf` cookie and to the value stored with the
session; otherwise 403. Roles: viewer < editor < admin.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response

from perftiers.errors import Forbidden, Unauthorized
from perftiers.metadata import tokens
from perftiers.metadata.db import engine_for
from perftiers.metadata.tokens import Principal

SESSION_COOKIE = "perftiers_session"
CSRF_COOKIE = "perftiers_csrf"
CSRF_HEADER = "X-CSRF-Token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(Forbidden):
    code = "csrf_failed"


def _db(request: Request):
    return engine_for(request.app.state.settings.resolved_database_url)


def authenticate(request: Request) -> Principal:
    """The caller's principal, or 401 / 403 (CSRF). Cached on the request."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be `Bearer <token>`.")
        principal = tokens.authenticate(_db(request), token.strip())
        if principal is None:
            raise Unauthorized("The token is unknown or revoked.")
        request.state.auth_method = "bearer"
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise Unauthorized("Sign in first: send `Authorization: Bearer <token>`, or open the login link "
                               "`/login?token=...` in a browser.")
        session = tokens.session(_db(request), session_id)
        if session is None:
            raise Unauthorized("The session has expired or was signed out; sign in again.")
        if request.method in WRITE_METHODS:
            sent = request.headers.get(CSRF_HEADER.lower())
            if not sent or sent != request.cookies.get(CSRF_COOKIE) or not session.csrf_ok(sent):
                raise CsrfFailed(f"Cookie-authenticated writes need the `{CSRF_HEADER}` header "
                                 f"equal to the `{CSRF_COOKIE}` cookie.")
        principal = session.principal
        request.state.auth_method = "session"
    request.state.principal = principal
    return principal


def require(role: str):
    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.allows(role):
            raise Forbidden(f"This needs the {role} role; your token {principal.name!r} is a {principal.role}.",
                            details={"required_role": role, "role": principal.role})
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


def set_session_cookies(request: Request, response: Response, session_id: str, csrf: str,
                        expires: datetime) -> None:
    secure = request.url.scheme == "https"
    max_age = max(0, round((expires - datetime.now(expires.tzinfo)).total_seconds()))
    response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age, httponly=True, samesite="strict",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict",
                        secure=secure, path="/")


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
