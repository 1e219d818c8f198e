"""A local push service: a test double of Mozilla's autopush that Firefox accepts.

Browsers do not receive Web Push from the sender directly: the sender POSTs to the
subscription's endpoint on a push service, which forwards the message over a connection
the browser keeps open. Firefox's push service is a preference (``dom.push.serverURL``),
so tests point it here and run everything on 127.0.0.1, offline.

Two faces, one process:

- **Browser side**: Mozilla's push WebSocket protocol (subprotocol ``push-notification``,
  JSON messages with a ``messageType``): ``hello`` (the server assigns or keeps the user
  agent id, ``use_webpush: true`` so messages carry encrypted data), ``register`` (a
  channel id from the browser, the subscription's VAPID key; answered with a
  ``pushEndpoint`` on this service), ``unregister``, ``ack``/``nack`` of notifications,
  and ``{}`` pings answered by ``{}``. Messages for a browser that is not connected wait
  for its next ``hello`` until their TTL runs out.
- **Sender side**: the WebPush protocol (RFC 8030): ``POST /wpush/<channel>`` with an
  ``aes128gcm`` body (RFC 8291, never decrypted here: only the browser has the key) and a
  ``TTL`` header (``Urgency`` and ``Topic`` checked as RFC 8030 says; a newer message
  replaces a waiting one of its topic); 201 with a ``Location``; 404 for a channel never
  registered, 410 for one unsubscribed, so a sender's clean-up can be tested. A channel
  registered with an application server key requires a VAPID ``Authorization`` (RFC 8292)
  signed by that key for this service's origin, as autopush does; every request is
  recorded with its headers.

Tests of the sender alone need no browser: :meth:`PushService.subscriber` registers a
channel for a :class:`Subscriber`, the browser's half of a subscription (its P-256 key
and auth secret) held by the test, which decrypts what was pushed to it;
``fail_with`` makes a channel's endpoint answer an error (a push service in trouble).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import WSMsgType, web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SUBPROTOCOL = "push-notification"
MAX_PAYLOAD = 4096  # what autopush accepts: the encrypted record, headers of aes128gcm included
MAX_VAPID_LIFETIME_S = 24 * 3600  # RFC 8292 §2: "exp" no more than 24 hours ahead
URGENCIES = ("very-low", "low", "normal", "high")  # RFC 8030 §5.3
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 §5.4


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding (Firefox pads the key it registers, JWTs do not)."""
    stripped = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class VapidError(Exception):
    """Why a request's VAPID authorization is refused (answered 401)."""


@dataclass(frozen=True)
class Vapid:
    """A verified VAPID authorization: the JWT's claims and the key that signed it."""

    claims: dict[str, Any]
    public_key: bytes  # uncompressed P-256 point, 65 bytes


def parse_authorization(headers: dict[str, str]) -> tuple[str, str]:
    """The (JWT, public key) of a VAPID request: RFC 8292's ``vapid t=…, k=…`` or the
    draft's ``WebPush <jwt>`` with ``Crypto-Key: p256ecdsa=…`` (autopush takes both)."""
    authorization = headers.get("authorization", "")
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() == "vapid":
        params = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part.strip())
        if "t" in params and "k" in params:
            return params["t"], params["k"]
    elif scheme.lower() == "webpush":
        for part in headers.get("crypto-key", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "p256ecdsa" and value:
                return rest.strip(), value
    raise VapidError(f"no VAPID authorization in {authorization!r}")


def verify_vapid(headers: dict[str, str], audience: str, now: float) -> Vapid:
    """Check the ES256 JWT of a request against the key it names, for ``audience``."""
    token, key_text = parse_authorization(headers)
    try:
        public_key = b64url_decode(key_text)
        verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, binascii.Error) as error:
        raise VapidError(f"malformed VAPID token or key: {error}") from error
    if header.get("alg") != "ES256" or len(signature) != 64:
        raise VapidError(f"VAPID token is not ES256: {header}")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        verifier.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as error:
        raise VapidError("VAPID signature does not verify") from error
    if claims.get("aud") != audience:
        raise VapidError(f"VAPID aud {claims.get('aud')!r} is not {audience!r}")
    expiry = claims.get("exp")
    if not isinstance(expiry, int) or not now < expiry <= now + MAX_VAPID_LIFETIME_S:
        raise VapidError(f"VAPID exp {expiry!r} is not within 24 h from now")
    return Vapid(claims, public_key)


