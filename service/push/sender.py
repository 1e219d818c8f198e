"""Sending Web Push: one VAPID-signed, aes128gcm-encrypted POST per subscription.

``pywebpush`` encrypts the payload and ``py_vapid`` signs, in a worker thread (each is
CPU work); the POST goes through this process's aiohttp session, whose resolver
refuses non-public addresses (the webhooks' SSRF guard), so a saved endpoint cannot be
turned against the internal network later by DNS. A push service that
answers 404 or 410 has dropped the subscription: it is deleted. Any other failure is
logged and forgotten: a push is a courtesy on top of the call, never a condition of it,
so nothing here raises to its caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
from py_vapid import VapidException
from pywebpush import WebPusher
from sqlalchemy.ext.asyncio import AsyncEngine

from service import metrics, tokens
from service.clock import utcnow
from service.links import PAGE_PATHS
from service.push.keys import VapidKey
from service.push.payloads import PushMessage, reminder_message, ring_message
from service.push.subscriptions import Target, delete_subscription, mark_delivered, targets_of
from service.store import read_only
from service.webhooks.ssrf import GuardedResolver

log = logging.getLogger("hadir.push")
GONE = (404, 410)
# A VAPID JWT may live up to 24 h (RFC 8292 2); each push signs a fresh one.
VAPID_LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class PushSettings:
    subject: str  # the VAPID ``sub`` claim: mailto: or https:
    ring_ttl_s: int = 60
    timeout_s: float = 10.0
    allow_insecure_loopback: bool = False  # a test's push service on 127.0.0.1


@dataclass(frozen=True)
class Sent:
    """What became of one push."""

    target: Target
    status: int | None  # the push service's answer; None if it was not reached
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class PushRequest:
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class DueReminder:
    check_id: str
    staff_id: str
    window_start: datetime


class Pusher:
    """Pushes rings and reminders to the subscriptions of staff members."""

    def __init__(
        self,
        engine: AsyncEngine,
        link_secret: bytes,
        key: VapidKey,
        base_url: str,
        settings: PushSettings,
    ) -> None:
        self.engine, self.key, self.settings = engine, key, settings
        self._secret, self._base_url = link_secret, base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def page_url(self, target: Target) -> str:
        """The staff page of the link the subscription was saved through."""
        token = tokens.sign(target.link, self._secret)
        return f"{self._base_url}{PAGE_PATHS['staff']}/{token}"

    async def ring(self, staff_id: str, call_id: str, check_id: str, supervisor: str) -> int:
        """Tell ``staff_id``'s phones that ``supervisor`` is calling; how many pushes went."""

        def build(target: Target) -> list[PushMessage]:
            url = self.page_url(target)
            ttl = self.settings.ring_ttl_s
            return [ring_message(target.lang, url, call_id, check_id, supervisor, ttl)]

        return await self._push_to([staff_id], build)

    async def remind(self, due: Sequence[DueReminder], zone: ZoneInfo, now: datetime) -> int:
        """Tell each person their checks' windows open soon; how many pushes went."""

        def build(target: Target) -> list[PushMessage]:
            return [
                _reminder(target, self.page_url(target), d, zone, now)
                for d in due
                if d.staff_id == target.staff_id
            ]

        return await self._push_to(list({d.staff_id for d in due}), build)

    async def _push_to(
        self, staff_ids: list[str], build: Callable[[Target], list[PushMessage]]
    ) -> int:
        try:
            now = utcnow()
            async with read_only(self.engine).connect() as conn:
                found = await targets_of(conn, staff_ids, now)
            pushes = [(t, message) for t in found for message in build(t)]
            sent = await asyncio.gather(*(self.send(t, message) for t, message in pushes))
            await self._settle(sent, now)
            return sum(s.ok for s in sent)
        except Exception:  # never the caller's problem: see the module doc
            log.exception("push failed", extra={"fields": {"staff": staff_ids[:20]}})
            return 0

    async def send(self, target: Target, message: PushMessage) -> Sent:
        """One push; failures become a ``Sent`` with the status or error, never raise."""
        try:
            # Encrypting and signing cost about a millisecond of CPU each: a thread's work,
            # or a reminder round for a thousand phones would hold the loop for a second.
            request = await asyncio.to_thread(self.prepare, target, message)
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
            async with self._client().post(
                target.endpoint, data=request.body, headers=request.headers, timeout=timeout
            ) as response:
                await response.read()
                return Sent(target, response.status)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, VapidException) as exc:
            return Sent(target, None, f"{type(exc).__name__}: {exc}"[:200])

    def prepare(self, target: Target, message: PushMessage) -> PushRequest:
        """The POST of one push (RFC 8030): the payload encrypted for the subscription
        (RFC 8291, aes128gcm) and the VAPID signature for its push service (RFC 8292)."""
        body = WebPusher(target.info()).encode(message.encode(), "aes128gcm")["body"]
        endpoint = urlsplit(target.endpoint)
        claims = {
            "sub": self.settings.subject,
            "aud": f"{endpoint.scheme}://{endpoint.netloc}",
            "exp": int(time.time()) + VAPID_LIFETIME_S,
        }
        headers = {
            **self.key.signer().sign(claims),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(message.ttl_s),
            "Urgency": message.urgency,
            "Topic": _topic(message.tag),
        }
        return PushRequest(body, headers)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = GuardedResolver(allow_private=self.settings.allow_insecure_loopback)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, limit=64)
            )
        return self._session

    async def _settle(self, sent: list[Sent], now: datetime) -> None:
        gone = [s for s in sent if s.status in GONE]
        delivered = [s.target.id for s in sent if s.ok]
        metrics.PUSHES.labels("sent").inc(len(delivered))
        metrics.PUSHES.labels("gone").inc(len(gone))
        metrics.PUSHES.labels("failed").inc(len(sent) - len(delivered) - len(gone))
        for s in sent:
            if not s.ok:
                log.warning(
                    "push not delivered",
                    extra={
                        "fields": {
                            "subscription": s.target.id,
                            "staff": s.target.staff_id,
                            "status": s.status,
                            "error": s.error,
                            "deleted": s.status in GONE,
                        }
                    },
                )
        if not gone and not delivered:
            return
        async with self.engine.begin() as conn:
            for s in gone:
                await delete_subscription(conn, s.target.endpoint, None)
            await mark_delivered(conn, delivered, now)


def _reminder(
    target: Target, url: str, due: DueReminder, zone: ZoneInfo, now: datetime
) -> PushMessage:
    left = max(due.window_start - now, timedelta(0))
    minutes = max(1, round(left.total_seconds() / 60))
    at = due.window_start.astimezone(zone).strftime("%H:%M")
    ttl = max(1, int(left.total_seconds()))
    return reminder_message(target.lang, url, due.check_id, at, minutes, ttl)


def _topic(tag: str) -> str:
    """RFC 8030 Topic (≤32 URL-safe characters): a newer push replaces a held one."""
    return tag.removeprefix("hadir-")[-32:].replace("_", "-")
