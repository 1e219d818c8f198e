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

A liveness challenge (``signaling.challenge``) is asked by the supervisor, or by the
policy at a random moment; while it is open the still rate is raised and every still
is measured by the pool, and the result is sent to both pages (``challenge_result``)
at the deadline, or as soon as the stills answer it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from service import metrics
from signaling import challenge
from signaling.analysis import AnalyzerPool
from signaling.auth import CallTarget
from signaling.camera_watch import NO_FRAMES, PICTURE_CAUSES, CameraWatch
from signaling.challenge import CallChallenges, ChallengeRecord, auto_delay
from signaling.location import LocationResult, judge_error, judge_position
from signaling.messages import Location, ProtocolError
from signaling.ratelimit import TokenBucket
from signaling.rooms import Room, RoomError
from signaling.snapshot import CallSnapshot
from signaling.stills import BURST, RATE_PER_S, Still
from signaling.verdict import (
    CallVerdict,
    CameraTimeline,
    IdentityEvidence,
    LivenessEvidence,
    judge,
)
from vision.camera import CameraState
from vision.check import CheckWindow
from vision.face_track import FaceTrack
from vision.identity import CallIdentity
from vision.liveness import Challenge, Observation
from vision.sample import SampleResult
from vision.uniform import parse_uniform_policy
from vision.verdict import CheckVerdict

