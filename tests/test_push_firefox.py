"""Web Push delivered to a real browser, offline: Firefox ESR, the local push service,
``pywebpush`` as the sender.

A tiny page on 127.0.0.1 registers a service worker and subscribes with a VAPID
application server key; the test encrypts and signs a message with ``pywebpush`` and POSTs
it to the subscription's endpoint; Firefox receives it over its push WebSocket, decrypts
it, and the worker's ``push`` event shows a notification and hands the plain text back
(to an open page by ``postMessage``, and into Cache Storage, where a page opened later
finds it). One browser serves the whole module.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from tests.firefox_helpers import Firefox, launch
from tests.push_service import PushService, b64url_encode

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

WORKER = """
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("push", (event) => {
  const receivedAt = Date.now();
  const payload = event.data ? event.data.text() : null;
  event.waitUntil((async () => {
    let shown = "shown";
    try {
      await self.registration.showNotification("Hadir", { body: payload, tag: "push-test" });
    } catch (error) {
      shown = String(error);
    }
    const record = { payload, receivedAt, shown };
    const cache = await caches.open("pushes");
    await cache.put("/pushes/last", new Response(JSON.stringify(record)));
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) client.postMessage(record);
  })());
});
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = "/?opened=" + encodeURIComponent(event.notification.body);
  event.waitUntil(self.clients.openWindow(url));
});
"""

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>push test</title>
<script>
window.pushes = [];
navigator.serviceWorker.onmessage = (event) => window.pushes.push(event.data);
window.subscribe = async (key) => {
  const registration = await navigator.serviceWorker.register("/sw.js");
  await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.subscribe(
    { userVisibleOnly: true, applicationServerKey: key });
  return subscription.toJSON();
};
window.unsubscribe = async () => {
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.getSubscription();
  return subscription ? subscription.unsubscribe() : false;
};
window.lastPush = async () => {
  const response = await (await caches.open("pushes")).match("/pushes/last");
  return response ? response.json() : null;
};
window.forgetPushes = async () => { window.pushes = []; return caches.delete("pushes"); };
</script>
"""


def application_server_key(vapid: Vapid) -> str:
    """The VAPID public key as a page passes it to ``pushManager.subscribe``."""
    raw = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64url_encode(raw)


