"""The analyzer pool's dispatcher with real analyzers: admission, fair sampling, release."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from signaling.analysis import AnalyzerPool
from signaling.stills import Still
from tests.call_helpers import still_of
from vision.config import DEFAULT_CONFIG
from vision.face import FaceStatus
from vision.face_track import FaceTrack
from vision.identity import CallIdentity
from vision.sample import SampleResult

FRAME = still_of(np.full((240, 320, 3), 90, dtype=np.uint8))


@dataclass(eq=False)
class FakeCall:
    """A call whose camera sends a frame whenever the test says so."""

    pool: AnalyzerPool
    picture: Still = FRAME
    frame: Still | None = None
    arrived_at: float = 0.0
    taken: list[tuple[SampleResult, float]] = field(default_factory=list)
    face_track: FaceTrack = field(default_factory=FaceTrack)
    identity: CallIdentity | None = None  # the policy does not check identity

    def send(self) -> None:
        self.frame, self.arrived_at = self.picture, asyncio.get_running_loop().time()
        self.pool.arrived(self)

    def latest_frame(self) -> tuple[Still, float] | None:
        return None if self.frame is None else (self.frame, self.arrived_at)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def take(self, sample: SampleResult, lag_s: float) -> None:
        self.taken.append((sample, lag_s))


@pytest.fixture
async def pool() -> AsyncIterator[AnalyzerPool]:
    pool = AnalyzerPool(1, 2, replace(DEFAULT_CONFIG, sample_interval_s=0.2))
    await pool.warm()
    yield pool
    pool.close()


async def _camera(calls: list[FakeCall], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        for call in calls:
            call.send()
        await asyncio.sleep(0.05)


async def test_admitted_calls_are_all_sampled_and_the_next_one_is_refused(
    pool: AnalyzerPool,
) -> None:
    first, second, third = FakeCall(pool), FakeCall(pool), FakeCall(pool)
    assert pool.admit(first) and pool.admit(second)
    assert not pool.admit(third) and pool.calls == 2
    await _camera([first, second, third], 2.0)
    assert third.taken == []
    for call in (first, second):
        assert len(call.taken) >= 5  # ~every 0.2 s, one thread shared by two calls
        times = [sample.t for sample, _ in call.taken]
        assert times == sorted(times)
        assert all(0 <= lag < 1.0 for _, lag in call.taken)
    assert abs(len(first.taken) - len(second.taken)) <= 2


async def test_a_released_call_gets_no_more_samples_and_frees_its_place(
    pool: AnalyzerPool,
) -> None:
    gone, staying, newcomer = FakeCall(pool), FakeCall(pool), FakeCall(pool)
    assert pool.admit(gone) and pool.admit(staying)
    await _camera([gone, staying], 0.6)
    pool.release(gone)
    count = len(gone.taken)
    assert count >= 1 and pool.admit(newcomer)
    await _camera([gone, staying, newcomer], 1.0)
    assert len(gone.taken) == count
    assert newcomer.taken and len(staying.taken) > count


async def test_no_frame_no_sample(pool: AnalyzerPool) -> None:
    silent = FakeCall(pool)
    assert pool.admit(silent)
    await asyncio.sleep(0.5)
    assert silent.taken == []


async def test_a_calls_face_is_checked_by_the_landmark_model_once(pool: AnalyzerPool) -> None:
    # The pool hands each sample the call's own face track: the landmark model vouches
    # for the face in the first sample, and the later ones reuse its answer.
    from fixtures.generate import frames

    face = still_of(next(frames("no_torso")))  # a 150-px face
    call = FakeCall(pool, picture=face)
    assert pool.admit(call)
    await _camera([call], 1.5)
    statuses = [s.face.status for s, _ in call.taken if s.face is not None]
    assert len(statuses) >= 3 and set(statuses) == {FaceStatus.OK}
    assert call.face_track.checks == 1
