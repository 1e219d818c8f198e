"""Push subscriptions: checked when a staff page saves one, stored per person, and read
back with the link each was saved through (pushes open that link's page).

A browser's endpoint belongs to one person at a time: saved again through another
person's link (a shared phone), it moves to them. A subscription whose link was
revoked or has expired gets no pushes; one the push service says is gone (404/410)
is deleted by the sender.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from service.push.keys import unb64url
from service.schema import link_tokens, push_subscriptions, staff
from service.tokens import LinkClaims
from service.validation import CONTROL_OR_SURROGATE, Schema
from service.web.i18n import LANGS
from service.webhooks.ssrf import UnsafeURL, check_url, parse_url

MAX_ENDPOINT = 1024
# Phones and browsers a person may have subscribed at once; saving one more forgets the
# least recently refreshed, so one link cannot make each ring fan out without bound.
MAX_PER_PERSON = 10
# Push endpoints and keys are plain ASCII: nothing else reaches a URL or the database.
PRINTABLE_ASCII = "^[!-~]+$"
BASE64URL = "^[A-Za-z0-9_-]+={0,2}$"
ENDPOINT = {"type": "string", "minLength": 1, "maxLength": MAX_ENDPOINT, "pattern": PRINTABLE_ASCII}
BODY_SCHEMA = Schema(
    {
        "type": "object",
        "properties": {
            "endpoint": ENDPOINT,
            "expirationTime": {"type": ["number", "null"]},
            "keys": {
                "type": "object",
                "properties": {
                    "p256dh": {"type": "string", "maxLength": 120, "pattern": BASE64URL},
                    "auth": {"type": "string", "maxLength": 40, "pattern": BASE64URL},
                },
                "required": ["p256dh", "auth"],
                "additionalProperties": False,
            },
            "lang": {"enum": list(LANGS)},
        },
        "required": ["endpoint", "keys"],
        "additionalProperties": False,
    }
)
ENDPOINT_SCHEMA = Schema(
    {
        "type": "object",
        "properties": {"endpoint": ENDPOINT},
        "required": ["endpoint"],
        "additionalProperties": True,  # the whole subscription JSON may be sent back
    }
)


class SubscriptionError(ValueError):
    """The subscription JSON is refused; the message names the field."""


@dataclass(frozen=True)
class NewSubscription:
    """A browser's ``PushSubscription.toJSON()``, checked, and the page's language."""

    endpoint: str
    p256dh: str
    auth: str
    lang: str = "id"


@dataclass(frozen=True)
class Target:
    """A stored subscription with what a push to it needs."""

    id: str
    staff_id: str
    endpoint: str
    p256dh: str
    auth: str
    lang: str
    link: LinkClaims

    def info(self) -> dict[str, Any]:
        """pywebpush's ``subscription_info``."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def _first_problem(schema: Schema, value: Any) -> None:
    problem = next(schema.problems(value), None)
    if problem is not None:
        raise SubscriptionError(str(problem))


async def check_endpoint(endpoint: str, *, allow_insecure_loopback: bool) -> str:
    """An https URL whose host resolves to public addresses only (the SSRF guard of
    webhooks); http to a loopback address only when allowed (a test's push service)."""
    try:
        url = parse_url(endpoint, allow_private=True)
        if allow_insecure_loopback and _is_loopback(url.host or ""):
            return endpoint
        if url.scheme != "https":
            raise UnsafeURL("url: must be an https URL")
        await check_url(endpoint, allow_private=False)
    except UnsafeURL as exc:
        raise SubscriptionError(f"endpoint{str(exc).removeprefix('url')}") from None
    return endpoint


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def parse_subscription(value: Any, *, allow_insecure_loopback: bool) -> NewSubscription:
    """Check a subscription JSON: its form, an endpoint a push may go to, and keys that
    are a P-256 point (65 bytes) and a 16-byte secret."""
    _first_problem(BODY_SCHEMA, value)
    endpoint = await check_endpoint(
        value["endpoint"], allow_insecure_loopback=allow_insecure_loopback
    )
    keys = value["keys"]
    try:
        point = unb64url(keys["p256dh"])
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise SubscriptionError("keys.p256dh: not a base64url P-256 public key") from None
    if len(point) != 65:
        raise SubscriptionError("keys.p256dh: expected an uncompressed P-256 point")
    try:
        auth = unb64url(keys["auth"])
    except ValueError:
        raise SubscriptionError("keys.auth: not base64url") from None
    if len(auth) != 16:
        raise SubscriptionError("keys.auth: expected 16 bytes")
    return NewSubscription(endpoint, keys["p256dh"], keys["auth"], value.get("lang", "id"))