async def send(
    subscription: dict[str, Any], payload: str, vapid: Vapid, ttl: int = 60, topic: str = ""
) -> int:
    """POST one message as an application server does; its HTTP status."""
    try:
        response = await webpush_async(
            subscription,
            payload,
            vapid_private_key=vapid,
            vapid_claims={"sub": "mailto:admin@hadir.test"},
            ttl=ttl,
            headers={"Topic": topic} if topic else None,
        )
    except WebPushException as refused:
        assert refused.response is not None, refused
        return int(refused.response.status)
    return response.status if not isinstance(response, str) else 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def push() -> AsyncIterator[PushService]:
    async with PushService() as service:
        yield service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def origin() -> AsyncIterator[str]:
    """The test page and its worker, on loopback (a secure context for Firefox)."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def worker(_: web.Request) -> web.Response:
        return web.Response(text=WORKER, content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/sw.js", worker)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def firefox(push: PushService, origin: str) -> AsyncIterator[Firefox]:
    browser = await asyncio.to_thread(launch, push.ws_url)
    try:
        await browser.grant_notifications(origin)
        yield browser
    finally:
        await asyncio.to_thread(browser.close)


@pytest.fixture(scope="module")
def vapid() -> Vapid:
    key = Vapid()
    key.generate_keys()
    return key


async def subscribe(firefox: Firefox, origin: str, vapid: Vapid) -> dict[str, Any]:
    await firefox.navigate(origin + "/")
    subscription: dict[str, Any] = await firefox.script(
        "return window.subscribe(arguments[0]);", application_server_key(vapid)
    )
    await firefox.script("return window.forgetPushes();")
    return subscription


async def test_push_reaches_the_worker_of_an_open_page(
    firefox: Firefox, push: PushService, origin: str, vapid: Vapid
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    channel = push.channel_for(subscription["endpoint"])
    assert subscription["endpoint"].startswith(push.base_url + "/wpush/")
    assert channel.server_key is not None
    assert b64url_encode(channel.server_key) == application_server_key(vapid)

    payload = json.dumps({"kind": "ring", "url": "/staff/test", "caller": "Ibu Sari"})
    sent_at = time.time()
    assert await send(subscription, payload, vapid) == 201
    pushes = await firefox.wait_for("return window.pushes.length && window.pushes;")
    latency_ms = pushes[0]["receivedAt"] - sent_at * 1000
    print(f"\nsend → service worker push event: {latency_ms:.0f} ms")

    assert pushes[0]["payload"] == payload  # decrypted in the browser, byte for byte
    assert pushes[0]["shown"] == "shown"
    request = push.requests[-1]
    assert request.status == 201 and request.headers["content-encoding"] == "aes128gcm"
    assert payload.encode() not in request.body  # the push service only saw ciphertext
    assert request.authorization.startswith("vapid t=")
    assert request.vapid is not None and request.vapid.claims["aud"] == push.base_url
    version = next(v for v, n in push.notifications.items() if n.data == request.body)
    assert (await push.acked(version)).ack_code == 100  # Firefox: delivered


async def test_push_wakes_the_worker_when_no_page_is_open(
    firefox: Firefox, push: PushService, origin: str, vapid: Vapid
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    await firefox.navigate("about:blank")

    assert await send(subscription, "ring while closed", vapid) == 201
    await push.wait_for(lambda: all(n.acked_at for n in push.notifications.values()), 10, "the ack")
    await firefox.navigate(origin + "/")
    last = await firefox.wait_for("return window.lastPush();")
    assert last["payload"] == "ring while closed" and last["shown"] == "shown"


async def test_clicking_the_notification_opens_the_page(
    firefox: Firefox, push: PushService, origin: str, vapid: Vapid
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    await firefox.navigate("about:blank")
    assert await send(subscription, "tap to answer", vapid) == 201
    await push.wait_for(lambda: all(n.acked_at for n in push.notifications.values()), 10, "the ack")

    await firefox.click_notification("tap to answer")
    url = await firefox.switch_to_tab(origin + "/?opened=")
    assert url == origin + "/?opened=tap%20to%20answer"
    assert "tap to answer" not in [n["body"] for n in await firefox.notifications()]


async def test_messages_wait_for_an_offline_browser_within_their_ttl(
    firefox: Firefox, push: PushService, origin: str, vapid: Vapid
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    uaid = push.channel_for(subscription["endpoint"]).uaid
    await firefox.set_offline(True)
    try:
        await push.wait_for(lambda: not push.connected(uaid), 10, "the browser's disconnect")
        assert await send(subscription, "expired", vapid, ttl=0) == 201
        assert await send(subscription, "replaced", vapid, topic="call-1") == 201
        assert await send(subscription, "kept", vapid, topic="call-1") == 201
    finally:
        await firefox.set_offline(False)
    await push.wait_for(lambda: push.connected(uaid), 30, "the browser's reconnect")

    await firefox.wait_for("return window.pushes.length;")
    await asyncio.sleep(0.5)  # room for anything else that would (wrongly) arrive
    assert [p["payload"] for p in await firefox.script("return window.pushes;")] == ["kept"]


async def test_push_signed_with_another_key_is_refused(
    firefox: Firefox, push: PushService, origin: str, vapid: Vapid
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    other = Vapid()
    other.generate_keys()

    assert await send(subscription, "forged", other) == 401
    assert push.requests[-1].reason == "VAPID key is not the subscription's"


async def test_push_after_unsubscribe_answers_410(
    firefox: Firefox, push: PushService, origin: str, vapid: Vapid
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    assert await firefox.script("return window.unsubscribe();") is True
    await push.wait_for(
        lambda: not push.channel_for(subscription["endpoint"]).active, 10, "the unregister"
    )
    assert push.channel_for(subscription["endpoint"]).unregister_code == 200  # by the page

    assert await send(subscription, "too late", vapid) == 410
    unknown = {**subscription, "endpoint": push.base_url + "/wpush/" + "0" * 32}
    assert await send(unknown, "nobody", vapid) == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Encoding": "aes128gcm"}, 400),  # no TTL
        ({"TTL": "60", "Content-Encoding": "aes128gcm", "Urgency": "urgent"}, 400),
        ({"TTL": "60", "Content-Encoding": "aes128gcm", "Topic": "hadir-call-" + "x" * 30}, 400),
        ({"TTL": "60", "Content-Encoding": "aesgcm"}, 415),
        ({"TTL": "60", "Content-Encoding": "aes128gcm", "X-Size": "4097"}, 413),
        ({"TTL": "60", "Content-Encoding": "aes128gcm"}, 401),  # well formed, but no VAPID
    ],
)
async def test_malformed_pushes_are_refused_as_autopush_does(
    firefox: Firefox,
    push: PushService,
    origin: str,
    vapid: Vapid,
    headers: dict[str, str],
    status: int,
) -> None:
    subscription = await subscribe(firefox, origin, vapid)
    size = int(headers.pop("X-Size", "100"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(subscription["endpoint"], data=b"\0" * size, headers=headers) as response,
    ):
        assert response.status == status, await response.text()
