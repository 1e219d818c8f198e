"""``hadir bench NAME``: micro-benchmarks, one sub-command each.

This module owns the ``bench`` group. The benchmarks live in the top-level ``bench``
package, which only the test setup installs (a production install does not carry the
load generator); without it, ``hadir bench ...`` exits 2 with a one-line message. A
benchmark joins the group without editing any list: this module and every module of
``bench`` that defines ``register_bench(bench_sub)`` get called with the group's
subparsers and add their parser there, with ``set_defaults(handler=...)`` as for any
command. ``report()`` prints a benchmark's figures as a table or JSON the same way for
all of them.

``hadir bench vision [--json]`` lives here: CPU ms per sample for each stage of the
vision analysis at 640x480, averaged over a call's samples (the garment is judged on
its cadence: see garment_samples), the cost of a sample with and without a garment,
process CPU over the analysis thread's own (1.0: one core per analysis thread), and
the samples per second one core sustains; the head pose of one liveness challenge
frame (``challenge_frame_ms``) and the identity match.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import time
from fractions import Fraction
from typing import Any

from service.errors import UsageError


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="run a micro-benchmark (vision, ...)")
    try:
        import bench
    except ImportError:
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(handler=_not_installed)
        return
    group = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    register_bench(group)
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        hook = getattr(importlib.import_module(f"bench.{info.name}"), "register_bench", None)
        if callable(hook):
            hook(group)


def _not_installed(args: argparse.Namespace) -> int:
    raise UsageError(
        "the benchmarks are not installed: they come with the test setup "
        "(pip install -e '.[test]' -e ./bench, or make .venv/.installed-test)"
    )


def report(name: str, figures: dict[str, Any], as_json: bool, note: str = "") -> None:
    """Print a benchmark's figures: JSON, or an aligned ``key  value`` table."""
    if as_json:
        print(json.dumps({"benchmark": name, **figures}, indent=2))
        return
    print(f"bench {name}" + (f" ({note})" if note else ""))
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"  {key:34} {shown}")


# --- vision ------------------------------------------------------------------------


def register_bench(group: Any) -> None:
    parser = group.add_parser("vision", help="CPU ms per sample of each vision stage at 640x480")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument(
        "--samples", type=int, default=60, help="frames to time per stage (default 60)"
    )
    parser.set_defaults(handler=run_vision)


def _cpu_ms(fn: Any, items: list[Any]) -> float:
    """Median-free simple mean of process CPU time per call, in ms."""
    start = time.process_time_ns()
    for item in items:
        fn(item)
    return (time.process_time_ns() - start) / 1e6 / len(items)


def run_vision(args: argparse.Namespace) -> int:
    if args.samples < 5:
        raise UsageError("--samples must be at least 5")
    try:
        from fixtures.generate import FPS, frames
    except ImportError as exc:  # scikit-image is a test dependency
        raise UsageError(
            f"bench vision needs the test extra (pip install hadir[test]): {exc}"
        ) from None
    import av

    from vision.analyzer import FrameAnalyzer, prepare
    from vision.camera import observe
    from vision.config import DEFAULT_CONFIG
    from vision.face_track import FaceTrack

    config = DEFAULT_CONFIG
    source = frames("live")
    images = [next(source) for _ in range(min(args.samples, 90))]
    while len(images) < args.samples:
        images.extend(images[: args.samples - len(images)])

    # What the live call holds per sample: a decoded yuv420p VideoFrame (aiortc).
    video_frames = [
        av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p") for img in images
    ]
    # Every received frame is decoded whether sampled or not: VP8 decode, for scale.
    encoder: Any = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.framerate = Fraction(FPS)
    encoder.bit_rate = 1_000_000
    packets = [p for vf in video_frames for p in encoder.encode(vf)]
    packets += list(encoder.encode(None))
    decoder = av.CodecContext.create("libvpx", "r")
    vp8_ms = _cpu_ms(lambda p: decoder.decode(p), packets)

    decode_ms = _cpu_ms(lambda vf: vf.to_ndarray(format="rgb24"), video_frames)
    rgbs = [prepare(img, config.max_side) for img in images]
    with FrameAnalyzer(config) as analyzer:
        for img in rgbs[:5]:  # warm-up: graph start and first inference are slower
            analyzer.analyze(img, 0.0)
        camera_ms = _cpu_ms(lambda img: observe(img, config), rgbs)
        results = []
        # One check, as in a call: the landmark check runs per face, the garment on the
        # track's cadence (every sample at first, then every few seconds).
        track = FaceTrack()
        start, thread, wall = time.process_time_ns(), time.thread_time_ns(), time.perf_counter()
        for i, img in enumerate(rgbs):
            results.append(analyzer.analyze(img, float(i), track))
        analyze_ms = (time.process_time_ns() - start) / 1e6 / len(rgbs)
        thread_ms = (time.thread_time_ns() - thread) / 1e6 / len(rgbs)
        wall_ms = (time.perf_counter() - wall) * 1e3 / len(rgbs)

    def stage(name: str) -> float:
        vals = [r.cpu_ms.get(name, 0.0) for r in results]
        return sum(vals) / len(vals)

    def mean_total(garment: bool) -> float:
        vals = [r.cpu_ms["total"] for r in results if (r.torso is not None) is garment]
        return decode_ms + sum(vals) / len(vals) if vals else 0.0

    total = decode_ms + analyze_ms
    figures: dict[str, Any] = {
        "resolution": "640x480",
        "samples": len(rgbs),
        "decode_to_array_ms": round(decode_ms, 2),
        "face_ms": round(stage("face"), 2),
        "landmarks_ms": round(stage("landmarks"), 2),
        "landmark_checks": track.checks,
        "segmentation_ms": round(stage("segmentation"), 2),
        "camera_ms": round(camera_ms, 2),
        "torso_ms": round(stage("torso"), 2),
        "analysis_ms": round(analyze_ms, 2),
        "total_ms": round(total, 2),
        "garment_samples": sum(1 for r in results if r.torso is not None),
        "garment_sample_ms": round(mean_total(True), 2),
        "other_sample_ms": round(mean_total(False), 2),
        "analysis_thread_cpu_ms": round(thread_ms, 2),
        "process_over_thread_cpu": round(analyze_ms / thread_ms, 2),
        "wall_ms": round(wall_ms, 2),
        "samples_per_second_one_core": round(1000.0 / total, 1),
        "target_total_ms": 15.0,
        "within_target": total <= 15.0,
        "vp8_decode_per_received_frame_ms": round(vp8_ms, 2),
        "full_range_fallback_samples": sum(
            1 for r in results if r.face is not None and r.face.model == "full"
        ),
        "vision_version": config.version,
        **_challenge_figures(rgbs),
        **_identity_figures(rgbs, results),
    }
    report("vision", figures, args.json, note="CPU ms per sample; process CPU time")
    return 0


