"""One synthetic call per stream: a supervisor at the signaling level and a staff member
whose analysis leg is ``StillsSender``: a directory of JPEG files sent in turn over the
staff page's WebSocket, as ``staff.js`` sends its stills.

Runs in worker processes apart from the server (``run_worker``); results travel back
as plain dataclasses. Times in results are ``time.monotonic()`` readings, which on
Linux are one clock for every process, so the bench lines them up with the server's
CPU readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from signaling.stills import encode_header

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
    stills: int = 0  # stills sent on the analysis leg


class StillsSender:
    """The analysis leg as the page sends it: a JPEG still a second (its first five half
    a second apart) as binary frames on the staff page's WebSocket."""

    def __init__(self, media: str) -> None:
        self.pictures = [p.read_bytes() for p in sorted(Path(media).glob("*.jpg"))]
        self.sending: asyncio.Task[None] | None = None
        self.sent = 0

    async def start(self, staff: aiohttp.ClientWebSocketResponse, call: str) -> None:
        await _next(staff, "state", SETUP_TIMEOUT_S)  # active: stills are taken now
        self.sending = asyncio.create_task(self._send(staff, call))
        with contextlib.suppress(TimeoutError):  # busy comes back at once if refused
            await _next(staff, "no such message", 1.5)

    async def _send(self, ws: aiohttp.ClientWebSocketResponse, call: str) -> None:
        while True:
            jpeg = self.pictures[self.sent % len(self.pictures)]
            await ws.send_bytes(encode_header(call, self.sent, time.time() * 1000) + jpeg)
            self.sent += 1
            await asyncio.sleep(0.5 if self.sent < 5 else 1.0)

    async def close(self) -> None:
        if self.sending is not None:
            self.sending.cancel()


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
) -> StreamResult:
    result = StreamResult(spec.check_id)
    sender = StillsSender(media)
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
        result.stills = sender.sent
        for ws in sockets:
            await ws.close()
    return result


async def _run(ws_url: str, plans: list[Planned], media: str, t0: float) -> list[StreamResult]:
    async def planned(plan: Planned) -> StreamResult:
        await asyncio.sleep(max(0.0, t0 + plan.start_s - time.monotonic()))
        return await one_stream(session, ws_url, plan.spec, media, plan.seconds)

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(planned(p) for p in plans)))


def run_worker(ws_url: str, plans: list[Planned], media: str, t0: float) -> list[StreamResult]:
    """A worker process's share of the streams, each joining at its planned time after
    ``t0`` (monotonic)."""
    return asyncio.run(_run(ws_url, plans, media, t0))
