"""Which JPEG quality and decoding size the stills leg uses: the development set's photos
(``fixtures/real``), each as the staff page sends it (long side at most 640, JPEG at a
quality), decoded as the server does (half or full size), analysed, and compared with
the same picture analysed without JPEG: face status, camera state and the top (visible,
solid, colour name, layered). Prints agreement, bytes and decoding cost per setting.

    .venv/bin/python scripts/stills_quality.py [--limit N]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import cv2
import numpy as np
import numpy.typing as npt

from fixtures.devset import load
from vision.analyzer import FrameAnalyzer
from vision.face_track import FaceTrack
from vision.sample import SampleResult

QUALITIES = (60, 70, 80, 90)
DECODES = (("half", cv2.IMREAD_REDUCED_COLOR_2), ("full", cv2.IMREAD_COLOR))
SIDE = 640


def _page_picture(path: str) -> npt.NDArray[np.uint8]:
    """The photo as the page's canvas holds it: BGR, long side at most 640."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    scale = min(1.0, SIDE / max(bgr.shape[:2]))
    size = (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def _facts(s: SampleResult) -> tuple[object, object, object]:
    torso = s.torso
    top = None if torso is None else (torso.visible, torso.solid, torso.colour_name, torso.layered)
    return (s.face.status if s.face else None, s.camera.state, top)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    images = load()
    if args.limit:
        images = images[: args.limit]
    agree: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    sizes: dict[int, list[int]] = defaultdict(list)
    decode_ms: dict[str, list[float]] = defaultdict(list)
    with FrameAnalyzer() as analyzer:
        for image in images:
            bgr = _page_picture(str(image.path))
            ref = _facts(analyzer.analyze(bgr[:, :, ::-1], 0.0, FaceTrack()))
            for q in QUALITIES:
                ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
                assert ok
                sizes[q].append(len(jpeg))
                for name, flags in DECODES:
                    started = time.thread_time()
                    got = cv2.imdecode(jpeg, flags)
                    decode_ms[name].append((time.thread_time() - started) * 1000)
                    facts = _facts(analyzer.analyze(got[:, :, ::-1], 0.0, FaceTrack()))
                    row = agree[(q, name)]
                    row[0] += facts[0] == ref[0]
                    row[1] += facts[1] == ref[1]
                    row[2] += facts[2] == ref[2]
                    row[3] += 1
    n = len(images)
    print(f"{n} photos; agreement with the picture analysed without JPEG")
    print("quality decode  face   camera  top    bytes(mean)")
    for (q, name), (face, camera, top, total) in sorted(agree.items()):
        print(
            f"{q:>7} {name:<6} {face / total:6.1%} {camera / total:6.1%} {top / total:6.1%}"
            f" {np.mean(sizes[q]):9.0f}"
        )
    for name, values in decode_ms.items():
        print(f"decode {name}: {np.mean(values):.2f} ms CPU per still")


if __name__ == "__main__":
    main()
