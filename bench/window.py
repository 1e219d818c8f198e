"""``hadir bench window [--json]``: what the live verdict costs as a call grows.

A live call adds each sample to its ``CheckWindow`` and asks for the verdict at once,
on the event loop. This measures, for a window as a live call holds it
(``keep_samples=False``) at 30, 120, 300 and 600 samples (half a minute to ten
minutes at one sample a second): the CPU time of one ``add`` + ``verdict`` there
(mean over the last ``--last`` samples) and the bytes the window and its latest
verdict keep alive (``tracemalloc``), each sample with its own thumbnail as a call's
frames have. The samples are the ``live`` fixture's frames analysed once, their
thumbnails shifted by a column per repetition so that no run looks frozen.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from service.errors import UsageError
from vision.check import CheckWindow
from vision.sample import SampleResult

SIZES = (30, 120, 300, 600)
POLICY = "solid:khaki"


def register_bench(group: Any) -> None:
    parser = group.add_parser("window", help="live verdict cost and memory per call length")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument(
        "--last", type=int, default=20, help="samples timed at each size (default 20)"
    )
    parser.set_defaults(handler=run)


def _sample(base: Sequence[SampleResult], i: int) -> SampleResult:
    """The i-th sample of a call (t = i seconds), with a thumbnail of its own."""
    s = base[i % len(base)]
    thumb = np.roll(s.camera.thumbnail, i // len(base), axis=1)
    return replace(s, t=float(i), camera=replace(s.camera, thumbnail=thumb))


def cost_ms(base: Sequence[SampleResult], n: int, last: int, window: CheckWindow) -> float:
    """CPU ms of one add + verdict, averaged over samples ``n - last + 1`` to ``n``."""
    for i in range(n - last):
        window.add(_sample(base, i))
    samples = [_sample(base, i) for i in range(n - last, n)]
    start = time.process_time_ns()
    for s in samples:
        window.add(s)
        window.verdict()
    return (time.process_time_ns() - start) / 1e6 / last


def held_bytes(base: Sequence[SampleResult], n: int, make: Callable[[], CheckWindow]) -> int:
    """Bytes still allocated once a call of ``n`` samples dropped everything but its
    window and latest verdict (what ``CallSession`` keeps)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    window = make()
    verdict = None
    for i in range(n):
        window.add(_sample(base, i))
        verdict = window.verdict()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del window, verdict
    return held


def measure(
    base: Sequence[SampleResult], make: Callable[[], CheckWindow], last: int
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for n in SIZES:
        figures[f"add_verdict_ms_at_{n}"] = round(cost_ms(base, n, last, make()), 3)
    for n in SIZES:
        figures[f"bytes_held_at_{n}"] = held_bytes(base, n, make)
    return figures


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.last <= min(SIZES):
        raise UsageError(f"--last must be between 1 and {min(SIZES)}")
    try:
        from fixtures.generate import frames
    except ImportError as exc:  # scikit-image is a test dependency
        raise UsageError(
            f"bench window needs the test extra (pip install hadir[test]): {exc}"
        ) from None
    from service.commands.bench import report
    from vision.analyzer import FrameAnalyzer, prepare
    from vision.config import DEFAULT_CONFIG
    from vision.face_track import FaceTrack
    from vision.uniform import parse_uniform_policy

    config = DEFAULT_CONFIG
    source = frames("live")
    images = [prepare(next(source), config.max_side) for _ in range(30)]
    track = FaceTrack()
    with FrameAnalyzer(config) as analyzer:
        base = [analyzer.analyze(img, float(i), track) for i, img in enumerate(images)]
    policy = parse_uniform_policy(POLICY)
    figures = measure(base, lambda: CheckWindow(config, policy, keep_samples=False), args.last)
    report("window", figures, args.json, note="live window; CPU ms per sample, bytes per call")
    return 0
