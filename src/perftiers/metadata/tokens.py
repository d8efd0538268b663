"""API tokens: random secrets shown once, stored as SHA-256 hashes, with a role, revocable.

Roles are ordered: a viewer reads, an editor also writes (rows, thresholds, runs), an admin also
manages tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from perftiers.errors import BadRequest, NotFound
from perftiers.metadata.db import api_token

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
