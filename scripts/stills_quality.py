"""Which JPEG quality and decoding size the stills leg uses, against the VP8 track it
replaces, on the development set (``fixtures/real``).

Each photo becomes a camera frame as in ``fixtures.real_clips`` (drift, flicker, sensor
noise; the frame 3 s in). That frame is analysed as it is (the reference), as the VP8
leg delivers it (the clip's frame, VP8 at 5 fps and 300 kbit/s) and as the stills leg
does (JPEG at a quality, decoded at half or full size); the table gives the share of
photos where face status, camera state and the top (visible, solid, colour name,
layered) agree with the reference, with the mean bytes per still. Then a frozen source:
the mean luma difference of consecutive samples (1 s apart) for a still scene with
sensor noise and for one frame repeated exactly, through JPEG and through VP8.

    .venv/bin/python scripts/stills_quality.py [--limit N] [--frozen N]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from fixtures.devset import DevImage, load
from fixtures.generate import write_encoded
from fixtures.real_clips import SECONDS, frames
from vision.analyzer import FrameAnalyzer
from vision.camera import frame_difference, thumbnail
from vision.config import DEFAULT_CONFIG
from vision.face_track import FaceTrack
from vision.sample import SampleResult

QUALITIES = (60, 70, 80, 90)
DECODES = (("half", cv2.IMREAD_REDUCED_COLOR_2), ("full", cv2.IMREAD_COLOR))
FPS, BIT_RATE = 5, 300_000  # the VP8 leg the stills replaced
TIMES = tuple(i / FPS for i in range(SECONDS * FPS))
AT = 3 * FPS  # the frame 3 s into the clip
Image = npt.NDArray[np.uint8]


def _facts(s: SampleResult) -> tuple[Any, ...]:
    torso = s.torso
    top = None if torso is None else (torso.visible, torso.solid, torso.colour_name, torso.layered)
    return (s.face.status if s.face else None, s.camera.state, top)


def _vp8_frames(path: Path) -> list[Image]:
    with av.open(str(path)) as container:
        # rgb24 frames are uint8 already: asarray only gives them their type
        return [
            np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in container.decode(video=0)
        ]


def _vp8(pictures: list[Image], path: Path) -> list[Image]:
    """The frames as the VP8 leg delivered them (5 fps, 300 kbit/s, one keyframe)."""
    write_encoded(path, "libvpx", iter(pictures), fps=FPS, bit_rate=BIT_RATE, keyframe_s=None)
    return _vp8_frames(path)


def _jpeg(rgb: Image, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def _decoded(jpeg: bytes, flags: int) -> Image:
    return np.ascontiguousarray(cv2.imdecode(np.frombuffer(jpeg, np.uint8), flags)[:, :, ::-1])


def _difference(a: Image, b: Image) -> float:
    width = DEFAULT_CONFIG.thumb_width
    return frame_difference(thumbnail(a, width), thumbnail(b, width))


def agreement(images: list[DevImage]) -> None:
    agree: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    sizes: dict[int, list[int]] = defaultdict(list)
    with FrameAnalyzer() as analyzer, tempfile.TemporaryDirectory() as tmp:

        def facts(rgb: Image) -> tuple[Any, ...]:
            return _facts(analyzer.analyze(rgb, 0.0, FaceTrack()))

        for image in images:
            shot = list(frames(image, "original", TIMES))
            raw = shot[AT]
            ref = facts(raw)
            got = {"vp8 5 fps": facts(_vp8(shot, Path(tmp) / f"{image.id}.webm")[AT])}
            for q in QUALITIES:
                jpeg = _jpeg(raw, q)
                sizes[q].append(len(jpeg))
                for name, flags in DECODES:
                    got[f"jpeg q{q} {name}"] = facts(_decoded(jpeg, flags))
            for name, seen in got.items():
                for k in range(3):
                    agree[name][k] += seen[k] == ref[k]
    n = len(images)
    print(f"{n} photos as camera frames; agreement with the frame analysed as it is")
    print(f"{'leg':<18} {'face':>6} {'camera':>7} {'top':>6} {'KB/still':>9}")
    for name, (face, camera, top) in agree.items():
        quality = int(name.split()[1][1:]) if name.startswith("jpeg") else None
        size = (
            f"{np.mean(sizes[quality]) / 1000:9.1f}"
            if quality
            else f"{BIT_RATE / 8 / FPS / 1000:9.1f}"
        )
        print(f"{name:<18} {face / n:6.1%} {camera / n:7.1%} {top / n:6.1%} {size}")


def frozen(images: list[DevImage]) -> None:
    rows: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for image in images:
            still = list(frames(image, "held", TIMES))
            a, b = still[AT - FPS], still[AT]  # 1 s apart, sensor noise only
            rows["still scene, raw"].append(_difference(a, b))
            rows["still scene, jpeg q80"].append(
                _difference(_decoded(_jpeg(a, 80), 1), _decoded(_jpeg(b, 80), 1))
            )
            vp8 = _vp8(still, Path(tmp) / f"{image.id}.held.webm")
            rows["still scene, vp8"].append(_difference(vp8[AT - FPS], vp8[AT]))
            vp8 = _vp8([a] * len(still), Path(tmp) / f"{image.id}.webm")
            rows["frozen source, vp8"].append(_difference(vp8[AT - FPS], vp8[AT]))
            jpeg = _jpeg(a, 80)
            rows["frozen source, jpeg q80"].append(
                _difference(_decoded(jpeg, 1), _decoded(jpeg, 1))
            )
    print(
        f"consecutive samples 1 s apart, mean luma difference (frozen under "
        f"{DEFAULT_CONFIG.frozen_max_mad:g}), {len(images)} photos: mean [min, max]"
    )
    for name, values in rows.items():
        print(f"{name:<26} {np.mean(values):5.2f} [{min(values):.2f}, {max(values):.2f}]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="photos for the agreement")
    parser.add_argument("--frozen", type=int, default=20, help="photos for the frozen source")
    args = parser.parse_args()
    images = load()
    agreement(images[: args.limit] if args.limit else images)
    frozen(images[: args.frozen])


if __name__ == "__main__":
    main()
