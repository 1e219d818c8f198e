"""The pure rules: retry schedule, Retry-After, SSRF checks, signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from service.webhooks.queue import DeliveryJob, Outcome, decide
from service.webhooks.retry import (
    DEFAULT_SCHEDULE,
    RetrySchedule,
    parse_duration,
    parse_retry_after,
)
from service.webhooks.signing import new_secret, secret_key, webhook_headers
from service.webhooks.ssrf import UnsafeURL, check_url, parse_url

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_default_schedule_is_the_spec_schedule_with_jitter() -> None:
    schedule = RetrySchedule.parse(DEFAULT_SCHEDULE)
    assert schedule.delays == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    assert schedule.next_delay(2, None, 0.5) == 300
    assert schedule.next_delay(2, None, 0.0) == pytest.approx(270)
    assert schedule.next_delay(2, None, 0.999) == pytest.approx(330, rel=1e-3)
    assert schedule.next_delay(10, None, 0.5) is None
    assert schedule.next_delay(1, 120, 0.5) == 120  # Retry-After lengthens
    assert schedule.next_delay(3, 1, 0.5) == 1800  # but never shortens
    assert schedule.next_delay(1, 10**9, 0.5) == 86400  # and is capped
    assert parse_duration("1.5h") == 5400 and parse_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("30", NOW) == 30
    assert parse_retry_after("Mon, 23 Nov 2026 03:01:00 GMT", NOW) == 60
    assert parse_retry_after("garbage", NOW) is None and parse_retry_after(None, NOW) is None


def test_decisions() -> None:
    schedule = RetrySchedule((0, 5, 60), jitter=0)
    job = DeliveryJob(1, "msg_1", "ep_1", "http://x", ("whsec_AA==",), b"{}", attempts=1)
    assert decide(job, Outcome(NOW, 1, 204), schedule, 0.5).status == "delivered"
    retry = decide(job, Outcome(NOW, 1, 500, "HTTP 500"), schedule, 0.5)
    assert retry.status == "pending" and retry.next_attempt_at == NOW + timedelta(seconds=60)
    assert decide(job, Outcome(NOW, 1, 301, "x"), schedule, 0.5).status == "pending"
    gone = decide(job, Outcome(NOW, 1, 410, "x"), schedule, 0.5)
    assert gone.status == "disabled" and gone.disable_endpoint
    last = DeliveryJob(1, "msg_1", "ep_1", "http://x", ("whsec_AA==",), b"{}", attempts=2)
    assert decide(last, Outcome(NOW, 1, None, "refused"), schedule, 0.5).status == "failed"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@example.com/",
        "http:///nohost",
        "http://127.0.0.1:8080/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://100.64.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "https://example.com/#frag",
        "x" * 3000,
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        parse_url(url, allow_private=False)


async def test_names_resolving_to_private_addresses_are_refused() -> None:
    with pytest.raises(UnsafeURL, match="not public"):
        await check_url("http://localhost:8080/hook", allow_private=False)
    assert (await check_url("http://localhost:8080/hook", allow_private=True)).port == 8080
    assert parse_url("https://93.184.215.14/x", allow_private=False).host == "93.184.215.14"


async def test_send_time_guard_refuses_a_name_that_now_resolves_privately(
    store: AsyncEngine,
) -> None:
    from service.webhooks.dispatcher import Dispatcher
    from tests.webhook_helpers import (
        Receiver,
        Running,
        endpoint_for,
        enqueue_many,
        fast_settings,
        wait_until,
    )

    receiver = await Receiver().start()
    # Registered while allowed (or before the name re-pointed): sending re-checks.
    await endpoint_for(store, receiver.url.replace("127.0.0.1", "localhost"))
    await enqueue_many(store, 1)
    from sqlalchemy import select

    from service.schema import deliveries

    async def refused() -> bool:
        async with store.connect() as conn:
            row = (await conn.execute(select(deliveries.c.last_error))).scalar_one()
        return row is not None

    try:
        async with Running(
            Dispatcher(store, Ed25519PrivateKey.generate(), fast_settings(allow_private=False))
        ):
            await wait_until(refused)
    finally:
        await receiver.stop()
    assert receiver.received == []
    async with store.connect() as conn:
        error = (await conn.execute(select(deliveries.c.last_error))).scalar_one()
    assert "not public" in error


def test_signature_headers_verify_with_the_reference_library() -> None:
    secret = new_secret()
    assert 24 <= len(secret_key(secret)) <= 64
    key = Ed25519PrivateKey.generate()
    stamp = int(NOW.timestamp())
    headers = webhook_headers("msg_1", stamp, b'{"a":1}', [secret], key)
    expected = Webhook(secret).sign(
        "msg_1", NOW, '{"a":1}'
    )  # a UTC datetime: see the research note
    assert headers["webhook-signature"].split(" ")[0] == expected
    with pytest.raises(ValueError):
        secret_key("not-a-secret")