log = logging.getLogger("hadir.call")

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
        liveness: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        """``identity``: the enrolled face to match when the policy checks identity;
        ``liveness``: the policy asks for a challenge in every call; ``rng`` chooses
        the challenges and when the policy's comes (``random.SystemRandom`` unless a
        test passes a seeded one)."""
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
        self.liveness = liveness
        self.rng = rng or random.SystemRandom()
        self.challenges = CallChallenges(self.rng)
        self._challenge_timer: asyncio.Task[None] | None = None
        self._measuring: set[asyncio.Task[None]] = set()  # stills of the challenge in threads
        self.page_here = asyncio.Event()  # cleared while the staff page is away
        self.page_here.set()
        self.location: LocationResult | None = None
        self.still: tuple[Still, float] | None = None  # the newest still, its arrival
        self._stills: bool | None = None  # the stills leg admitted; None: no still yet
        self._still_bucket = TokenBucket(RATE_PER_S, BURST)
        self._still_sequence = -1
        self._admit_again = 0.0  # a refused leg is offered to the pool again from then
        self.vision: CheckVerdict | None = None
        self._offered = False  # the leg was offered to the pool at some time
        self._admitted = False  # and admitted at some time
        self.sample_lag_s: float | None = None  # the last sample: frame arrival → analysed
        self.samples = 0
        self.fed_s = 0.0  # seconds the page's frames were arriving (no gap over max_gap_s)
        self._looked: float | None = None  # the last time the verdict was looked at
        self._t0: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def analysed(self) -> bool:
        """False once the leg was offered and never admitted: the whole call went
        unwatched (``analysis_unavailable``), not a camera that sent nothing."""
        return self._admitted or not self._offered

    def now(self) -> float:
        """Seconds since the staff member answered (0 before)."""
        return 0.0 if self._t0 is None else asyncio.get_running_loop().time() - self._t0

    def activate(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._status_loop())]
        if self.liveness:
            self._tasks.append(asyncio.create_task(self._auto_challenge(auto_delay(self.rng))))

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
        frozen = self.still is not None and self.still[0].jpeg == still.jpeg
        self.still = (still, loop_now)
        offered = self._stills is None
        if offered or (not self._stills and loop_now >= self._admit_again):
            self._stills = self.pool.admit(self)
            self._offered = True
            self._admitted |= self._stills
            self._admit_again = loop_now + ADMIT_AGAIN_S
        self._frame()  # analysed or not, a still arrived: the camera is sending
        if self.challenges.open is not None:  # asked for: measured even if not sampled
            self._measure(self.challenges.open, still, frozen)
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
        the time until it is back is not measured, and a challenge under way ends
        INCONCLUSIVE ``page_away``."""
        self.watch.away(self.now())
        self.page_here.clear()
        self._close_leg()
        await self._challenge_done(self.challenges.abandon())

    def back(self) -> None:
        """The staff page rejoined; it sends a new analysis leg. What the old page
        reported (hidden as it unloaded, its track ended) is its own: the new page
        reports afresh."""
        t = self.now()
        for cause in PAGE_CAUSES:
            self.watch.set(cause, False, t)
        self.watch.back(t)
        self.page_here.set()

    def set_hidden(self, hidden: bool) -> None:
        self.watch.set("page_hidden", hidden, self.now())

    def set_track(self, state: str) -> None:
        t = self.now()
        self.watch.set("muted", state == "muted", t)
        self.watch.set("ended", state == "ended", t)

    # -- the liveness challenge (signaling.challenge) --------------------------------------

    async def ask_challenge(self, by: str) -> None:
        """Issue a challenge now (``by`` the supervisor or the policy) and tell both pages;
        ``RoomError`` when the call is not answered, its staff page is away, one is
        open, or the call has had its share."""
        if self._t0 is None or not self.page_here.is_set():
            raise RoomError("bad_state", "no staff page in the call to challenge")
        asked = self.challenges.issue(self.now())
        self._still_bucket.rate, self._still_bucket.burst = challenge.RATE_PER_S, challenge.BURST
        self._challenge_timer = asyncio.create_task(self._challenge_deadline(asked))
        await self.publish(
            {
                "type": "challenge",
                "call": self.room.id,
                "nonce": asked.nonce,
                "action": str(asked.action),
                "by": by,
                "issued_s": round(asked.issued_at, 2),
                "deadline_s": round(asked.deadline - asked.issued_at, 2),
                "left": challenge.MAX_PER_CALL - self.challenges.issued,
            }
        )
        await self.publish(self.status())  # the liveness indicator, at once

    async def _auto_challenge(self, delay: float) -> None:
        """The policy's challenge, ``delay`` after the answer, once the staff page is
        there; none if the supervisor already asked for one."""
        await asyncio.sleep(delay)
        await self.page_here.wait()
        if self.challenges.issued == 0:
            await self.ask_challenge("policy")

    def _measure(self, asked: Challenge, still: Still, frozen: bool) -> None:
        """Measure a still of the open challenge in the pool, stamped with its arrival;
        beyond ``MAX_MEASURING`` at once the still is left out."""
        if len(self._measuring) >= challenge.MAX_MEASURING:
            return
        task = asyncio.create_task(self._observe(asked.nonce, still, self.now(), frozen))
        self._measuring.add(task)
        task.add_done_callback(self._measuring.discard)

    async def _observe(self, nonce: str, still: Still, t: float, frozen: bool) -> None:
        try:
            pose = await self.pool.measure(still)
        except ValueError as exc:  # a still vision cannot decode: left out
            log.info("challenge still skipped", extra={"fields": {"error": str(exc)}})
            return
        except Exception:  # the pool is closing, a reader failed: fewer frames, no verdict
            log.exception("challenge still not measured")
            return
        await self._challenge_done(self.challenges.observe(nonce, Observation(t, pose, frozen)))

    async def _challenge_deadline(self, asked: Challenge) -> None:
        await asyncio.sleep(max(0.0, asked.deadline - self.now()) + challenge.MEASURE_GRACE_S)
        if self.challenges.open is asked:
            await self._challenge_done(self.challenges.close(self.now()))

    async def _challenge_done(self, result: ChallengeRecord | None) -> None:
        """A challenge ended (``result``; None: nothing ended): the still rate goes back,
        both pages get the result."""
        if result is None:
            return
        timer, self._challenge_timer = self._challenge_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        self._still_bucket.rate, self._still_bucket.burst = RATE_PER_S, BURST
        await self.publish(
            {
                "type": "challenge_result",
                "call": self.room.id,
                **result.to_dict(),
                "left": challenge.MAX_PER_CALL - self.challenges.issued,
            }
        )
        await self.publish(self.status())

    def _liveness(self) -> LivenessEvidence | None:
        """The challenges so far, when the policy asks for one or one was issued."""
        if not self.liveness and not self.challenges.issued:
            return None
        results = tuple(self.challenges.results)
        open_ = self.challenges.open is not None
        return LivenessEvidence(self.liveness, results, open_, self.challenges.model)

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
            liveness=self._liveness(),
        )

    def _identity(self) -> IdentityEvidence | None:
        """The identity evidence so far (the pool's threads add matches meanwhile)."""
        if self.identity is None:
            return None
        return IdentityEvidence.of(self.identity)

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
        # A challenge the call ended in: judged on the stills measured so far.
        await self._challenge_done(self.challenges.close(self.now()))
        last_frame = self.still[0] if self.still is not None else None
        self._close_leg()
        if self._t0 is None:
            return None
        t = self.now()
        return CallOutcome(self.room, t, self.verdict(t, final=True), last_frame)
