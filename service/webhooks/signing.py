"""Standard Webhooks signatures: ``v1`` HMAC-SHA256 per endpoint secret, ``v1a`` Ed25519.

Both sign ``{webhook-id}.{webhook-timestamp}.{body}`` over the exact bytes sent. The
``v1a`` key is the service key that also signs records, so a receiver that pins its
public key (``whpk_…``, served at ``/api/v1/keys``) needs no shared secret at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
SECRET_BYTES = 32  # the spec allows 24 to 64


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 after ``whsec_`` decoded (not the string itself, as Stripe does)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secrets start with whsec_")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def signature_header(
    msg_id: str,
    timestamp: int,
    body: bytes,
    secrets_: Sequence[str],
    key: Ed25519PrivateKey,
) -> str:
    """Space-separated ``v1,…`` entries (one per live secret) and one ``v1a,…`` entry."""
    content = signed_content(msg_id, timestamp, body)
    entries = [
        "v1," + _b64(hmac.new(secret_key(s), content, hashlib.sha256).digest()) for s in secrets_
    ]
    entries.append("v1a," + _b64(key.sign(content)))
    return " ".join(entries)


def webhook_headers(
    msg_id: str,
    timestamp: int,
    body: bytes,
    secrets_: Sequence[str],
    key: Ed25519PrivateKey,
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(msg_id, timestamp, body, secrets_, key),
        "content-type": "application/json",
    }


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The ``whpk_`` form of the service's public key."""
    return PUBLIC_KEY_PREFIX + _b64(public_key_bytes(key))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
