"""One synthetic call per stream: a supervisor at the signaling level and a staff member
whose analysis leg is sent by a ``Sender`` (today ``Vp8Sender``: a real aiortc peer
sending a pre-encoded VP8 file, as the page's analysis track does).

Runs in worker processes apart from the server (``run_worker``); results travel back
as plain dataclasses. Times in results are ``time.monotonic()`` readings, which on
Linux are one clock for every process, so the bench lines them up with the server's
CPU readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

SETUP_TIMEOUT_S = 30.0
HOME = (-6.1754, 106.8272)  # where every synthetic staff member lives and works (Monas)


@dataclass(frozen=True)
class StreamSpec:
    supervisor_token: str
    staff_token: str
    check_id: str


@dataclass(frozen=True)
class Planned:
    """A stream's place in the run: it joins ``start_s`` after the run's start and its
    supervisor hangs up ``seconds`` after the analysis leg is set up."""

    spec: StreamSpec
    start_s: float
    seconds: float


@dataclass
class StreamResult:
    check_id: str
    admitted: bool = False  # the server took the analysis leg
    refused: bool = False  # admission control answered ``busy``
    started: float | None = None  # monotonic: the analysis leg set up, the call's clock
    first_verdict_s: float | None = None  # analysis leg connected → first non-pending verdict
    # Every status seen: (monotonic time, sample_lag_s, samples so far).
    statuses: list[tuple[float, float, int]] = field(default_factory=list)
    verdict: str | None = None  # the final verdict of ``ended``
    not_passed: list[str] = field(default_factory=list)  # "criterion:reason" of ``ended``
    record: str | None = None
    error: str | None = None


class Sender(Protocol):
    """What carries the staff member's pictures to the server's analysis. One per call."""

    async def start(self, staff: aiohttp.ClientWebSocketResponse, call: str) -> None:
        """Open the analysis leg on the answered call; an ``error`` reply (``busy``)
        raises ``RuntimeError``."""

    async def close(self) -> None:
        """Stop sending; safe whether or not ``start`` ran or succeeded."""


class Vp8Sender:
    """The analysis leg as the page's second peer connection: a pre-encoded VP8 file
    sent by aiortc without re-encoding."""

    def __init__(self, media: str) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.player = MediaPlayer(media, decode=False)

    async def start(self, staff: aiohttp.ClientWebSocketResponse, call: str) -> None:
        assert self.player.video is not None
        self.pc.addTrack(self.player.video)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription.sdp
        await staff.send_json(
            {"type": "sdp", "call": call, "leg": "server", "kind": "offer", "sdp": offer}
        )
        answer = await _next(staff, "sdp", SETUP_TIMEOUT_S)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    async def close(self) -> None:
        await self.pc.close()


# ``hadir bench load --leg KIND``: what carries the analysis leg, built from the media path.
SENDERS: dict[str, Callable[[str], Sender]] = {"vp8": Vp8Sender}


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float) -> dict[str, Any]:
    """The next message of ``kind``; an ``error`` from the server raises."""
    async with asyncio.timeout(within):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed waiting for {kind}")
            data: dict[str, Any] = msg.json()
            if data["type"] == kind:
                return data
            if data["type"] == "error":
                raise RuntimeError(f"{data['code']}: {data['message']}")


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


async def _join(session: aiohttp.ClientSession, url: str, token: str) -> Any:
    ws = await session.ws_connect(url)
    try:
        await ws.send_json({"type": "join", "v": 1, "token": token})
        await _next(ws, "welcome", SETUP_TIMEOUT_S)
    except BaseException:
        await ws.close()
        raise
    return ws


async def one_stream(
    session: aiohttp.ClientSession,
    ws_url: str,
    spec: StreamSpec,
    media: str,
    seconds: float,
    kind: str = "vp8",
) -> StreamResult:
    result = StreamResult(spec.check_id)
    sender = SENDERS[kind](media)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    drain: asyncio.Task[None] | None = None
    try:
        # Joins inside the try: a refused or timed-out join is this stream's error.
        sup = await _join(session, ws_url, spec.supervisor_token)
        sockets.append(sup)
        staff = await _join(session, ws_url, spec.staff_token)
        sockets.append(staff)
        await sup.send_json({"type": "call", "check": spec.check_id})
        call = (await _next(staff, "ring", SETUP_TIMEOUT_S))["call"]
        await staff.send_json({"type": "accept", "call": call})
        # As the staff page does: the position once per call.
        await staff.send_json(
            {"type": "location", "call": call, "lat": HOME[0], "lon": HOME[1], "accuracy": 20}
        )
        try:
            await sender.start(staff, call)
        except RuntimeError as exc:  # busy: admission control refused the analysis leg
            result.error, result.refused = str(exc), str(exc).startswith("busy")
        else:
            result.admitted = True
        drain = asyncio.create_task(_drain(staff))
        started = result.started = time.monotonic()
        while time.monotonic() - started < seconds:
            with contextlib.suppress(TimeoutError):
                status = await _next(sup, "status", 2.0)
                now = time.monotonic()
                if status["sample_lag_s"] is not None:
                    result.statuses.append((now, status["sample_lag_s"], status["samples"]))
                if result.first_verdict_s is None and status["verdict"] != "pending":
                    result.first_verdict_s = now - started
        await sup.send_json({"type": "hangup", "call": call})
        ended = await _next(sup, "ended", SETUP_TIMEOUT_S)
        result.verdict, result.record = ended["verdict"], ended["record"]
        result.not_passed = [
            f"{name}:{shown['state']}:{shown['reason']}"
            for name, shown in ended["indicators"].items()
            if shown["state"] != "pass"
        ]
    except Exception as exc:  # a stream's failure is a figure, not the end of the run
        result.error = result.error or f"{type(exc).__name__}: {exc}"
    finally:
        if drain is not None:
            drain.cancel()
        await sender.close()
        for ws in sockets:
            await ws.close()
    return result


async def _run(
    ws_url: str, plans: list[Planned], media: str, kind: str, t0: float
) -> list[StreamResult]:
    async def planned(plan: Planned) -> StreamResult:
        await asyncio.sleep(max(0.0, t0 + plan.start_s - time.monotonic()))
        return await one_stream(session, ws_url, plan.spec, media, plan.seconds, kind)

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(planned(p) for p in plans)))


def run_worker(
    ws_url: str, plans: list[Planned], media: str, kind: str, t0: float
) -> list[StreamResult]:
    """A worker process's share of the streams, each joining at its planned time after
    ``t0`` (monotonic)."""
    return asyncio.run(_run(ws_url, plans, media, kind, t0))
