"""One call's live evidence: the analysis leg, samples, camera timeline and location.

A ``CallSession`` is attached to a ``Room`` when the call starts. Once the staff
member answers it keeps the camera timeline and reports ``status`` at least once a
second; its analysis leg (the page's stills, ``signaling.stills``) is sampled by the
analyzer pool, which calls ``take`` with each judged frame; ``finish`` stops
everything and returns the final ``CallOutcome``.

The stills leg is admitted to the pool by its first still; refused when the pool is
full (``signaling.admission``), the call goes on unanalysed and offers the leg again
every ``ADMIT_AGAIN_S``. Stills are rate-limited per call and their sequence must
increase; a still that arrives, analysed or not, is a frame for the camera timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service import metrics
from signaling.analysis import AnalyzerPool
from signaling.auth import CallTarget
from signaling.camera_watch import NO_FRAMES, PICTURE_CAUSES, CameraWatch
from signaling.location import LocationResult, judge_error, judge_position
from signaling.messages import Location, ProtocolError
from signaling.ratelimit import TokenBucket
from signaling.rooms import Room, RoomError
from signaling.snapshot import CallSnapshot
from signaling.stills import BURST, RATE_PER_S, Still
from signaling.verdict import CallVerdict, CameraTimeline, IdentityEvidence, judge
from vision.camera import CameraState
from vision.check import CheckWindow
from vision.face_track import FaceTrack
from vision.identity import CallIdentity, judge_identity
from vision.sample import SampleResult
from vision.uniform import parse_uniform_policy
from vision.verdict import CheckVerdict

STATUS_INTERVAL_S = 1.0
SERVER_GAP_S = 3 * STATUS_INTERVAL_S
"""The verdict is looked at every second; a longer pause means the event loop was late
(or the status could not be sent), and a gap in the frames meanwhile is the server's."""
PICTURE_TTL_INTERVALS = 1.5
"""An analysed picture's causes hold for this many sample intervals at most."""
STARVED_SHARE = 0.5
"""An analysed call got fewer samples than this share of what its frames allowed: the
server was too busy to judge it (``server_busy``), whatever the samples say."""
STARVED_AFTER = 2
"""Sample intervals of frames before a call can be starved (its first sample takes a
moment: the pool's threads load, the first frame is analysed)."""
ADMIT_AGAIN_S = 5.0
"""A leg the pool refused is offered again this long after (its next still): calls that
start in a burst get analysed once earlier ones end."""
PAGE_CAUSES = ("page_hidden", "muted", "ended")  # camera-off causes the staff page reports
_PICTURE_CAUSES = {CameraState.BLACK: "camera_black", CameraState.COVERED: "camera_covered"}


@dataclass(frozen=True)
class CallSettings:
    sample_interval_s: float
    min_camera_on: float
    max_gap_s: float = 2.0


@dataclass(frozen=True)
class CallOutcome:
    """Everything the record of a finished call is made of (no coordinates)."""

    room: Room
    duration_s: float
    verdict: CallVerdict
    last_frame: Still | None  # the evidence still, kept only if the policy allows


