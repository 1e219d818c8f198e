"""mediapipe's legacy solutions, built to run on the thread that calls them.

By default every mediapipe graph starts its own pool of worker threads, one per core
of the machine, and hands each calculator (image to tensor, inference, decoding) to
it while ``process()`` waits: one analysis thread kept about 1.45 cores busy per
sample (docs/performance.md), and the more cores the machine has, the more threads
each of the four graphs of every analyzer starts. A graph whose default executor is
mediapipe's ``ApplicationThreadExecutor`` runs its calculators synchronously inside
``process()``, on the caller's thread; TFLite's XNNPACK delegate already runs on one
thread on desktop Linux (mediapipe's default). So one analysis thread uses one core,
and the analysis pool's thread count is the server's only parallelism setting.

The hook is ``SolutionBase._initialize_graph_interface``, which returns the graph
config before the graph is built: private, but stable in the pinned mediapipe 0.10.21.
"""

from __future__ import annotations

from typing import Any

APPLICATION_THREAD = "ApplicationThreadExecutor"


def on_calling_thread(solution: Any, **options: Any) -> Any:
    """An instance of the mediapipe solution class ``solution`` (``FaceDetection``,
    ``SelfieSegmentation``, ``FaceMesh``) built with ``options``, whose graph runs on
    the thread that calls its ``process()``."""

    class OnCallingThread(solution):  # type: ignore[misc]
        def _initialize_graph_interface(self, *args: Any, **kwargs: Any) -> Any:
            config = super()._initialize_graph_interface(*args, **kwargs)
            default = next((e for e in config.executor if not e.name), None)
            if default is None:
                default = config.executor.add()
            default.type = APPLICATION_THREAD
            default.ClearField("options")
            return config

    return OnCallingThread(**options)
