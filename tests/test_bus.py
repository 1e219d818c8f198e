"""The bus between processes (signaling/bus.py): its messages, version 1 only, and the
``[redis]`` settings."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime

import pytest

from service.config import ConfigError, load_config
from signaling.auth import Identity
from signaling.bus import (
    BusError,
    ClosePage,
    Deliver,
    LocalBus,
    PageRef,
    RedisBus,
    Relay,
    RelayStill,
    Revoked,
    StaffJoined,
    StaffLeft,
    ToPage,
    decode,
    encode,
)
from tests.scaleout_helpers import REDIS_URL

WHO = Identity("staff", "staff1", "Siti", "lnk_1", datetime(2026, 1, 1, tzinfo=UTC), "sup1")


@pytest.mark.parametrize(
    "msg",
    [
        Deliver("n1", "staff", "staff1", '{"type":"ring"}'),
        ToPage("c1", '{"type":"pong"}'),
        ClosePage("c1", 4401, "unauthorized"),
        Relay(WHO, PageRef("n2", "c2"), '{"type":"accept","call":"call_1"}'),
        RelayStill(WHO, PageRef("n2", "c2"), b"\x01\x06call_1\xff\xd8 any bytes \x00"),
        StaffJoined(WHO, "n2"),
        StaffLeft(WHO),
        Revoked(("lnk_1", "lnk_2")),
        Revoked(()),
    ],
)
def test_every_message_survives_the_wire(msg: object) -> None:
    text = encode(msg)  # type: ignore[arg-type]
    assert json.loads(text)["v"] == 1
    assert decode(text) == msg


@pytest.mark.parametrize(
    "text",
    [
        '{"v": 2, "t": "to_page", "conn": "c", "text": "x"}',
        '{"v": 1, "t": "nope"}',
        '{"v": 1, "t": "to_page", "conn": "c"}',
        '{"v": 1, "t": "to_page", "conn": "c", "text": "x", "extra": 1}',
        '{"v": 1, "t": "to_page", "conn": ["c"], "text": "x"}',
        '{"v": 1, "t": "staff_left", "who": {"role": "staff"}}',
        encode(RelayStill(WHO, PageRef("n2", "c2"), b"x")).replace('"eA=="', '"not base64!"'),
        '{"v": 1, "t": "revoked", "links": "lnk_1"}',
        '{"v": 1, "t": "revoked", "links": ["lnk_1", 2]}',
        '{"v": 1, "t": "revoked"}',
        '{"v": 2, "t": "revoked", "links": []}',
        "[1]",
        "not json",
    ],
)
def test_other_versions_and_shapes_are_refused(text: str) -> None:
    with pytest.raises(BusError):
        decode(text)


async def test_the_local_bus_is_alone() -> None:
    bus = LocalBus()
    assert not bus.shared
    assert await bus.online(["staff1"]) == set()
    assert await bus.staff_call("staff1") is None and await bus.call_node("call_1") is None
    assert await bus.claim_call("call_1", "staff1", {}) is True
    await bus.revoked(["lnk_1"])  # a command's bus: no hub here, nobody to tell
    heard: list[object] = []

    async def hub(msg: object) -> None:
        heard.append(msg)

    await bus.start(hub)
    await bus.revoked(["lnk_2", "lnk_1"])
    await bus.revoked([])  # nothing revoked: nothing said
    assert heard == [Revoked(("lnk_1", "lnk_2"))]


async def test_a_bad_message_on_redis_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every node hears a revocation, the sender's too; what it cannot read it drops."""
    prefix = f"hadir_t_{secrets.token_hex(6)}"
    node, command = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
    heard: list[object] = []
    both = asyncio.Event()

    async def hub(msg: object) -> None:
        heard.append(msg)
        if len(heard) == 2:
            both.set()

    await node.start(hub)
    try:
        for raw in ("not json", '{"v":2,"t":"revoked","links":["x"]}', '{"v":1,"t":"nope"}'):
            await command.redis.publish(f"{prefix}:all", raw)
        await command.revoked({"lnk_1"})  # a command's bus, never started
        await node.revoked({"lnk_2"})
        await asyncio.wait_for(both.wait(), 5)
    finally:
        await command.close()
        await node.close()
    assert heard == [Revoked(("lnk_1",)), Revoked(("lnk_2",))]
    assert [r.message for r in caplog.records].count("bus message dropped") == 3


async def test_a_publish_cancelled_on_the_wire_cancels_its_caller() -> None:
    # A call's status loop publishes once a second and is cancelled when the call ends;
    # redis-py can swallow a cancellation that lands while a command waits for its reply
    # (redis/redis-py#2028), and the loop would then go on and hold the call's end.
    bus = RedisBus(REDIS_URL, prefix=f"hadir_t_{secrets.token_hex(6)}")
    stopping = asyncio.Event()  # what ends the loops that went on, so the test ends

    async def status_loop() -> None:
        while not stopping.is_set():
            await bus.deliver("supervisor", "sup1", '{"type":"status"}')
            await asyncio.sleep(0)

    went_on: list[asyncio.Task[None]] = []
    try:
        for trial in range(100):
            task = asyncio.create_task(status_loop())
            await asyncio.sleep(0.0005 * (trial % 7))  # at every point of a publish
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                went_on.append(task)
    finally:
        stopping.set()
        if went_on:
            await asyncio.wait(went_on, timeout=5.0)
        await bus.redis.aclose()
    assert len(went_on) == 0


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"HADIR_REDIS_URL": "http://127.0.0.1:6379"}, "redis.url"),
        ({"HADIR_REDIS_PREFIX": "a b"}, "redis.prefix"),
        ({"HADIR_REDIS_PREFIX": ""}, "redis.prefix"),
    ],
)
def test_bad_redis_settings_name_their_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(env=env)


def test_redis_is_off_by_default() -> None:
    assert load_config(env={}).redis.url == ""
