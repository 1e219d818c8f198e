"""Secrets kept in the data dir, created on first use with owner-only permissions.

Every node of a scaled-out deployment must share these files (mount the same data
dir, or copy them), or links signed by one node will not open on another.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LINK_SECRET_FILE = "link-secret.key"
SIGNING_KEY_FILE = "signing-ed25519.key"
VAPID_KEY_FILE = "vapid-p256.pem"
FACE_KEY_FILE = "face-descriptors.key"  # AES-256-GCM: enrolled faces (service.enrolment)


def load_or_create_secret(data_dir: Path, name: str, nbytes: int = 32) -> bytes:
    """Read a random secret, creating it atomically (no two processes write different ones)."""
    return _load_or_create(data_dir, name, lambda: secrets.token_bytes(nbytes))


def _load_or_create(data_dir: Path, name: str, make: Callable[[], bytes]) -> bytes:
    path = data_dir / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(make())
    try:
        os.link(tmp, path)  # fails if another process won the race; then use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def load_or_create_signing_key(data_dir: Path) -> Ed25519PrivateKey:
    """The service's Ed25519 key: it signs verification records and ``v1a`` webhooks."""
    seed = load_or_create_secret(data_dir, SIGNING_KEY_FILE, nbytes=32)
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_or_create_vapid_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The service's VAPID key (EC P-256, PEM): it signs every Web Push request, and a
    browser ties its subscription to the public half, so a new key orphans them all."""

    def make() -> bytes:
        return ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    key = serialization.load_pem_private_key(_load_or_create(data_dir, VAPID_KEY_FILE, make), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{data_dir / VAPID_KEY_FILE}: not an EC P-256 private key")
    return key
