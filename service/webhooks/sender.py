"""One delivery attempt over HTTP: sign afresh, POST, and say what happened."""

from __future__ import annotations

import time

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.clock import utcnow
from service.webhooks.queue import DeliveryJob, Outcome
from service.webhooks.retry import parse_retry_after
from service.webhooks.signing import webhook_headers
from service.webhooks.ssrf import UnsafeURL, parse_url

USER_AGENT = "Hadir-Webhooks/1"


async def send(
    session: aiohttp.ClientSession,
    job: DeliveryJob,
    key: Ed25519PrivateKey,
    *,
    allow_private: bool,
) -> Outcome:
    """POST the event once. The session's resolver re-checks the host (DNS rebinding).

    The timestamp and signatures are made now, per attempt; the id stays the event's.
    Redirects are not followed: a 3xx is a failed attempt like any other non-2xx.
    """
    started = utcnow()
    clock = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - clock) * 1000

    try:
        parse_url(job.url, allow_private=allow_private)
    except UnsafeURL as exc:
        return Outcome(started, elapsed_ms(), error=f"refused: {exc}")
    headers = webhook_headers(job.event_id, int(started.timestamp()), job.body, job.secrets, key)
    try:
        async with session.post(
            job.url, data=job.body, headers=headers, allow_redirects=False
        ) as response:
            status = response.status
            retry_after = parse_retry_after(response.headers.get("Retry-After"), utcnow())
    except TimeoutError:
        return Outcome(started, elapsed_ms(), error="timed out")
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(started, elapsed_ms(), error=f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return Outcome(started, elapsed_ms(), status_code=status)
    reason = "a redirect, not followed" if 300 <= status < 400 else "not a 2xx"
    return Outcome(started, elapsed_ms(), status, f"HTTP {status}: {reason}", retry_after)
