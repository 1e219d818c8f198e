"""Frame analysis off the event loop: a small thread pool, one ``FrameAnalyzer`` per thread.

mediapipe graphs are not thread-safe, so each worker thread builds its own analyzer
the first time it runs (about 0.3 s) and keeps it. The pool also admits analysis
peers up to a limit, so a busy server refuses a new leg instead of falling behind.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from av import VideoFrame

from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.sample import SampleResult


class AnalyzerPool:
    def __init__(self, threads: int, max_peers: int, config: VisionConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self.max_peers = max_peers
        self.peers = 0
        self._local = threading.local()
        self._analyzers: list[FrameAnalyzer] = []
        self._lock = threading.Lock()
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="vision")

    def admit(self) -> bool:
        """Reserve room for one more analysis peer; False when full."""
        if self.peers >= self.max_peers:
            return False
        self.peers += 1
        return True

    def release(self) -> None:
        self.peers = max(0, self.peers - 1)

    def _analyzer(self) -> FrameAnalyzer:
        analyzer: FrameAnalyzer | None = getattr(self._local, "analyzer", None)
        if analyzer is None:
            analyzer = FrameAnalyzer(self.config)
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

    def _run(self, frame: VideoFrame, t: float) -> SampleResult:
        return self._analyzer().analyze(frame.to_ndarray(format="rgb24"), t)

    async def analyze(self, frame: VideoFrame, t: float) -> SampleResult:
        """Analyse one frame taken ``t`` seconds into the call, in a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, frame, t)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        for analyzer in self._analyzers:
            analyzer.close()
        self._analyzers.clear()
