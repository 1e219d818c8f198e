"""Two ``hadir serve`` processes on one PostgreSQL and one Redis: a supervisor's page on
one and the staff page on the other meet through the bus (docs/scale-out.md)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession, WSMsgType
from redis import asyncio as aioredis
from sqlalchemy import func, select

from fixtures.generate import frames
from service.schema import calls, records
from signaling.stills import encode_header
from tests.api_helpers import bearer, new_key
from tests.call_helpers import ROSTER, add_check, add_checks, still_of, working_today
from tests.cli_helpers import hadir, hadir_env
from tests.scaleout_helpers import REDIS_URL, Cluster, Page, open_cluster
from tests.webhook_helpers import Receiver, endpoint_for, wait_until


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with open_cluster(tmp_path) as cluster:
        yield cluster


async def answered(cluster: Cluster, a: str, b: str) -> tuple[Page, Page, str, str]:
    """A supervisor's page on ``a`` calls staff1, whose page on ``b`` answers: both see
    the call active. The supervisor's page, the staff page, the check and the call."""
    check = await add_check(cluster.engine, "staff1")
    sup = await Page.join(a, cluster.links.tokens["sup1"])
    staff = await Page.join(b, cluster.links.tokens["staff1"])
    await sup.send({"type": "call", "check": check})
    call = (await sup.recv("state", state="ringing"))["call"]
    await staff.recv("ring")
    await staff.send({"type": "accept", "call": call})
    await sup.recv("state", state="active")
    await staff.recv("state", state="active")
    return sup, staff, check, call


async def test_a_call_across_two_processes(cluster: Cluster) -> None:
    port_a, port_b = await cluster.start(2)
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    check = await add_check(cluster.engine, "staff1")

    sup = await Page.join(a, cluster.links.tokens["sup1"])
    assert [p["state"] for p in sup.welcome["presence"]] == ["offline"]
    staff = await Page.join(b, cluster.links.tokens["staff1"])
    # The staff page opened on the other process: its supervisor hears of it.
    presence = await sup.recv("presence")
    assert [(p["id"], p["state"]) for p in presence["staff"]] == [("staff1", "online")]

    await sup.send({"type": "call", "check": check})
    call = (await sup.recv("state", state="ringing"))["call"]
    ring = await staff.recv("ring")
    assert (ring["call"], ring["supervisor"]) == (call, "Budi Santoso")

    # A second staff page, on the supervisor's process, sees the ringing call too.
    other = await Page.join(a, cluster.links.tokens["staff1"])
    assert other.welcome["call"]["call"] == call
    await other.close()

    await staff.send({"type": "accept", "call": call})
    assert (await sup.recv("state"))["state"] == "active"
    await staff.recv("state", state="active")
    # A refused message comes back to the page that sent it, from the call's process.
    await staff.send({"type": "decline", "call": call})
    assert (await staff.recv("error"))["code"] == "bad_state"

    # Peer-to-peer signaling relayed both ways, and the live status reaches both.
    offer = {"type": "sdp", "call": call, "leg": "p2p", "kind": "offer", "sdp": "v=0\r\n"}
    await sup.send(offer)
    assert (await staff.recv("sdp"))["sdp"] == "v=0\r\n"
    await staff.send({**offer, "kind": "answer", "sdp": "v=0\r\nanswer"})
    assert (await sup.recv("sdp"))["kind"] == "answer"
    ice = {"type": "ice", "call": call, "leg": "p2p", "candidate": "", "sdpMid": "0"}
    await staff.send({**ice, "sdpMLineIndex": 0})
    assert (await sup.recv("ice"))["sdpMid"] == "0"
    await staff.recv("status")
    await staff.send({"type": "visibility", "call": call, "hidden": False})

    # The staff page's stills go to the call's process, which analyses them; a bad one
    # is refused to the page that sent it, from there.
    pictures = [still_of(rgb).jpeg for rgb in list(frames("live"))[:30:10]]
    for sequence, jpeg in enumerate(pictures):
        await staff.ws.send_bytes(encode_header(call, sequence, 0.0) + jpeg)
        await asyncio.sleep(0.6)
    async with asyncio.timeout(20):
        while (await sup.recv("status"))["samples"] == 0:
            pass
    await staff.ws.send_bytes(encode_header(call, 0, 0.0) + pictures[0])  # not newer
    assert (await staff.recv("error"))["ref"] == "still"

    await staff.send({"type": "hangup", "call": call})
    ended = await sup.recv("ended")
    assert ended["reason"] == "hangup" and ended["record"]
    assert (await staff.recv("ended"))["record"] == ended["record"]
    async with cluster.engine.connect() as db:
        [row] = (await db.execute(select(calls.c.status, calls.c.ended_at))).all()
        assert row.status == "hangup" and row.ended_at is not None
        n = await db.scalar(select(func.count()).select_from(records))
    assert n == 1
    await sup.close()
    await staff.close()


