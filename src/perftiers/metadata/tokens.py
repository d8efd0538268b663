"""API tokens: random secrets shown once, stored as SHA-256 hashes, with a role, revocable.

Roles are ordered: a viewer reads, an editor also writes (rows, thresholds, runs), an admin also
manages tokens.

Browser sessions: signing in with a token creates a server-side session (random id and CSRF
value, both stored hashed, with an expiry). A session follows its token: revoking the token
ends it; signing out deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from perftiers.errors import BadRequest, NotFound
from perftiers.metadata.db import api_session, api_token

ROLES = ("viewer", "editor", "admin")
PREFIX = "pt_"


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: str

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(engine: sa.Engine, role: str, name: str | None = None) -> tuple[Principal, str]:
    """A new token; the plain secret is returned once and never stored."""
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    name = name or f"{role}-{secrets.token_hex(3)}"
    with engine.begin() as conn:
        token_id = conn.execute(
            sa.insert(api_token)
            .values(name=name, role=role, token_hash=_hash(token), created_at=datetime.now(timezone.utc))
            .returning(api_token.c.id)
        ).scalar_one()
    return Principal(token_id, name, role), token


def authenticate(engine: sa.Engine, token: str) -> Principal | None:
    """The token's principal, or None. The lookup is by hash; the final compare is constant-time."""
    if not token or len(token) > 512:
        return None
    digest = _hash(token)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(api_token).where(api_token.c.token_hash == digest, api_token.c.revoked_at.is_(None))
        ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(row.id, row.name, row.role)


def revoke(engine: sa.Engine, name_or_id: str) -> int:
    """Revoke tokens by name or id; returns how many were revoked."""
    cond = api_token.c.name == name_or_id
    if name_or_id.isdigit():
        cond = sa.or_(cond, api_token.c.id == int(name_or_id))
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(api_token).where(cond, api_token.c.revoked_at.is_(None)).values(revoked_at=datetime.now(timezone.utc))
        )
    if result.rowcount == 0:
        raise NotFound(f"no active token named {name_or_id!r}")
    return result.rowcount


def list_tokens(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_token).order_by(api_token.c.id)).all()
    return [
        {"id": r.id, "name": r.name, "role": r.role, "created_at": r.created_at, "revoked": r.revoked_at is not None}
        for r in rows
    ]


def any_active(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(api_token.c.id).where(api_token.c.revoked_at.is_(None)).limit(1)).first() is not None


def get(engine: sa.Engine, token_id: int) -> Principal | None:
    """The active token with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(api_token).where(api_token.c.id == token_id, api_token.c.revoked_at.is_(None))
        ).first()
    return Principal(row.id, row.name, row.role) if row else None


# -- browser sessions ------------------------------------------------------------------------

SESSION_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_hash: str
    expires_at: datetime

    def csrf_ok(self, value: str | None) -> bool:
        return bool(value) and len(value) <= 512 and hmac.compare_digest(self.csrf_hash, _hash(value))


def create_session(engine: sa.Engine, principal: Principal, ttl: timedelta = SESSION_TTL) -> tuple[str, str, datetime]:
    """A new session for `principal`: (session id, CSRF value, expiry). Expired sessions are purged."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = datetime.now(timezone.utc)
    expires = now + ttl
    with engine.begin() as conn:
        conn.execute(sa.delete(api_session).where(api_session.c.expires_at < now))
        conn.execute(sa.insert(api_session).values(id_hash=_hash(session_id), token_id=principal.token_id,
                                                    csrf_hash=_hash(csrf), created_at=now, expires_at=expires))
    return session_id, csrf, expires


def session(engine: sa.Engine, session_id: str) -> Session | None:
    """The live session with this id (unexpired, its token not revoked), or None."""
    if not session_id or len(session_id) > 512:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(api_session, api_token.c.name, api_token.c.role)
            .join(api_token, api_token.c.id == api_session.c.token_id)
            .where(api_session.c.id_hash == _hash(session_id), api_token.c.revoked_at.is_(None))
        ).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    if expires < datetime.now(timezone.utc):
        return None
    return Session(Principal(row.token_id, row.name, row.role), row.csrf_hash, expires)


def end_session(engine: sa.Engine, session_id: str) -> None:
    if not session_id or len(session_id) > 512:
        return
    with engine.begin() as conn:
        conn.execute(sa.delete(api_session).where(api_session.c.id_hash == _hash(session_id)))
