"""Frame analysis off the event loop: a small thread pool fed fairly from every call.

mediapipe graphs are not thread-safe, so each worker thread builds its own analyzer
the first time it runs (about 0.3 s) and keeps it. An analyzer runs on its thread alone
(no mediapipe or OpenCV worker threads), so a thread is a core: by default there is one
per core the process may run on. The pool admits calls to analysis up to a limit, so a
busy server refuses a new leg instead of falling behind, and one dispatcher hands the
admitted calls' latest frames to the threads in the order ``signaling.sampler`` sets:
a frame is picked only when a thread is free for it.

During a liveness challenge (``signaling.challenge``) every still of the call is also
measured, beside the sampling: its head pose, read on a thread by that thread's own
``PoseReader`` (built the first time, like the analyzer), in the threads' order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from service import metrics
from signaling.admission import Admission, AdmissionPolicy
from signaling.per_thread import PerThread
from signaling.sampler import Cadence, StreamClock, next_up, next_wake
from signaling.stills import Still
from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face_track import FaceTrack
from vision.identity import (
    CallIdentity,
    Descriptor,
    DescriptorProcess,
    FaceAligner,
    describe_face,
)
from vision.liveness import HeadPose
from vision.pose_reader import PoseReader
from vision.sample import SampleResult

log = logging.getLogger("hadir.analysis")
R = TypeVar("R")
FIRST_SAMPLES_INTERVAL_S = 0.4  # until a call has its minimum of samples: a verdict in ~3 s


def cores_available() -> int:
    """Cores this process may run on (its CPU affinity, which a container's cpuset
    narrows), not the machine's: each analysis thread keeps one core busy, since its
    analyzer's mediapipe graphs and OpenCV run on the thread itself (``vision.graphs``)."""
    return len(os.sched_getaffinity(0)) or 1


class Sampled(Protocol):
    """An admitted call, as the pool sees it."""

    face_track: FaceTrack
    """The call's faces already checked by the landmark model (one thread at a time
    analyses a call, so the track is never shared between threads)."""

    identity: CallIdentity | None
    """The enrolled face the call's samples are matched against, a few times per call
    (None when the policy does not check identity)."""

    def latest_frame(self) -> tuple[Still, float] | None:
        """The newest still and the event-loop time it arrived."""

    def now(self) -> float:
        """Seconds into the call: the time a sample is stamped with."""

    def take(self, sample: SampleResult, lag_s: float) -> None:
        """A sample of the call, ``lag_s`` after its frame arrived."""