async def test_the_staff_process_dies_and_the_call_resumes_on_the_other(
    cluster: Cluster,
) -> None:
    port_a, port_b = await cluster.start(2)
    node_b = cluster.nodes[1]
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    sup, staff, _, call = await answered(cluster, a, b)

    node_b.proc.send_signal(signal.SIGKILL)  # no drain, no goodbye on the bus
    node_b.proc.wait(10)
    await staff.close()
    # The page reconnects (the balancer sends it to a live process) within the grace.
    back = await Page.join(a, cluster.links.tokens["staff1"])
    assert back.welcome["call"]["call"] == call
    assert (await sup.recv("state", reason="reconnected"))["state"] == "active"
    await back.recv("state", reason="reconnected")
    await back.send({"type": "hangup", "call": call})
    ended = await sup.recv("ended")
    assert ended["record"]
    async with cluster.engine.connect() as db:
        n = await db.scalar(select(func.count()).select_from(records))
    assert n == 1
    await sup.close()
    await back.close()


async def test_the_call_s_process_dies_and_the_staff_page_elsewhere_is_told(
    cluster: Cluster,
) -> None:
    port_a, port_b = await cluster.start(2)
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    sup, staff, check, call = await answered(cluster, a, b)

    cluster.nodes[0].proc.send_signal(signal.SIGKILL)
    ended = await staff.recv("state", wait_s=5, state="ended")
    assert (ended["call"], ended["reason"]) == (call, "server_shutdown")
    # The supervisor's page reconnects to the live process and calls again at once.
    await sup.close()
    again = await Page.join(b, cluster.links.tokens["sup1"])
    await again.send({"type": "call", "check": check})
    assert (await staff.recv("ring"))["call"] != call
    for page in (again, staff):
        await page.close()


async def test_a_draining_process_takes_no_new_call_and_lets_its_call_finish(
    cluster: Cluster,
) -> None:
    port_a, port_b = await cluster.start(2, HADIR_SERVER_SHUTDOWN_TIMEOUT_S="4")
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    sup, staff, check, _ = await answered(cluster, a, b)
    idle = await Page.join(a, cluster.links.tokens["sup2"])

    cluster.nodes[0].proc.send_signal(signal.SIGTERM)
    # A page without a call is closed at once, to reconnect to another process.
    closed = await idle.ws.receive(timeout=5)
    assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and idle.ws.close_code == 1012
    await sup.send({"type": "call", "check": check})
    refused = await sup.recv("error")
    assert refused["code"] == "busy" and "stopping" in refused["message"]
    # The call goes on meanwhile, then ends with the grace: cut short, no record.
    await staff.recv("status")
    ended = await staff.recv("state", wait_s=15, state="ended")
    assert ended["reason"] == "server_shutdown"
    code, _ = cluster.nodes[0].stop()
    assert code == 0
    async with cluster.engine.connect() as db:
        n = await db.scalar(select(func.count()).select_from(records))
    assert n == 0
    for page in (sup, idle, staff):
        await page.close()


