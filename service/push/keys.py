"""The VAPID key as Web Push needs it: the public half as the page's
``applicationServerKey``, the private half as ``py_vapid`` signs with it."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Base64url with or without padding; ValueError if it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VapidKey:
    private: ec.EllipticCurvePrivateKey

    @property
    def public_b64(self) -> str:
        """The uncompressed P-256 point, base64url: what ``pushManager.subscribe`` takes."""
        point = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    def signer(self) -> Vapid02:
        return Vapid02(private_key=self.private)