def _challenge_figures(rgbs: list[Any]) -> dict[str, Any]:
    """A liveness challenge's frame: the head pose (``PoseReader.read``: face detector
    and landmark model with irises on the whole frame), process and thread CPU."""
    from vision.pose_reader import PoseReader

    reader = PoseReader()
    try:
        for img in rgbs[:3]:  # warm-up
            reader.read(img)
        thread = time.thread_time_ns()
        read_ms = _cpu_ms(reader.read, rgbs)
        thread_ms = (time.thread_time_ns() - thread) / 1e6 / len(rgbs)
        faces = sum(1 for img in rgbs if reader.read(img) is not None)
    finally:
        reader.close()
    return {
        "challenge_frame_ms": round(read_ms, 2),
        "challenge_frame_thread_cpu_ms": round(thread_ms, 2),
        "challenge_frames_with_a_face": faces,
    }


def _identity_figures(rgbs: list[Any], results: list[Any]) -> dict[str, Any]:
    """The identity match on the live clip's faces: the 5-point alignment and the ResNet
    per face, CPU time here; then five descriptors in the descriptor process as the
    server runs them, with the longest pause another Python thread saw meanwhile."""
    import threading

    from vision.identity import DEFAULT_IDENTITY, DescriptorProcess, FaceAligner, FaceNet, usable

    faces = [(rgb, box) for rgb, r in zip(rgbs, results, strict=True) if (box := usable(r))]
    if not faces:
        return {"identity_faces": 0}
    faces = (faces * 5)[:5]
    aligner, net = FaceAligner(), FaceNet()
    align_ms = _cpu_ms(lambda face: aligner.chip(*face), faces)
    chips = [aligner.chip(*face) for face in faces]
    describe_ms = _cpu_ms(net.describe, chips)
    process = DescriptorProcess()
    process.describe(chips[0])  # start it and load the model
    pauses: list[float] = []
    done = threading.Event()

    def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.002)
            now = time.perf_counter()
            pauses.append(now - last)
            last = now

    thread = threading.Thread(target=ticker)
    thread.start()
    start = time.perf_counter()
    for chip in chips:
        process.describe(chip)
    wall_ms = (time.perf_counter() - start) * 1000 / len(chips)
    done.set()
    thread.join()
    process.close()
    per_call = DEFAULT_IDENTITY.max_matches * (align_ms + describe_ms)
    return {
        "identity_align_ms": round(align_ms, 2),
        "identity_descriptor_ms": round(describe_ms, 1),
        "identity_match_wall_ms": round(wall_ms, 1),
        "identity_other_thread_pause_ms": round(max(pauses) * 1000, 1),
        "identity_max_cpu_per_call_ms": round(per_call),
    }