async def test_two_workers_on_one_port_share_calls_jobs_and_webhooks(cluster: Cluster) -> None:
    # Checks whose windows ended unanswered: both workers' sweeps look for them at
    # once, and both workers' dispatchers send what they record.
    receiver = await Receiver().start()
    await endpoint_for(cluster.engine, receiver.url, ["check.completed", "check.missed"])
    ended = [
        (staff, timedelta(minutes=-60 + i), timedelta(minutes=-1))
        for i in range(10)
        for staff in ("staff1", "staff2")
    ]
    await working_today(cluster.engine)  # else, on a weekend or holiday, they are cancelled
    missed = await add_checks(cluster.engine, ended)
    check = await add_check(cluster.engine, "staff1")
    [port] = await cluster.start(
        1,
        "--workers",
        "2",
        HADIR_JOBS_ENABLED="true",
        HADIR_JOBS_SWEEP_INTERVAL_S="0.2",
        HADIR_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES="1",
        HADIR_WEBHOOKS_POLL_INTERVAL_S="0.1",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # A call through the shared port: the pages land on either worker.
        sup = await Page.join(base, cluster.links.tokens["sup1"])
        staff = await Page.join(base, cluster.links.tokens["staff1"])
        await sup.send({"type": "call", "check": check})
        call = (await sup.recv("state", state="ringing"))["call"]
        await staff.send({"type": "accept", "call": call})
        await sup.recv("state", state="active")
        await sup.send({"type": "hangup", "call": call})
        assert (await staff.recv("ended"))["record"]
        await sup.close()
        await staff.close()

        # Only this test's checks count: the jobs make the day's own checks too, and one
        # whose window ends during the test is swept and sent like these.
        ours = {*missed, check}
        await wait_until(lambda: _sent(receiver, ours), within=60)
        await asyncio.sleep(1.0)  # room for a second sending, were there one
    finally:
        await receiver.stop()
    accepted = receiver.accepted(ours)
    assert len(accepted) == len(ours) and set(accepted.values()) == {1}
    async with cluster.engine.connect() as db:
        per_check = (
            await db.execute(
                select(records.c.check_id, func.count())
                .where(records.c.check_id.in_(ours))
                .group_by(records.c.check_id)
            )
        ).all()
    assert len(per_check) == len(ours) and {n for _, n in per_check} == {1}
    code, err = cluster.nodes[0].stop()
    assert code == 0, err
    listening = [json.loads(line) for line in err.splitlines() if '"msg": "listening"' in line]
    assert len({entry["pid"] for entry in listening}) == 2


async def _sent(receiver: Receiver, checks: set[str]) -> bool:
    return len(receiver.accepted(checks)) >= len(checks)


def test_more_workers_than_one_need_postgresql_and_redis(tmp_path: Path) -> None:
    result = hadir("serve", "--workers", "2", env=hadir_env(tmp_path / "data"))
    assert result.returncode == 2
    assert "--workers 2 needs PostgreSQL" in result.stderr


async def test_a_liveness_challenge_across_two_processes(cluster: Cluster) -> None:
    """The challenge lives with the call on the supervisor's process: the staff page on
    the other one gets it through the bus, its stills are relayed at the challenge's
    rate and measured there, and both pages get the result."""
    port_a, port_b = await cluster.start(2)
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    sup, staff, _, call = await answered(cluster, a, b)
    await staff.send({"type": "challenge", "call": call})
    assert (await staff.recv("error"))["code"] == "forbidden"
    await sup.send({"type": "challenge", "call": call})
    asked = await staff.recv("challenge")
    assert asked["nonce"] == (await sup.recv("challenge"))["nonce"]
    frozen = still_of(next(frames("frozen"))).jpeg
    for n in range(36):  # the page's 4 a second until the deadline
        await staff.ws.send_bytes(encode_header(call, n, 0.0) + frozen)
        await asyncio.sleep(0.25)
    errors = []
    async with asyncio.timeout(10):
        while (result := json.loads((await staff.ws.receive()).data))["type"] != "challenge_result":
            errors += [result["code"]] if result["type"] == "error" else []
    assert errors == []  # none refused for the rate: raised during the challenge
    assert (result["outcome"], result["finding"]) == ("failed", "frozen"), result
    assert (await sup.recv("challenge_result"))["nonce"] == asked["nonce"]
    await sup.send({"type": "hangup", "call": call})
    ended = await sup.recv("ended")
    assert ended["indicators"]["liveness"] == {"state": "fail", "reason": "liveness_failed"}
    await sup.close()
    await staff.close()


async def closed_unauthorized(page: Page, wait_s: float) -> None:
    assert (await page.recv("error", wait_s=wait_s))["code"] == "unauthorized"
    closing = await page.ws.receive(timeout=wait_s)
    assert (closing.type, closing.data) == (WSMsgType.CLOSE, 4401)


async def test_a_link_revoked_on_one_process_closes_its_page_on_the_other_at_once(
    cluster: Cluster,
) -> None:
    """The link check waits a minute here: only the bus can close the page in time. A
    malformed or other-version message on the bus first is dropped, never fatal."""
    port_a, port_b = await cluster.start(2, HADIR_CALLS_LINK_CHECK_S="60")
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    check = await add_check(cluster.engine, "staff1")
    sup = await Page.join(a, cluster.links.tokens["sup1"])
    staff = await Page.join(b, cluster.links.tokens["staff1"])
    await sup.send({"type": "call", "check": check})
    call = (await sup.recv("state", state="ringing"))["call"]
    await staff.recv("ring")

    redis = aioredis.from_url(REDIS_URL)
    for raw in ("not json", '{"v":2,"t":"revoked","links":["x"]}', '{"v":1,"t":"revoked"}'):
        await redis.publish(f"{cluster.prefix}:all", raw)
    await redis.aclose()

    key = await new_key(cluster.database_url, "roster:write")
    async with ClientSession() as http:
        answer = await http.delete(f"{a}/api/v1/staff/staff1/links", headers=bearer(key))
        assert (answer.status, await answer.json()) == (200, {"revoked": 1})
    await closed_unauthorized(staff, wait_s=3)
    ended = await sup.recv("state", wait_s=3, state="ended")  # its call ends as today
    assert ended["call"] == call
    await sup.close()
    await staff.close()

    async def logged() -> bool:  # its log is read by a thread: it may lag a little
        return cluster.nodes[1].stderr.count("bus message dropped") == 3

    await wait_until(logged, within=5)


async def test_links_revoked_by_commands_close_their_pages_at_once(cluster: Cluster) -> None:
    """``hadir link revoke`` and a ``hadir roster import`` that makes a staff member
    inactive run in processes of their own: they tell the server through Redis."""
    (port,) = await cluster.start(1, HADIR_CALLS_LINK_CHECK_S="60")
    base = f"http://127.0.0.1:{port}"
    staff1 = await Page.join(base, cluster.links.tokens["staff1"])
    staff2 = await Page.join(base, cluster.links.tokens["staff2"])
    done = await asyncio.to_thread(hadir, "link", "revoke", "--staff", "staff1", env=cluster.env())
    assert done.returncode == 0 and "revoked 1 link(s)" in done.stdout, done.stderr
    await closed_unauthorized(staff1, wait_s=3)  # counted from the command's exit

    roster = json.loads(json.dumps(ROSTER))
    roster["staff"][1]["active"] = False
    path = cluster.tmp / "inactive.json"
    path.write_text(json.dumps(roster))
    done = await asyncio.to_thread(hadir, "roster", "import", str(path), env=cluster.env())
    assert done.returncode == 0, done.stderr
    await closed_unauthorized(staff2, wait_s=3)
    await staff1.close()
    await staff2.close()