def parse_endpoint(value: Any) -> str:
    """The endpoint of a subscription to delete (the whole subscription JSON will do)."""
    _first_problem(ENDPOINT_SCHEMA, value)
    endpoint: str = value["endpoint"]
    return endpoint


def _upsert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(push_subscriptions)


async def save_subscription(
    conn: AsyncConnection,
    staff_id: str,
    link_id: str,
    sub: NewSubscription,
    user_agent: str,
    now: datetime,
) -> bool:
    """Store or refresh ``sub`` for ``staff_id``; True if it was new (to this person)."""
    values = {
        "staff_id": staff_id,
        "link_id": link_id,
        "p256dh": sub.p256dh,
        "auth": sub.auth,
        "lang": sub.lang,
        "user_agent": CONTROL_OR_SURROGATE.sub("", user_agent)[:300],
        "refreshed_at": now,
    }
    before = (
        await conn.execute(
            select(push_subscriptions.c.staff_id).where(
                push_subscriptions.c.endpoint == sub.endpoint
            )
        )
    ).scalar()
    insert = _upsert(conn).values(
        id=f"ps_{secrets.token_hex(10)}", endpoint=sub.endpoint, created_at=now, **values
    )
    await conn.execute(insert.on_conflict_do_update(index_elements=["endpoint"], set_=values))
    kept = (
        select(push_subscriptions.c.id)
        .where(push_subscriptions.c.staff_id == staff_id)
        .order_by(push_subscriptions.c.refreshed_at.desc(), push_subscriptions.c.id)
        .limit(MAX_PER_PERSON)
    )
    await conn.execute(
        delete(push_subscriptions).where(
            push_subscriptions.c.staff_id == staff_id,
            push_subscriptions.c.id.not_in(kept.scalar_subquery()),
        )
    )
    return before != staff_id


async def delete_subscription(conn: AsyncConnection, endpoint: str, staff_id: str | None) -> bool:
    """Delete by endpoint (only ``staff_id``'s, if given); True if one was deleted."""
    query = delete(push_subscriptions).where(push_subscriptions.c.endpoint == endpoint)
    if staff_id is not None:
        query = query.where(push_subscriptions.c.staff_id == staff_id)
    return (await conn.execute(query)).rowcount > 0


async def targets_of(
    conn: AsyncConnection, staff_ids: Iterable[str], now: datetime
) -> list[Target]:
    """The subscriptions of these people whose link is still good."""
    ids = list(set(staff_ids))
    if not ids:
        return []
    s, links = push_subscriptions.c, link_tokens.c
    rows = (
        await conn.execute(
            select(
                s.id,
                s.staff_id,
                s.endpoint,
                s.p256dh,
                s.auth,
                s.lang,
                links.jti,
                links.role,
                links.subject_id,
                links.expires_at,
            )
            .join(link_tokens, links.jti == s.link_id)
            .join(staff, staff.c.id == s.staff_id)
            .where(
                staff.c.active.is_(True),
                s.staff_id.in_(ids),
                links.subject_id == s.staff_id,
                links.role == "staff",
                links.revoked_at.is_(None),
                links.expires_at > now,
            )
            .order_by(s.staff_id, s.created_at)
        )
    ).all()
    return [
        Target(
            r.id,
            r.staff_id,
            r.endpoint,
            r.p256dh,
            r.auth,
            r.lang,
            LinkClaims(r.role, r.subject_id, r.expires_at, r.jti),
        )
        for r in rows
    ]


async def mark_delivered(conn: AsyncConnection, ids: list[str], now: datetime) -> None:
    if ids:
        await conn.execute(
            update(push_subscriptions)
            .where(push_subscriptions.c.id.in_(ids))
            .values(last_success_at=now)
        )
