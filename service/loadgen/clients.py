"""One synthetic call per stream: a supervisor at the signaling level and a staff member
whose analysis leg is the page's stills over its WebSocket (``media``: a directory of
JPEG files, sent in turn), one a second, as ``staff.js`` sends them.

Runs in worker processes apart from the server (``run_worker``); results travel back
as plain dataclasses.
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


@dataclass
class StreamResult:
    check_id: str
    admitted: bool = False  # the server took the analysis leg
    first_verdict_s: float | None = None  # analysis leg connected → first non-pending verdict
    lags: list[float] = field(default_factory=list)  # sample_lag_s of every status seen
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time, samples so far)
    verdict: str | None = None  # the final verdict of ``ended``
    record: str | None = None
    error: str | None = None


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


def _stills(media: str) -> list[bytes]:
    """The JPEG files in the directory ``media``."""
    return [p.read_bytes() for p in sorted(Path(media).glob("*.jpg"))]


async def _send_stills(
    ws: aiohttp.ClientWebSocketResponse, call: str, pictures: list[bytes]
) -> None:
    """The stills leg: the pictures in turn, as the page sends them (its first five every
    half second, then one a second)."""
    sequence = 0
    while True:
        jpeg = pictures[sequence % len(pictures)]
        await ws.send_bytes(encode_header(call, sequence, time.time() * 1000) + jpeg)
        sequence += 1
        await asyncio.sleep(0.5 if sequence < 5 else 1.0)


async def one_stream(
    session: aiohttp.ClientSession, ws_url: str, spec: StreamSpec, media: str, seconds: float
) -> StreamResult:
    result = StreamResult(spec.check_id)
    pictures = await asyncio.to_thread(_stills, media)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    drain: asyncio.Task[None] | None = None
    sending: asyncio.Task[None] | None = None
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
        await _next(staff, "state", SETUP_TIMEOUT_S)  # active: stills are taken now
        sending = asyncio.create_task(_send_stills(staff, call, pictures))
        try:  # busy comes back at once if admission control refused the leg
            await _next(staff, "no such message", 1.5)
        except TimeoutError:
            result.admitted = True
        except RuntimeError as exc:
            result.error = str(exc)
        drain = asyncio.create_task(_drain(staff))
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            with contextlib.suppress(TimeoutError):
                status = await _next(sup, "status", 2.0)
                if status["sample_lag_s"] is not None:
                    result.lags.append(status["sample_lag_s"])
                    result.samples.append((time.monotonic() - started, status["samples"]))
                if result.first_verdict_s is None and status["verdict"] != "pending":
                    result.first_verdict_s = time.monotonic() - started
        await sup.send_json({"type": "hangup", "call": call})
        ended = await _next(sup, "ended", SETUP_TIMEOUT_S)
        result.verdict, result.record = ended["verdict"], ended["record"]
    except Exception as exc:  # a stream's failure is a figure, not the end of the run
        result.error = result.error or f"{type(exc).__name__}: {exc}"
    finally:
        for task in (drain, sending):
            if task is not None:
                task.cancel()
        for ws in sockets:
            await ws.close()
    return result


async def _run(
    ws_url: str, specs: list[StreamSpec], media: str, seconds: float, ramp_s: float
) -> list[StreamResult]:
    async def staggered(i: int, spec: StreamSpec) -> StreamResult:
        await asyncio.sleep(ramp_s * i / max(1, len(specs)))
        return await one_stream(session, ws_url, spec, media, seconds)

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(staggered(i, s) for i, s in enumerate(specs))))


def run_worker(
    ws_url: str, specs: list[StreamSpec], media: str, seconds: float, ramp_s: float
) -> list[StreamResult]:
    """A worker process's share of the streams, joined over ``ramp_s`` seconds."""
    return asyncio.run(_run(ws_url, specs, media, seconds, ramp_s))
