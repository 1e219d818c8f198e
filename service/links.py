"""Personal links for supervisors and staff: issued, checked against revocation, revoked."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from service import org, tokens  # org as a module: it imports this one (a roster import revokes)
from service.audit import audit
from service.clock import utcnow
from service.schema import link_tokens, staff
from service.tokens import LinkClaims, TokenError

PAGE_PATHS = {"supervisor": "/supervisor", "staff": "/staff"}


async def issue_link(
    conn: AsyncConnection,
    secret: bytes,
    base_url: str,
    role: str,
    subject: str,
    ttl: timedelta,
    *,
    actor: str,
) -> tuple[str, LinkClaims]:
    """Record a new token for an existing person and return the URL that carries it."""
    if await org.find_person(conn, role, subject) is None:
        raise LookupError(f"no {role} with id {subject!r}")
    now = utcnow()
    claims = tokens.new_claims(role, subject, now + ttl)
    await conn.execute(
        link_tokens.insert().values(
            jti=claims.jti,
            role=role,
            subject_id=subject,
            issued_at=now,
            expires_at=claims.expires_at,
        )
    )
    await audit(conn, actor, "link.issued", f"{role}:{subject}", {"jti": claims.jti})
    token = tokens.sign(claims, secret)
    return f"{base_url}{PAGE_PATHS[role]}/{token}", claims


async def check_token(conn: AsyncConnection, secret: bytes, token: str) -> LinkClaims:
    """Verify a token and that it was issued here and not revoked."""
    claims = tokens.verify(token, secret, utcnow())
    row = (
        await conn.execute(
            select(link_tokens.c.revoked_at, link_tokens.c.subject_id).where(
                link_tokens.c.jti == claims.jti
            )
        )
    ).first()
    if row is None or row.subject_id != claims.subject:
        raise TokenError("unknown token")
    if row.revoked_at is not None:
        raise TokenError("token revoked")
    return claims


async def revoked_among(conn: AsyncConnection, link_ids: Iterable[str]) -> set[str]:
    """Which of these token ids are revoked (or unknown): their pages must be closed."""
    wanted = set(link_ids)
    if not wanted:
        return set()
    live = await conn.execute(
        select(link_tokens.c.jti).where(
            link_tokens.c.jti.in_(wanted), link_tokens.c.revoked_at.is_(None)
        )
    )
    return wanted - set(live.scalars())


async def revoke(
    conn: AsyncConnection,
    *,
    actor: str,
    jti: str | None = None,
    role: str | None = None,
    subject: str | None = None,
) -> list[str]:
    """Revoke one token by id, or every live token of a person; returns the token ids
    revoked, for the bus to close their pages (``Bus.revoked``, once committed)."""
    if jti is not None:
        which = link_tokens.c.jti == jti
    elif role is not None and subject is not None:
        which = (link_tokens.c.role == role) & (link_tokens.c.subject_id == subject)
    else:
        raise ValueError("give a token id, or a role and a subject")
    ids = await _revoke_where(conn, which)
    await audit(conn, actor, "link.revoked", jti or f"{role}:{subject}", {"count": len(ids)})
    return ids


async def revoke_inactive(conn: AsyncConnection, *, actor: str) -> list[str]:
    """Revoke the live links of staff members the roster made inactive: a link does not
    outlive employment. Returns the token ids revoked."""
    inactive = select(staff.c.id).where(staff.c.active.is_(False))
    which = (link_tokens.c.role == "staff") & link_tokens.c.subject_id.in_(inactive)
    ids = await _revoke_where(conn, which)
    if ids:
        await audit(conn, actor, "link.revoked", "staff:inactive", {"count": len(ids)})
    return ids


async def _revoke_where(conn: AsyncConnection, which: ColumnElement[bool]) -> list[str]:
    live = which & link_tokens.c.revoked_at.is_(None)
    ids = sorted((await conn.execute(select(link_tokens.c.jti).where(live))).scalars())
    if ids:
        await conn.execute(
            link_tokens.update()
            .where(link_tokens.c.jti.in_(ids), link_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return ids
