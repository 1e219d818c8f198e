"""A push service on 127.0.0.1 that keeps what it is sent, and a browser's side of a
subscription (its P-256 key and auth secret) to decrypt and verify it with."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from service.push.keys import b64url, unb64url


@dataclass
class Pushed:
    name: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


@dataclass
class PushService:
    """Answers ``POST /push/<name>`` with ``answers[name]`` (201 by default)."""

    answers: dict[str, int] = field(default_factory=dict)
    received: list[Pushed] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set at each push
    _runner: web.AppRunner | None = None

    async def start(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{name}", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _take(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.received.append(Pushed(name, request.headers.copy(), await request.read()))
        self.arrived.set()
        return web.Response(status=self.answers.get(name, 201))


@dataclass(frozen=True)
class Browser:
    """The browser's half of one subscription."""

    endpoint: str
    private: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls, endpoint: str) -> Browser:
        return cls(endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def subscription(self, **extra: Any) -> dict[str, Any]:
        point = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url(point), "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys, **extra}

    def decrypt(self, pushed: Pushed) -> dict[str, Any]:
        assert pushed.headers["Content-Encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            pushed.body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"
        )
        value: dict[str, Any] = json.loads(plain)
        return value


def verify_vapid(pushed: Pushed, public_b64: str, audience: str) -> dict[str, Any]:
    """Check ``Authorization: vapid t=<JWT>, k=<key>`` (RFC 8292) against the server's
    public key; return the JWT's claims."""
    scheme, _, params = pushed.headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert fields["k"] == public_b64
    header, payload, signature = fields["t"].split(".")
    raw = unb64url(signature)
    der = utils.encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_b64))
    key.verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(unb64url(header)) == {"typ": "JWT", "alg": "ES256"}
    claims: dict[str, Any] = json.loads(unb64url(payload))
    assert claims["aud"] == audience
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    return claims
