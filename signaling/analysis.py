"""Frame analysis off the event loop: a small thread pool fed fairly from every call.

mediapipe graphs are not thread-safe, so each worker thread builds its own analyzer
the first time it runs (about 0.3 s) and keeps it. The pool admits analysis peers up
to a limit, so a busy server refuses a new leg instead of falling behind, and one
dispatcher hands the admitted calls' latest frames to the threads in the order
``signaling.sampler`` sets: a frame is picked only when a thread is free for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Protocol

import numpy as np
import numpy.typing as npt

from service import metrics
from signaling.sampler import Cadence, StreamClock, next_up, next_wake
from signaling.stills import Still
from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face_track import FaceTrack
from vision.sample import SampleResult

log = logging.getLogger("hadir.analysis")
FIRST_SAMPLES_INTERVAL_S = 0.4  # until a call has its minimum of samples: a verdict in ~3 s


class Sampled(Protocol):
    """An admitted call, as the pool sees it."""

    face_track: FaceTrack
    """The call's faces already checked by the landmark model (one thread at a time
    analyses a call, so the track is never shared between threads)."""

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
        max_peers: int,
        config: VisionConfig = DEFAULT_CONFIG,
        analyzer: Callable[[VisionConfig], FrameAnalyzer] = FrameAnalyzer,
    ) -> None:
        """``analyzer`` builds each thread's analyzer (a slower one starves the pool in
        the overload test)."""
        self.config = config
        self._make_analyzer = analyzer
        self.cadence = Cadence(
            config.sample_interval_s, FIRST_SAMPLES_INTERVAL_S, config.min_samples
        )
        self.max_peers = max_peers
        self.threads = threads
        self._streams: dict[Sampled, StreamClock] = {}  # in admission order: oldest first
        self._busy = 0  # samples in the threads now
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._local = threading.local()
        self._analyzers: list[FrameAnalyzer] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="vision")

    @property
    def peers(self) -> int:
        return len(self._streams)

    def admit(self, stream: Sampled) -> bool:
        """Take one more call to sample; False when full (the call goes on unwatched)."""
        if len(self._streams) >= self.max_peers:
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
        clock.frame += 1
        waiting = self._busy < self.threads and not clock.busy
        if waiting and clock.due <= asyncio.get_running_loop().time():
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
        clock.busy, clock.seen = True, clock.frame
        clock.samples += 1
        clock.due = self.cadence.after(now, clock.samples)
        self._busy += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._executor, self._run, frame, stream.now(), stream.face_track
        )
        future.add_done_callback(partial(self._done, stream, clock, arrived))

    def _done(
        self,
        stream: Sampled,
        clock: StreamClock,
        arrived: float,
        future: asyncio.Future[SampleResult],
    ) -> None:
        self._busy -= 1
        clock.busy = False
        self._wake.set()
        if future.cancelled() or self._streams.get(stream) is not clock:
            return  # the pool is closing, or the call ended meanwhile
        error = future.exception()
        if isinstance(error, ValueError):  # a frame vision cannot use (e.g. tiny)
            log.info("frame skipped", extra={"fields": {"error": str(error)}})
        elif error is not None:
            log.error("analysis failed", exc_info=error)
        else:
            stream.take(future.result(), asyncio.get_running_loop().time() - arrived)

    def _analyzer(self) -> FrameAnalyzer:
        analyzer: FrameAnalyzer | None = getattr(self._local, "analyzer", None)
        if analyzer is None:
            analyzer = self._make_analyzer(self.config)
            self._local.analyzer = analyzer
            with self._lock:
                self._analyzers.append(analyzer)
        return analyzer

    async def warm(self) -> None:
        """Build the threads' analyzers now, so the first call does not pay for loading
        the models (about 0.3 s each). Submitted together, the builds start one thread
        each: the pool adds a thread while none is idle."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, self._analyzer) for _ in range(self.threads))
        )

    async def analyze_still(self, rgb: npt.NDArray[np.uint8]) -> SampleResult | None:
        """One picture outside any call (a staff member's self-check), run only on a free
        thread and counted as busy meanwhile, so calls keep their share; None when every
        thread is taken."""
        if self._busy >= self.threads:
            return None
        self._busy += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, lambda: self._analyzer().analyze(rgb, 0.0)
            )
        finally:
            self._busy -= 1
            self._wake.set()

    def _run(self, still: Still, t: float, track: FaceTrack) -> SampleResult:
        """Decode and analyse one still, in a thread."""
        started = time.thread_time()
        sample = self._analyzer().analyze(still.rgb(), t, track)
        metrics.SAMPLE_CPU.observe(time.thread_time() - started)
        return sample

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        self._streams.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for analyzer in self._analyzers:
            analyzer.close()
        self._analyzers.clear()
