"""The naive pipeline Hadir is measured against, as aiortc's server example builds it:
the browser sends its camera as it is (15 fps, 640×480), and the server decodes and
analyses every frame it receives.

Each stream's frames are taken from the track as they come (``received``) and analysed
in order in a thread of its own (its own vision models: mediapipe graphs are not
thread-safe), so the event loop keeps receiving while a frame is analysed. A stream is
analysed at the rate it arrives as long as the CPU allows; past that, up to a second
of frames waits and older ones are dropped. ``GET /stats`` gives the frames received
and analysed so far, so the bench reports what the pipeline really did, not what it
was sent.

``python -m bench.loadgen.naive --port P`` serves ``POST /offer`` (SDP in, SDP out);
``naive_stream`` is its client. Only ``hadir bench load`` uses it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG


@dataclass
class Counts:
    received: int = 0
    analysed: int = 0


NAIVE_QUEUE = 15  # frames waiting for the analysis: a second at 15 fps
PEERS = web.AppKey("peers", set)
COUNTS = web.AppKey("counts", Counts)


async def _receive(
    track: MediaStreamTrack, waiting: asyncio.Queue[VideoFrame | None], counts: Counts
) -> None:
    """Frames into ``waiting`` as they come, then None when the track ends."""

    def put(frame: VideoFrame | None) -> None:
        if waiting.full():
            waiting.get_nowait()  # the analysis is a second behind: drop the oldest
        waiting.put_nowait(frame)

    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if isinstance(frame, VideoFrame):
                counts.received += 1
                put(frame)
    put(None)


async def _consume(track: MediaStreamTrack, counts: Counts) -> None:
    """Every frame of one stream, analysed in order in the stream's own thread."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    waiting: asyncio.Queue[VideoFrame | None] = asyncio.Queue(maxsize=NAIVE_QUEUE)
    receiving = asyncio.create_task(_receive(track, waiting, counts))
    with ThreadPoolExecutor(1) as thread:
        analyzer = await loop.run_in_executor(thread, FrameAnalyzer, DEFAULT_CONFIG)
        try:
            while (frame := await waiting.get()) is not None:
                rgb = frame.to_ndarray(format="rgb24")
                t = time.monotonic() - started
                await loop.run_in_executor(thread, analyzer.analyze, rgb, t)
                counts.analysed += 1
        finally:
            receiving.cancel()
            await loop.run_in_executor(thread, analyzer.close)


async def offer(request: web.Request) -> web.Response:
    body = await request.json()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    request.app[PEERS].add(pc)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            asyncio.ensure_future(_consume(track, request.app[COUNTS]))

    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def stats(request: web.Request) -> web.Response:
    counts = request.app[COUNTS]
    return web.json_response({"received": counts.received, "analysed": counts.analysed})


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    app[PEERS] = set()
    app[COUNTS] = Counts()
    yield
    await asyncio.gather(*(pc.close() for pc in app[PEERS]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.cleanup_ctx.append(_lifetime)
    app.router.add_post("/offer", offer)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=args.port, print=lambda *_: print("ready", flush=True))


async def naive_stream(
    session: aiohttp.ClientSession, url: str, media: str, seconds: float
) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    player = MediaPlayer(media, decode=False)
    assert player.video is not None
    try:
        pc.addTrack(player.video)
        await pc.setLocalDescription(await pc.createOffer())
        async with session.post(url, json={"sdp": pc.localDescription.sdp}) as response:
            answer = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await asyncio.sleep(seconds)
    finally:
        await pc.close()


def run_naive_worker(url: str, streams: int, media: str, seconds: float, t0: float) -> int:
    """``streams`` naive streams from ``t0`` (monotonic) for ``seconds``."""

    async def run() -> int:
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(naive_stream(session, url, media, seconds) for _ in range(streams))
            )
        return streams

    return asyncio.run(run())


if __name__ == "__main__":
    main()
