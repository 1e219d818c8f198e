"""Overload is never evidence: what the server failed to analyse says ``server_busy``,
never FAIL, and the server's own gaps never count as a camera off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from service.clock import utcnow
from signaling.analysis import AnalyzerPool
from signaling.auth import CallTarget
from signaling.camera_watch import PICTURE_CAUSES, CameraWatch
from signaling.messages import Location
from signaling.rooms import Room, RoomError
from signaling.session import CallSession, CallSettings
from signaling.stills import Still
from signaling.verdict import CallVerdict, CameraTimeline, judge
from tests.call_helpers import HOME, still_of
from tests.test_call_record import AT_HOME, _passing
from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face_track import FaceTrack
from vision.sample import SampleResult
from vision.verdict import Reason, Verdict

# --- the rules, pure ---------------------------------------------------------------------


def test_a_starved_call_never_fails_on_vision_and_says_server_busy() -> None:
    vision = _passing()
    covered = replace(vision.camera, verdict=Verdict.FAIL, reasons=(Reason.CAMERA_COVERED,))
    failing = replace(vision, camera=covered)
    on = CameraTimeline(1.0)
    fair = judge(failing, on, AT_HOME, min_camera_on=0.9, final=True)
    assert fair.verdict is Verdict.FAIL
    busy = judge(failing, on, AT_HOME, min_camera_on=0.9, final=True, starved=True)
    assert busy.verdict is Verdict.INCONCLUSIVE
    assert busy.camera.reasons == ("server_busy", "camera_covered")
    assert busy.face.verdict is Verdict.PASS  # what was seen to pass stands
    short = judge(None, on, AT_HOME, min_camera_on=0.9, final=True, starved=True)
    assert short.face.reasons == ("server_busy",) and short.reasons[0] == "server_busy"
    # What the page did still counts: a camera off for most of the call fails.
    off = judge(vision, CameraTimeline(0.5), AT_HOME, min_camera_on=0.9, final=True, starved=True)
    assert off.camera.verdict is Verdict.FAIL and off.camera.reasons[0] == "camera_off"


def _frames(watch: CameraWatch, start: float, end: float) -> None:
    for i in range(round((end - start) / 0.25) + 1):
        watch.frame(start + i * 0.25)


def test_one_black_sample_holds_for_its_interval_not_for_the_servers_gap() -> None:
    watch = CameraWatch(max_gap_s=2.0, picture_ttl_s=1.5)
    _frames(watch, 0.0, 20.0)
    watch.picture({"camera_black": True}, 0.4)
    watch.picture({"camera_black": False}, 12.0)  # the server's next sample
    # object: the expected end is a pytest.approx, which mypy cannot compare with a float
    periods: list[tuple[float, object]] = [(p.start, p.end) for p in watch.off_periods(20.0)]
    assert periods == [(0.4, pytest.approx(1.9))]
    assert watch.on_fraction(20.0) == pytest.approx(1 - 1.5 / 20)
    # A call too sparsely sampled to judge ignores what only its pictures showed.
    assert watch.on_fraction(20.0, frozenset(PICTURE_CAUSES)) == 1.0


def test_a_stalled_event_loop_is_not_a_gap_in_the_frames() -> None:
    watch = CameraWatch(max_gap_s=2.0)
    _frames(watch, 0.0, 5.0)
    watch.server_gap(9.0)  # the loop did not run from 5 to 9: frames waited in the socket
    assert watch.on_fraction(9.5) == 1.0
    _frames(watch, 9.5, 12.0)
    assert watch.on_fraction(12.0) == 1.0
    watch.tick(15.0)  # the page really stopped at 12: off from 14
    assert watch.on_fraction(15.0) == pytest.approx(1 - 1 / 15)


# --- a starved pool with real analysis --------------------------------------------------

SLOW_S = 0.25  # each sample holds the pool's one thread this long: ~4 samples a second
CALLS = 12  # ~0.33 samples a second each, a third of what they ask for
SECONDS = 8.0
FPS = 5


class BusyAnalyzer(FrameAnalyzer):
    """The real analysis on a thread that is also busy with something else."""

    def analyze(
        self, frame_rgb: npt.NDArray[np.generic], t: float, track: FaceTrack | None = None
    ) -> SampleResult:
        time.sleep(SLOW_S)
        return super().analyze(frame_rgb, t, track)


class FedCall(CallSession):
    """A call whose staff page sends the stills the test gives it: ``send`` takes the
    session's own path (camera watch, then the pool) leaving out the socket and the
    per-call rate limit; ``take_still`` is the whole path bar the socket."""

    def __init__(self, pool: AnalyzerPool, index: int) -> None:
        now = utcnow()
        room = Room(
            f"call_{index}", f"check_{index}", "staff1", "sup1", now + timedelta(hours=1), now
        )
        room.accept(now)
        target = CallTarget(
            room.check_id,
            "staff1",
            "Siti",
            "sup1",
            now,
            now + timedelta(hours=1),
            "solid:khaki",
            HOME,
            200,
        )
        settings = CallSettings(sample_interval_s=1.0, min_camera_on=0.9)

        async def publish(_: dict[str, Any]) -> None:
            return None

        super().__init__(room, target, settings, pool, publish)

    def send(self, still: Still) -> None:
        self.still = (still, asyncio.get_running_loop().time())
        self._frame()


@pytest.fixture(scope="module")
def khaki() -> list[Still]:
    from fixtures.generate import frames

    source = frames("khaki")
    return [_received(next(source)) for _ in range(int(SECONDS * FPS))]


def _received(rgb: npt.NDArray[np.uint8]) -> Still:
    """A frame as the analysis leg receives it: a JPEG still, as the page encodes it."""
    return still_of(rgb)


BLACK = _received(np.zeros((480, 640, 3), np.uint8))


async def _call(
    pool: AnalyzerPool, calls: int, frames: list[Still], black_s: float
) -> list[tuple[FedCall, CallVerdict]]:
    """``calls`` compliant calls for ``SECONDS``, each camera black for its first
    ``black_s`` (a phone camera starting), then the khaki uniform; their final verdicts."""
    sessions = [FedCall(pool, i) for i in range(calls)]
    for s in sessions:
        s.activate()
        assert pool.admit(s)
        s.set_location(Location(s.room.id, HOME[0] + 0.0003, HOME[1], 10))
    for tick in range(int(SECONDS * FPS)):
        for s in sessions:
            s.send(BLACK if tick / FPS < black_s else frames[tick % len(frames)])
        await asyncio.sleep(1 / FPS)
    out = []
    for s in sessions:
        verdict = s.verdict(s.now(), final=True)
        pool.release(s)
        await s.finish()
        out.append((s, verdict))
    return out


@pytest.fixture
async def starved_pool() -> AsyncIterator[AnalyzerPool]:
    pool = AnalyzerPool(1, CALLS, DEFAULT_CONFIG, analyzer=BusyAnalyzer)
    await pool.warm()
    yield pool
    pool.close()


async def test_a_starved_pool_fails_no_compliant_call_and_says_server_busy(
    starved_pool: AnalyzerPool, khaki: list[Still]
) -> None:
    results = await _call(starved_pool, CALLS, khaki, black_s=1.5)
    blacks = sum(1 for s, _ in results if s.vision and s.vision.camera.scores["black"] > 0)
    assert blacks >= 1  # some calls had their black start analysed, and little else
    for s, verdict in results:
        assert verdict.verdict is not Verdict.FAIL, verdict.to_dict()
        assert "server_busy" in verdict.reasons, verdict.reasons
        assert s.starved and s.samples < 5, (s.samples, s.fed_s)


async def test_a_call_sampled_as_asked_is_judged_as_usual(khaki: list[Still]) -> None:
    config: VisionConfig = DEFAULT_CONFIG
    pool = AnalyzerPool(1, 1, config)
    await pool.warm()
    try:
        [(call, verdict)] = await _call(pool, 1, khaki, black_s=0.0)
    finally:
        pool.close()
    assert not call.starved and call.samples >= 6
    # Judged on its pictures alone: the synthetic khaki clip's frames are solid in about
    # a third of the samples (its badges and flag), so which frames the clock picked may
    # decide its uniform; what must not happen is the server's share in it.
    assert "server_busy" not in verdict.reasons, verdict.reasons
    for criterion in (verdict.face, verdict.camera, verdict.uniform):
        assert "server_busy" not in criterion.reasons


async def test_a_call_is_not_starved_while_its_first_sample_is_on_its_way() -> None:
    pool = AnalyzerPool(1, 1)
    call = FedCall(pool, 0)
    call.activate()
    for _ in range(int(1.5 * FPS)):  # 1.5 s of frames, no sample yet
        call.send(BLACK)
        await asyncio.sleep(1 / FPS)
    await call.finish()
    pool.close()
    assert call.fed_s == pytest.approx(1.4, abs=0.3) and call.samples == 0
    assert not call.starved
    assert "server_busy" not in call.status()["indicators"]["face"]["reason"]


# --- admission control on a real pool ----------------------------------------------------


async def test_a_full_pool_refuses_new_legs_and_takes_them_once_calls_end(
    khaki: list[Still], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One thread at 0.25 s or more a sample holds at most three calls at 1 Hz (0.8 of
    its time): of five legs offered one after the other, later ones are refused with
    ``busy``; their stills still count as the camera sending, and a refused leg is
    analysed once the admitted calls end and it is offered again."""
    monkeypatch.setattr("signaling.session.ADMIT_AGAIN_S", 0.5)
    pool = AnalyzerPool(1, 100, DEFAULT_CONFIG, analyzer=BusyAnalyzer)
    await pool.warm()
    calls = [FedCall(pool, i) for i in range(5)]
    refused: list[FedCall] = []
    sequence = 0
    try:
        for i, call in enumerate(calls):
            call.activate()
            for _ in range(2):  # two seconds of stills, a still a second from each call
                for page in calls[: i + 1]:
                    sequence += 1
                    try:
                        page.take_still(replace(khaki[sequence % len(khaki)], sequence=sequence))
                    except RoomError as e:
                        assert e.code == "busy" and page is call
                        refused.append(call)
                await asyncio.sleep(1.0)
        assert 1 <= pool.calls <= 3, pool.admission.sample_s
        # A refused leg offered again (every ADMIT_AGAIN_S) may have been let in once the
        # pool's measured cost allowed it; every leg is either in or still waiting.
        waiting_calls = [c for c in refused if not c.analysed]
        assert len(waiting_calls) == 5 - pool.calls and calls[0] not in refused
        waiting = waiting_calls[0]
        assert not waiting.analysed and waiting.samples == 0
        assert waiting.fed_s > 1.0  # its stills were the camera sending all along
        for call in calls:
            if call not in waiting_calls:
                pool.release(call)
                await call.finish()
        await asyncio.sleep(0.6)
        waiting.take_still(replace(khaki[0], sequence=sequence + 1))  # offered again
        assert waiting.analysed and pool.calls == 1
    finally:
        pool.close()