class CallSession:
    def __init__(
        self,
        room: Room,
        target: CallTarget,
        settings: CallSettings,
        pool: AnalyzerPool,
        publish: Callable[[dict[str, Any]], Awaitable[None]],
        identity: CallIdentity | None = None,
    ) -> None:
        """``identity``: the enrolled face to match when the policy checks identity."""
        self.room = room
        self.target = target
        self.settings = settings
        self.pool = pool
        self.publish = publish
        self.watch = CameraWatch(
            max_gap_s=settings.max_gap_s,
            picture_ttl_s=PICTURE_TTL_INTERVALS * settings.sample_interval_s,
        )
        self.window = CheckWindow(
            pool.config, parse_uniform_policy(target.uniform_policy), keep_samples=False
        )
        self.face_track = FaceTrack()
        self.identity = identity
        self.location: LocationResult | None = None
        self.still: tuple[Still, float] | None = None  # the newest still, its arrival
        self._stills: bool | None = None  # the stills leg admitted; None: no still yet
        self._still_bucket = TokenBucket(RATE_PER_S, BURST)
        self._still_sequence = -1
        self._admit_again = 0.0  # a refused leg is offered to the pool again from then
        self.vision: CheckVerdict | None = None
        self._admitted = False  # the leg was admitted to the pool at some time
        self.analysed = True  # False once the leg was offered and never admitted
        self.sample_lag_s: float | None = None  # the last sample: frame arrival → analysed
        self.samples = 0
        self.fed_s = 0.0  # seconds the page's frames were arriving (no gap over max_gap_s)
        self._looked: float | None = None  # the last time the verdict was looked at
        self._t0: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def now(self) -> float:
        """Seconds since the staff member answered (0 before)."""
        return 0.0 if self._t0 is None else asyncio.get_running_loop().time() - self._t0

    def activate(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._status_loop())]

    # -- the analysis leg -----------------------------------------------------------

    def take_still(self, still: Still) -> None:
        """A still from the staff page: the newest picture of the analysis leg."""
        if self._t0 is None:
            raise RoomError("bad_state", "the call has not been answered")
        loop_now = asyncio.get_running_loop().time()
        if not self._still_bucket.take(loop_now):
            raise ProtocolError("rate_limited", "too many stills", "still")
        if still.sequence <= self._still_sequence:
            raise ProtocolError("invalid", "still: the sequence must increase", "still")
        self._still_sequence = still.sequence
        self.still = (still, loop_now)
        offered = self._stills is None
        if offered or (not self._stills and loop_now >= self._admit_again):
            self._stills = self.pool.admit(self)
            self._admitted |= self._stills
            self.analysed = self._admitted
            self._admit_again = loop_now + ADMIT_AGAIN_S
        self._frame()  # analysed or not, a still arrived: the camera is sending
        if offered and not self._stills:
            raise RoomError("busy", "analysis capacity is full")

    def _close_leg(self) -> None:
        """The stills leg ends (the page went away, the call ends): the next still, if
        any, admits it anew."""
        if self._stills:
            self.pool.release(self)
        self.still, self._stills, self._still_sequence = None, None, -1

    # -- what the staff page reports -------------------------------------------------

    def set_location(self, msg: Location) -> LocationResult:
        """Judge the position once per call; the coordinates go no further than here."""
        if self.location is not None:
            raise RoomError("bad_state", "location was already sent for this call")
        if msg.error is not None:
            self.location = judge_error(msg.error)
        else:
            assert msg.lat is not None and msg.lon is not None and msg.accuracy is not None
            self.location = judge_position(
                msg.lat, msg.lon, msg.accuracy, self.target.home, self.target.home_radius_m
            )
        return self.location

    async def away(self) -> None:
        """The staff page went away (it may rejoin): its analysis leg is gone with it,
        and the time until it is back is not measured."""
        self.watch.away(self.now())
        self._close_leg()

    def back(self) -> None:
        """The staff page rejoined; it sends a new analysis leg. What the old page
        reported (hidden as it unloaded, its track ended) is its own: the new page
        reports afresh."""
        t = self.now()
        for cause in PAGE_CAUSES:
            self.watch.set(cause, False, t)
        self.watch.back(t)

    def set_hidden(self, hidden: bool) -> None:
        self.watch.set("page_hidden", hidden, self.now())

    def set_track(self, state: str) -> None:
        t = self.now()
        self.watch.set("muted", state == "muted", t)
        self.watch.set("ended", state == "ended", t)

    # -- sampling and status ----------------------------------------------------------

    def _frame(self) -> None:
        t = self.now()
        if (
            self.watch.last_frame is not None
            and t - self.watch.last_frame <= self.settings.max_gap_s
        ):
            self.fed_s += t - self.watch.last_frame
        self.watch.frame(t)
        self.pool.arrived(self)

    def latest_frame(self) -> tuple[Still, float] | None:
        return self.still

    def take(self, sample: SampleResult, lag_s: float) -> None:
        """One judged frame from the pool: the verdict so far and the picture's causes of
        camera off, stamped with the time the frame was picked."""
        self.sample_lag_s = lag_s
        self.samples += 1
        metrics.SAMPLE_LAG.observe(lag_s)
        metrics.SAMPLES.inc()
        self.window.add(sample)
        self.vision = self.window.verdict()
        causes = {cause: sample.camera.state is state for state, cause in _PICTURE_CAUSES.items()}
        causes["camera_frozen"] = self.window.last_frozen
        self.watch.picture(causes, sample.t)

    async def _status_loop(self) -> None:
        while True:
            await self.publish(self.status())
            await asyncio.sleep(STATUS_INTERVAL_S)

    def verdict(self, t: float, *, final: bool) -> CallVerdict:
        """The call's verdict at ``t``: live, or as the record will have it (``final``)."""
        if self._looked is not None and t - self._looked > SERVER_GAP_S:
            self.watch.server_gap(t)
        self._looked = t
        starved = self.starved
        # A call sampled too sparsely: what its few pictures showed is no evidence of
        # how long the camera was off either.
        ignore = frozenset(PICTURE_CAUSES) if starved else frozenset()
        on = self.watch.on_fraction(t, ignore)
        shown_on = self.watch.on_fraction(t, ignore | {NO_FRAMES})
        timeline = CameraTimeline(on, frozenset(self.watch.active - ignore), shown_on)
        return judge(
            self.vision,
            timeline,
            self.location,
            min_camera_on=self.settings.min_camera_on,
            final=final,
            analysed=self.analysed,
            starved=starved,
            identity=self._identity(),
        )

    def _identity(self) -> IdentityEvidence | None:
        """The identity evidence so far (the pool's threads add matches meanwhile)."""
        if self.identity is None:
            return None
        judged = judge_identity(self.identity.distances, self.identity.config)
        return IdentityEvidence(bool(self.identity.enrolled), judged, self.identity.version)

    @property
    def starved(self) -> bool:
        """The analysis got fewer than ``STARVED_SHARE`` of the samples the frames that
        arrived allowed (one per ``sample_interval_s``): the server's doing, never the
        page's, since only the time frames were arriving counts."""
        wanted = self.fed_s / self.settings.sample_interval_s
        return wanted >= STARVED_AFTER and self.samples < STARVED_SHARE * wanted

    def status(self) -> dict[str, Any]:
        """The live ``status`` message."""
        t = self.now()
        return {
            "type": "status",
            "call": self.room.id,
            "elapsed": round(t, 1),
            "sample_lag_s": None if self.sample_lag_s is None else round(self.sample_lag_s, 3),
            "samples": self.samples,
            **self.verdict(t, final=False).status_fields(),
        }

    def snapshot(self) -> CallSnapshot | None:
        """The evidence so far, to be saved (None before the answer)."""
        if self._t0 is None:
            return None
        t = self.now()
        off = tuple(self.watch.off_periods(t))
        return CallSnapshot(self.verdict(t, final=False), t, self.samples, off)

    async def finish(self) -> CallOutcome | None:
        """Stop sampling and the peer; the outcome if the call was ever answered."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        last_frame = self.still[0] if self.still is not None else None
        self._close_leg()
        if self._t0 is None:
            return None
        t = self.now()
        return CallOutcome(self.room, t, self.verdict(t, final=True), last_frame)
