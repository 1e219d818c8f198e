"""The server's side of the analysis leg: an aiortc peer that receives the staff camera.

aiortc decodes every frame into an unbounded queue whatever the consumer does, so
the peer drains its track continuously and keeps only the latest frame; the browser
caps the stream (≤640×480, ≤5 fps), which is what keeps the decoding cheap. Frames
are analysed elsewhere (``signaling.analysis``), off the event loop.

Remote candidates, in the offer or trickled, pass ``signaling.candidates`` first: the
peer never sends STUN checks where a page should not aim it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

from signaling.candidates import MAX_CANDIDATES, offered_candidates, refusal

log = logging.getLogger("hadir.peer")


class PeerError(Exception):
    """The offer cannot be answered; the message is safe to send to the client."""


class AnalysisPeer:
    """One receive-only peer connection; ``latest`` is the newest frame and its number."""

    def __init__(
        self,
        ice_servers: list[RTCIceServer],
        on_frame: Callable[[], None],
        on_track_ended: Callable[[], None],
    ) -> None:
        # An explicit (possibly empty) list: aiortc's default is a public STUN server.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self.latest: VideoFrame | None = None
        self.latest_at = 0.0  # event-loop time the latest frame arrived
        self.frames = 0
        self._on_frame = on_frame
        self._on_track_ended = on_track_ended
        self._drain: asyncio.Task[None] | None = None
        self._candidates = 0
        self.pc.on("track", self._track)

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind != "video" or self._drain is not None:
            return
        self._drain = asyncio.ensure_future(self._drain_track(track))

    async def _drain_track(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self._on_track_ended()
                return
            if isinstance(frame, VideoFrame):
                self.latest = frame
                self.latest_at = asyncio.get_running_loop().time()
                self.frames += 1
                self._on_frame()

    def _admit(self, candidate: str) -> RTCIceCandidate:
        """Parse a ``candidate:…`` value and count it, or refuse it with the reason."""
        try:
            parsed = candidate_from_sdp(candidate.split(":", 1)[1])
        except (ValueError, IndexError):
            raise PeerError("the candidate could not be parsed") from None
        reason = refusal(parsed.ip)
        if reason is not None:
            raise PeerError(reason)
        self._candidates += 1
        if self._candidates > MAX_CANDIDATES:
            raise PeerError(f"too many candidates: at most {MAX_CANDIDATES} per call")
        return parsed

    async def answer(self, offer_sdp: str) -> str:
        """Accept the staff page's send-only offer and return the complete answer SDP."""
        for candidate in offered_candidates(offer_sdp):
            self._admit(candidate)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            if not any(t.kind == "video" for t in self.pc.getTransceivers()):
                raise PeerError("the offer carries no video")
            for transceiver in self.pc.getTransceivers():
                transceiver.direction = "recvonly" if transceiver.kind == "video" else "inactive"
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except PeerError:
            raise
        except Exception as exc:  # aiortc raises many kinds on a bad SDP
            log.info("offer refused", extra={"fields": {"error": str(exc)[:200]}})
            raise PeerError("the offer could not be answered") from None
        return str(self.pc.localDescription.sdp)

    async def add_candidate(self, candidate: str, mid: str | None, index: int | None) -> None:
        """A trickled remote candidate; an empty one ends the candidates."""
        if not candidate:
            return
        parsed = self._admit(candidate)
        parsed.sdpMid, parsed.sdpMLineIndex = mid, index
        await self.pc.addIceCandidate(parsed)

    async def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
        await self.pc.close()