class AnalyzerPool:
    def __init__(
        self,
        threads: int,
        max_calls: int,
        config: VisionConfig = DEFAULT_CONFIG,
        analyzer: Callable[[VisionConfig], FrameAnalyzer] = FrameAnalyzer,
    ) -> None:
        """``threads`` 0 means one per core available (``cores_available``);
        ``analyzer`` builds each thread's analyzer (a slower one starves the pool in
        the overload test)."""
        threads = threads or cores_available()
        self.config = config
        self.cadence = Cadence(
            config.sample_interval_s, FIRST_SAMPLES_INTERVAL_S, config.min_samples
        )
        self.max_calls = max_calls
        self.threads = threads
        self.admission = Admission(AdmissionPolicy(config.sample_interval_s, threads))
        self._streams: dict[Sampled, StreamClock] = {}  # in admission order: oldest first
        self._busy = 0  # samples in the threads now
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._analyzers = PerThread(partial(analyzer, config), FrameAnalyzer.close)
        self._aligners = PerThread(FaceAligner)
        self._pose_readers = PerThread(PoseReader, PoseReader.close)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="vision")
        self._descriptors = DescriptorProcess()  # started by the first identity match

    @property
    def calls(self) -> int:
        return len(self._streams)

    def admit(self, stream: Sampled) -> bool:
        """Take one more call to sample; False when the threads are full
        (``signaling.admission``) or ``max_calls`` are in: the call goes on unwatched."""
        calls = len(self._streams)
        if calls >= self.max_calls or not self.admission.admits(calls):
            metrics.ANALYSIS_LEGS.labels("refused").inc()
            return False
        metrics.ANALYSIS_LEGS.labels("admitted").inc()
        self._streams[stream] = StreamClock(due=asyncio.get_running_loop().time())
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch())
        return True

    def release(self, stream: Sampled) -> None:
        """Stop sampling a call; a sample of it still in a thread is dropped."""
        self._streams.pop(stream, None)

    def arrived(self, stream: Sampled) -> None:
        """A new frame of ``stream``: wake the dispatcher if it was waiting for one."""
        clock = self._streams.get(stream)
        if clock is None:
            return
        now = asyncio.get_running_loop().time()
        if clock.frame == clock.seen:  # the first frame since the last sample
            clock.fresh_at = now
        clock.frame += 1
        waiting = self._busy < self.threads and not clock.busy
        if waiting and clock.due <= now:
            self._wake.set()

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            free = self.threads - self._busy
            first = self.cadence.first_samples
            for stream in next_up(self._streams.items(), now, free, first):
                self._start(stream, self._streams[stream], now)
            wait = next_wake(self._streams.values(), now, self.threads - self._busy)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _start(self, stream: Sampled, clock: StreamClock, now: float) -> None:
        latest = stream.latest_frame()
        if latest is None:  # the peer is closing
            clock.seen = clock.frame
            return
        frame, arrived = latest
        waited = now - max(clock.due, clock.fresh_at)  # ready and due, but no thread free
        clock.busy, clock.seen = True, clock.frame
        clock.samples += 1
        clock.due = self.cadence.after(now, clock.samples)
        self._busy += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, self._run, frame, stream.now(), stream.face_track, stream.identity
        )
        future.add_done_callback(partial(self._done, stream, clock, arrived, now, waited))

    def _done(
        self,
        stream: Sampled,
        clock: StreamClock,
        arrived: float,
        started: float,
        waited: float,
        future: asyncio.Future[SampleResult],
    ) -> None:
        self._busy -= 1
        clock.busy = False
        self._wake.set()
        if future.cancelled():
            return  # the pool is closing
        now = asyncio.get_running_loop().time()
        self.admission.sampled(now - started, waited)
        metrics.ANALYSIS_CAPACITY.set(self.admission.capacity())
        if self._streams.get(stream) is not clock:
            return  # the call ended meanwhile
        error = future.exception()
        if isinstance(error, ValueError):  # a frame vision cannot use (e.g. tiny)
            log.info("frame skipped", extra={"fields": {"error": str(error)}})
        elif error is not None:
            log.error("analysis failed", exc_info=error)
        else:
            stream.take(future.result(), now - arrived)

    async def warm(self) -> None:
        """Build the threads' analyzers now, so the first call does not pay for loading
        the models (about 0.3 s each). Submitted together, the builds start one thread
        each: the pool adds a thread while none is idle."""
        loop = asyncio.get_running_loop()
        build = self._analyzers.get
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, build) for _ in range(self.threads))
        )

    async def analyze_still(self, rgb: npt.NDArray[np.uint8]) -> SampleResult | None:
        """One picture outside any call (a staff member's self-check), run only on a free
        thread and counted as busy meanwhile, so calls keep their share; None when every
        thread is taken."""
        return await self._on_a_free_thread(lambda: self._analyzers.get().analyze(rgb, 0.0))

    async def _on_a_free_thread(self, work: Callable[[], R]) -> R | None:
        """``_aside``, but only while a thread is free (None when every one is taken):
        work outside a call never queues behind the calls' samples."""
        if self._busy >= self.threads:
            return None
        return await self._aside(work)

    async def _aside(self, work: Callable[[], R]) -> R:
        """``work`` on a thread, after what is already queued there, counted busy
        meanwhile so that the dispatcher gives the samples only the threads left."""
        self._busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._busy -= 1
            self._wake.set()

    def _run(
        self, still: Still, t: float, track: FaceTrack, identity: CallIdentity | None
    ) -> SampleResult:
        """Decode and analyse one still, in a thread; match its face when one is due."""
        started = time.thread_time()
        rgb = still.rgb()
        sample = self._analyzers.get().analyze(rgb, t, track)
        metrics.SAMPLE_CPU.observe(time.thread_time() - started)
        if identity is not None:
            self._match(identity, rgb, sample)
        return sample

    # -- the identity match (vision.identity): a few samples per call -------------------

    def _describe(self, rgb: npt.NDArray[np.uint8], sample: SampleResult) -> Descriptor | None:
        """The descriptor of the sample's one usable face (``describe_face``), described
        in the descriptor process, this thread waiting without the GIL."""
        started = time.perf_counter()
        descriptor = describe_face(
            rgb, sample, self._aligners.get(), self._descriptors.describe, self.config.max_side
        )
        if descriptor is not None:
            metrics.IDENTITY_MATCH_SECONDS.observe(time.perf_counter() - started)
        return descriptor

    def _match(
        self, identity: CallIdentity, rgb: npt.NDArray[np.uint8], sample: SampleResult
    ) -> None:
        """Match the sample's face against the enrolled one when a match is due. A match
        that cannot be made (the descriptor process died) is left out, never the sample:
        identity then stays uncertain, a human looks."""
        try:
            identity.match(sample, partial(self._describe, rgb))
        except Exception:
            log.exception("identity match failed")

    def expect_identity(self) -> None:
        """A call that matches faces is starting: get the descriptor process ready."""
        self._descriptors.start()

    async def describe_still(
        self, rgb: npt.NDArray[np.uint8]
    ) -> tuple[SampleResult, Descriptor | None] | None:
        """One enrolment still: analysed, and its face described if it has one usable
        face; on a free thread only (None when every thread is taken)."""

        def work() -> tuple[SampleResult, Descriptor | None]:
            sample = self._analyzers.get().analyze(rgb, 0.0)
            return sample, self._describe(rgb, sample)

        return await self._on_a_free_thread(work)

    # -- the liveness challenge (signaling.challenge): every still while one is open ----

    def _read_pose(self, still: Still) -> HeadPose | None:
        started = time.thread_time()
        pose = self._pose_readers.get().read(still.rgb())
        metrics.CHALLENGE_FRAME_CPU.observe(time.thread_time() - started)
        return pose

    async def measure(self, still: Still) -> HeadPose | None:
        """The head pose on one still of a challenge (None: no face measured), read on a
        thread after the work already queued there and counted busy meanwhile, so the
        dispatcher gives the samples the threads left. ``ValueError`` for a still that
        cannot be decoded; any other failure propagates too: the caller leaves the
        still out, never counts it as a face missing."""
        return await self._aside(partial(self._read_pose, still))

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        self._streams.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._descriptors.close()
        self._analyzers.close()
        self._aligners.close()
        self._pose_readers.close()
