"""Signed link tokens: who the bearer is, until when, and an id for revocation.

Format ``v1.<payload>.<mac>``: base64url JSON ``{"r": role, "s": subject, "e": expiry
(unix s), "j": token id}`` and its HMAC-SHA256 under the link secret. Pure: checking
revocation needs the database and is done by ``service.links``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

ROLES = ("supervisor", "staff")
MAX_TOKEN_LEN = 512


class TokenError(ValueError):
    """The token is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class LinkClaims:
    role: str
    subject: str
    expires_at: datetime
    jti: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_claims(role: str, subject: str, expires_at: datetime) -> LinkClaims:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    return LinkClaims(role, subject, expires_at, secrets.token_hex(12))


def sign(claims: LinkClaims, secret: bytes) -> str:
    body = json.dumps(
        {
            "r": claims.role,
            "s": claims.subject,
            "e": int(claims.expires_at.timestamp()),
            "j": claims.jti,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    payload = _b64(body)
    mac = hmac.new(secret, f"v1.{payload}".encode(), hashlib.sha256).digest()
    return f"v1.{payload}.{_b64(mac)}"


def verify(token: str, secret: bytes, now: datetime) -> LinkClaims:
    """Check format, signature and expiry; raise TokenError saying what is wrong."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LEN or token.count(".") != 2:
        raise TokenError("malformed token")
    version, payload, mac = token.split(".")
    if version != "v1":
        raise TokenError("unknown token version")
    expected = hmac.new(secret, f"v1.{payload}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
        data = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("malformed token") from None
    if not hmac.compare_digest(expected, given):
        raise TokenError("invalid signature")
    if (
        not isinstance(data, dict)
        or data.get("r") not in ROLES
        or not isinstance(data.get("s"), str)
        or not isinstance(data.get("e"), int)
        or not isinstance(data.get("j"), str)
    ):
        raise TokenError("malformed token")
    expires = datetime.fromtimestamp(data["e"], UTC)
    if now >= expires:
        raise TokenError("token expired")
    return LinkClaims(data["r"], data["s"], expires, data["j"])
