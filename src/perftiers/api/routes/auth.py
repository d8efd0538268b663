"""Sign-in (login link, sign-in form), the session, and token management (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from perftiers.api import models
from perftiers.api.deps import AdminDep, MetaDbDep, ViewerDep
from perftiers.errors import Unauthorized
from perftiers.api.security import (
    SESSION_COOKIE,
    authenticate,
    clear_session_cookies,
    set_session_cookies,
)
from perftiers.errors import NotFound
from perftiers.metadata import tokens

router = APIRouter(tags=["auth"])


def _sign_in(request: Request, response: Response, db, token: str) -> tokens.Principal:
    principal = tokens.authenticate(db, token)
    if principal is None:
        raise Unauthorized("The token is unknown or revoked.")
    session_id, csrf, expires = tokens.create_session(db, principal)
    set_session_cookies(request, response, session_id, csrf, expires)
    return principal


LINK_REFUSED = "invalid_link"
"""`/?signin_error=` value the dashboard turns into a message on its sign-in form."""


@router.get("/login", response_class=RedirectResponse, status_code=303,
            responses={303: {"description": "Signed in: redirects to the dashboard. An unknown, revoked or "
                                            f"empty token redirects to `/?signin_error={LINK_REFUSED}` (the "
                                            "sign-in form, with a message)."}},
            summary="Sign in with a login link and open the dashboard")
def login_link(
    request: Request,
    db: MetaDbDep,
    token: Annotated[str, Query(max_length=4096, description="An API token.")] = "",
) -> RedirectResponse:
    # A person clicked a link: a refused one shows the sign-in page with a message, never raw JSON.
    if not token.strip() or len(token) > 512:
        return RedirectResponse(f"/?signin_error={LINK_REFUSED}", status_code=303)
    response = RedirectResponse("/", status_code=303)
    try:
        _sign_in(request, response, db, token.strip())
    except Unauthorized:
        return RedirectResponse(f"/?signin_error={LINK_REFUSED}", status_code=303)
    return response


@router.post("/api/session", response_model=models.SessionInfo, summary="Sign in with a token (sets cookies)",
             responses={401: {"model": models.ErrorBody, "description": "Unknown or revoked token"}})
def sign_in(request: Request, response: Response, body: models.SessionLogin, db: MetaDbDep) -> dict:
    principal = _sign_in(request, response, db, body.token.strip())
    return {"name": principal.name, "role": principal.role}


@router.get("/api/session", response_model=models.SessionInfo, summary="Who am I")
def whoami(principal: ViewerDep) -> dict:
    return {"name": principal.name, "role": principal.role}


@router.get("/api/session/status", response_model=models.SessionStatus,
            summary="Whether the caller is signed in (200 either way; no token needed)")
def session_status(request: Request) -> dict:
    """The dashboard's first question. Unlike `GET /api/session` it answers 200 when nobody is signed
    in, so opening the page signed out logs no failed request in the browser."""
    try:
        principal = authenticate(request)
    except Unauthorized:
        return {"signed_in": False, "name": None, "role": None}
    return {"signed_in": True, "name": principal.name, "role": principal.role}


@router.delete("/api/session", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Sign out (ends the session)")
def sign_out(request: Request, db: MetaDbDep) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        try:
            authenticate(request)  # a cookie sign-out is a write: it needs the CSRF header too
        except Unauthorized:
            pass  # already expired or revoked: just clear the cookies
        tokens.end_session(db, session_id)
    response = Response(status_code=204)
    clear_session_cookies(response)
    return response


@router.get("/api/tokens", response_model=models.TokenList, summary="List tokens (never their secrets)")
def list_tokens(_: AdminDep, db: MetaDbDep) -> dict:
    return {"items": tokens.list_tokens(db)}


@router.post("/api/tokens", response_model=models.TokenCreated, status_code=status.HTTP_201_CREATED,
             summary="Create a token (the secret is shown once)")
def create_token(_: AdminDep, body: models.TokenCreate, db: MetaDbDep) -> dict:
    principal, secret = tokens.create(db, body.role, body.name)
    info = next(t for t in tokens.list_tokens(db) if t["id"] == principal.token_id)
    return {**info, "token": secret}


@router.delete("/api/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Revoke a token (its sessions end too)")
def revoke_token(_: AdminDep, token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], db: MetaDbDep) -> Response:
    if tokens.get(db, token_id) is None:
        raise NotFound(f"no active token with id {token_id}")
    tokens.revoke(db, str(token_id))
    return Response(status_code=204)
