"""The naive pipeline Hadir is measured against, as aiortc's server example builds it:
the browser sends its camera as it is (15 fps, 640×480), and the server decodes and
analyses every frame on the event loop.

``python -m bench.loadgen.naive --port P`` serves ``POST /offer`` (SDP in, SDP out);
``naive_stream`` is its client. Only ``hadir bench load`` uses it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

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

PEERS = web.AppKey("peers", set)
ANALYZER = web.AppKey("analyzer", FrameAnalyzer)


async def _consume(track: MediaStreamTrack, analyzer: FrameAnalyzer) -> None:
    started = time.monotonic()
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if isinstance(frame, VideoFrame):
                analyzer.analyze(frame.to_ndarray(format="rgb24"), time.monotonic() - started)


async def offer(request: web.Request) -> web.Response:
    body = await request.json()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    request.app[PEERS].add(pc)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            asyncio.ensure_future(_consume(track, request.app[ANALYZER]))

    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    app[PEERS] = set()
    app[ANALYZER] = FrameAnalyzer(DEFAULT_CONFIG)
    yield
    await asyncio.gather(*(pc.close() for pc in app[PEERS]))
    app[ANALYZER].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.cleanup_ctx.append(_lifetime)
    app.router.add_post("/offer", offer)
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


def run_naive_worker(url: str, streams: int, media: str, seconds: float) -> int:
    async def run() -> int:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(naive_stream(session, url, media, seconds) for _ in range(streams))
            )
        return streams

    return asyncio.run(run())


if __name__ == "__main__":
    main()
