"""Officers' API tokens: ``ovd_<43 url-safe characters>`` (32 random bytes).

Only the token's SHA-256 is stored, with the officer, the role and a public ``token_id``
to revoke it by; the token itself is shown once, when it is issued. A lookup by hash needs
no constant-time comparison (the secret is never compared, its digest is an index key).

The functions run in the caller's session and transaction::

    async with sessions.begin() as session:
        issued = await issue(session, "neg-wang", "negotiator")
    async with sessions() as session:
        officer = await authenticate(session, issued.token)   # Officer(...) or None
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from officer.roles import Role, is_role
from overdue.storage.models import ApiToken

TOKEN_PREFIX = "ovd_"  # noqa: S105 (a public prefix, not a secret)
MAX_TOKEN_LENGTH = 200
OFFICER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class Officer:
    """An authenticated officer."""

    officer: str
    role: str


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    officer: str
    role: str
    token: str
    """The secret: give it to the officer; it is not stored and cannot be shown again."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue(session: AsyncSession, officer: str, role: str) -> IssuedToken:
    """A new token for ``officer`` acting as ``role`` (one of :class:`Role`)."""
    if not OFFICER_ID.fullmatch(officer):
        raise ValueError(f"officer id must match {OFFICER_ID.pattern}, got {officer!r}")
    if not is_role(role):
        raise ValueError(f"role must be one of {', '.join(Role)}, got {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(token_id=f"tok_{secrets.token_hex(8)}", officer=officer, role=role,
                      token_sha256=token_digest(token), created_at=datetime.now(UTC),
                      revoked_at=None)
    session.add(record)
    await session.flush()
    return IssuedToken(record.token_id, officer, role, token)


async def issue_token(session: AsyncSession, officer: str, role: str) -> str:
    """Issue a token and return only the secret (see :func:`issue` for its id)."""
    return (await issue(session, officer, role)).token


async def authenticate(session: AsyncSession, token: str) -> Officer | None:
    """The officer a token belongs to; ``None`` for an unknown, malformed or revoked one."""
    if (not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH
            or not token.isascii()):
        return None
    record = (await session.execute(select(ApiToken).where(
        ApiToken.token_sha256 == token_digest(token)))).scalar_one_or_none()
    if record is None or record.revoked_at is not None or not is_role(record.role):
        return None
    return Officer(record.officer, record.role)


async def revoke(session: AsyncSession, token_id: str) -> bool:
    """Revoke a token by its id; ``False`` if there is no such token or it was revoked."""
    record = await session.get(ApiToken, token_id)
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = datetime.now(UTC)
    await session.flush()
    return True