@dataclass
class Channel:
    """One push subscription, as the browser registered it."""

    channel_id: str
    uaid: str
    endpoint: str
    server_key: bytes | None  # the subscription's applicationServerKey, if it had one
    active: bool = True
    unregister_code: int | None = None  # Firefox's: 200 by the page, 202 permission revoked


@dataclass(frozen=True)
class PushRequest:
    """What a sender POSTed to an endpoint, and what this service answered."""

    channel_id: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float  # time.monotonic()
    vapid: Vapid | None
    reason: str  # why it was refused, empty when accepted

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


@dataclass(frozen=True)
class Subscriber:
    """The browser's half of one subscription: what a page hands the server, and the
    keys that decrypt what is pushed to it (RFC 8291)."""

    endpoint: str
    private: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls, endpoint: str) -> Subscriber:
        return cls(endpoint, ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def channel_id(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def subscription(self, **extra: Any) -> dict[str, Any]:
        """``PushSubscription.toJSON()`` as a page sends it, with ``extra`` fields."""
        point = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url_encode(point), "auth": b64url_encode(self.auth)}
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": keys, **extra}

    def decrypt(self, request: PushRequest) -> dict[str, Any]:
        assert request.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            request.body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"
        )
        value: dict[str, Any] = json.loads(plain)
        return value


@dataclass
class Notification:
    """A message accepted for a channel, until the browser acknowledges it."""

    channel_id: str
    version: str
    data: bytes
    encoding: str
    expires_at: float  # time.monotonic()
    topic: str | None = None
    sent_at: float | None = None
    ack_code: int | None = None
    acked_at: float | None = None

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "messageType": "notification",
            "channelID": self.channel_id,
            "version": self.version,
        }
        if self.data:
            message["data"] = b64url_encode(self.data)
            message["headers"] = {"encoding": self.encoding}
        return message


@dataclass
class PushService:
    """Run with ``async with PushService() as push:``; Firefox's ``dom.push.serverURL``
    is :attr:`ws_url`, senders POST to the endpoints it hands out."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: the system picks a free one
    channels: dict[str, Channel] = field(default_factory=dict)
    requests: list[PushRequest] = field(default_factory=list)
    notifications: dict[str, Notification] = field(default_factory=dict)  # by version
    protocol_log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (in/out, msg)
    fail_with: dict[str, int] = field(default_factory=dict)  # channel id -> status answered
    _sockets: dict[str, web.WebSocketResponse] = field(default_factory=dict)  # by uaid
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    async def __aenter__(self) -> PushService:
        app = web.Application()
        app.router.add_get("/", self._websocket)
        app.router.add_post("/wpush/{channel}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *_: object) -> None:
        for socket in list(self._sockets.values()):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- what tests ask ----

    def connected(self, uaid: str) -> bool:
        """Whether the browser of ``uaid`` holds its WebSocket open now."""
        return uaid in self._sockets

    def subscriber(self, server_key: str | None = None) -> Subscriber:
        """A channel registered for a browser that never connects (its messages wait), and
        the subscription's keys; ``server_key`` (base64url) makes VAPID required."""
        subscriber = Subscriber.new(f"{self.base_url}/wpush/{uuid.uuid4()}")
        key = None if server_key is None else b64url_decode(server_key)
        self.channels[subscriber.channel_id] = Channel(
            subscriber.channel_id, uuid.uuid4().hex, subscriber.endpoint, key
        )
        return subscriber

    def channel_for(self, endpoint: str) -> Channel:
        return next(c for c in self.channels.values() if c.endpoint == endpoint)

    async def wait_for(
        self, condition: Callable[[], Any], within_s: float, what: str = "condition"
    ) -> Any:
        """Wait until ``condition()`` is truthy (re-checked whenever the service's state
        changes) and return its value."""
        deadline = time.monotonic() + within_s
        while not (value := condition()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"push service: {what} not reached in {within_s} s; "
                    f"protocol: {self.protocol_log[-12:]}, "
                    f"requests: {[(r.channel_id, r.status, r.reason) for r in self.requests]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return value

    async def acked(self, version: str, within_s: float = 10) -> Notification:
        """The notification ``version`` once the browser acknowledged it."""
        notification = self.notifications[version]
        await self.wait_for(
            lambda: notification.acked_at is not None, within_s, f"ack of {version}"
        )
        return notification

    # ---- sender side (RFC 8030) ----

    async def _push(self, request: web.Request) -> web.Response:
        received_at = time.monotonic()
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = await request.read()
        channel = self.channels.get(request.match_info["channel"])
        vapid: Vapid | None = None
        status, reason = 201, ""
        try:
            vapid = self._check(channel, headers, body)
        except web.HTTPException as refusal:
            status, reason = refusal.status, refusal.text or ""
        if status == 201 and request.match_info["channel"] in self.fail_with:
            status, reason = self.fail_with[request.match_info["channel"]], "failing as asked"
        self.requests.append(
            PushRequest(
                request.match_info["channel"], status, headers, body, received_at, vapid, reason
            )
        )
        self._changed.set()
        if status != 201:
            return web.json_response(
                {"code": status, "errno": status, "error": reason}, status=status
            )
        assert channel is not None  # _check refused an unknown one
        ttl = int(headers["ttl"])
        notification = Notification(
            channel_id=channel.channel_id,
            version=uuid.uuid4().hex,
            data=body,
            encoding=headers.get("content-encoding", ""),
            expires_at=received_at + ttl,
        )
        topic = headers.get("topic")
        if topic:  # RFC 8030 §5.4: a new message replaces one of its topic still waiting
            for waiting in self.notifications.values():
                same = waiting.channel_id == channel.channel_id and waiting.topic == topic
                if same and waiting.sent_at is None:
                    waiting.expires_at = 0
        notification.topic = topic
        self.notifications[notification.version] = notification
        await self._deliver(channel.uaid, notification)
        return web.Response(
            status=201,
            headers={
                "Location": f"{self.base_url}/m/{notification.version}",  # the message's URL
                "TTL": str(ttl),
            },
        )

    def _check(self, channel: Channel | None, headers: dict[str, str], body: bytes) -> Vapid | None:
        """Refuse what autopush refuses, with its status codes."""
        if channel is None:
            raise web.HTTPNotFound(text="unknown channel")
        if not channel.active:
            raise web.HTTPGone(text="subscription unsubscribed")
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            raise web.HTTPBadRequest(text=f"TTL header missing or not a number: {ttl!r}")
        urgency = headers.get("urgency", "normal")
        if urgency not in URGENCIES:
            raise web.HTTPBadRequest(text=f"Urgency {urgency!r} is not one of {URGENCIES}")
        topic = headers.get("topic")
        if topic is not None and not TOPIC.fullmatch(topic):
            raise web.HTTPBadRequest(text=f"Topic {topic!r}: at most 32 base64url characters")
        if body and headers.get("content-encoding") != "aes128gcm":
            raise web.HTTPUnsupportedMediaType(
                text=f"Content-Encoding {headers.get('content-encoding')!r} is not aes128gcm"
            )
        if len(body) > MAX_PAYLOAD:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_PAYLOAD, actual_size=len(body))
        if channel.server_key is None:
            return None
        try:
            vapid = verify_vapid(headers, self.base_url, time.time())
        except VapidError as error:
            raise web.HTTPUnauthorized(text=str(error)) from error
        if vapid.public_key != channel.server_key:
            raise web.HTTPUnauthorized(text="VAPID key is not the subscription's")
        return vapid

    # ---- browser side (autopush's WebSocket protocol) ----

    async def _deliver(self, uaid: str, notification: Notification) -> None:
        socket = self._sockets.get(uaid)
        if socket is None or socket.closed:
            return  # waits for the browser's next hello
        notification.sent_at = time.monotonic()
        await self._send(socket, notification.message())

    async def _send(self, socket: web.WebSocketResponse, message: dict[str, Any]) -> None:
        self.protocol_log.append(("out", message))
        await socket.send_str(json.dumps(message) if message else "{}")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=None)
        if not socket.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="a WebSocket upgrade is expected here")
        await socket.prepare(request)
        if socket.ws_protocol != SUBPROTOCOL:
            await socket.close(message=b"subprotocol push-notification required")
            return socket
        uaid: str | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    break
                message = json.loads(frame.data)
                if not isinstance(message, dict):
                    break
                self.protocol_log.append(("in", message))
                kind = message.get("messageType", "ping") if message else "ping"
                if uaid is None:
                    if kind != "hello":
                        break  # autopush closes a connection that does not say hello first
                    uaid = await self._hello(socket, message)
                    continue
                handler = self._handlers().get(kind)
                if handler is None:
                    break
                await handler(socket, uaid, message)
                self._changed.set()
        finally:
            if uaid is not None and self._sockets.get(uaid) is socket:
                del self._sockets[uaid]
            self._changed.set()
        return socket

    def _handlers(
        self,
    ) -> dict[str, Callable[[web.WebSocketResponse, str, dict[str, Any]], Awaitable[None]]]:
        return {
            "register": self._register,
            "unregister": self._unregister,
            "ack": self._ack,
            "nack": self._nack,
            "ping": self._ping,
            "broadcast_subscribe": self._ignore,
        }

    async def _hello(self, socket: web.WebSocketResponse, message: dict[str, Any]) -> str:
        """Keep a user agent id this service knows (it has channels), else issue one: a
        browser given a new id drops its old subscriptions, as with a real server."""
        asked = message.get("uaid")
        known = {c.uaid for c in self.channels.values()}
        uaid = asked if isinstance(asked, str) and asked in known else uuid.uuid4().hex
        previous = self._sockets.get(uaid)
        if previous is not None and previous is not socket:
            await previous.close()
        self._sockets[uaid] = socket
        await self._send(
            socket,
            {
                "messageType": "hello",
                "status": 200,
                "uaid": uaid,
                "use_webpush": True,
                "broadcasts": {},
            },
        )
        self._changed.set()
        now = time.monotonic()
        for notification in list(self.notifications.values()):
            channel = self.channels[notification.channel_id]
            waiting = notification.acked_at is None and notification.expires_at > now
            if channel.uaid == uaid and channel.active and waiting:
                await self._deliver(uaid, notification)
        return uaid

    async def _register(
        self, socket: web.WebSocketResponse, uaid: str, message: dict[str, Any]
    ) -> None:
        channel_id = str(message.get("channelID", ""))
        reply: dict[str, Any] = {"messageType": "register", "channelID": channel_id}
        try:
            uuid.UUID(channel_id)
            key = message.get("key")
            server_key = b64url_decode(key) if isinstance(key, str) else None
        except (ValueError, binascii.Error):
            await self._send(socket, {**reply, "status": 400})
            return
        if server_key is not None and (len(server_key) != 65 or server_key[0] != 4):
            await self._send(socket, {**reply, "status": 400})  # not a P-256 public key
            return
        endpoint = f"{self.base_url}/wpush/{channel_id}"
        self.channels[channel_id] = Channel(channel_id, uaid, endpoint, server_key)
        await self._send(socket, {**reply, "status": 200, "pushEndpoint": endpoint})

    async def _unregister(
        self, socket: web.WebSocketResponse, uaid: str, message: dict[str, Any]
    ) -> None:
        channel_id = str(message.get("channelID", ""))
        channel = self.channels.get(channel_id)
        if channel is not None and channel.uaid == uaid:
            channel.active = False
            code = message.get("code")
            channel.unregister_code = code if isinstance(code, int) else None
        await self._send(
            socket, {"messageType": "unregister", "channelID": channel_id, "status": 200}
        )

    async def _ack(self, socket: web.WebSocketResponse, uaid: str, message: dict[str, Any]) -> None:
        """Code 100 delivered, 101 decryption failed, 102 not delivered (Firefox's codes)."""
        for update in message.get("updates", []):
            notification = self.notifications.get(str(update.get("version")))
            if notification is not None:
                notification.ack_code = int(update.get("code", 100))
                notification.acked_at = time.monotonic()

    async def _nack(
        self, socket: web.WebSocketResponse, uaid: str, message: dict[str, Any]
    ) -> None:
        """A service worker that threw or rejected while handling the push (codes 30x)."""
        notification = self.notifications.get(str(message.get("version")))
        if notification is not None:
            notification.ack_code = int(message.get("code", 0))

    async def _ping(
        self, socket: web.WebSocketResponse, uaid: str, message: dict[str, Any]
    ) -> None:
        await self._send(socket, {})

    async def _ignore(
        self, socket: web.WebSocketResponse, uaid: str, message: dict[str, Any]
    ) -> None:
        """Broadcast subscriptions (remote settings) have nothing to do with Web Push."""
