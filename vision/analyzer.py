"""``FrameAnalyzer``: one RGB frame in, one ``SampleResult`` out.

Usage, identical for the offline CLI and the live call::

    analyzer = FrameAnalyzer(config)            # loads the mediapipe models (~0.3 s)
    window = CheckWindow(config, policy)        # one per check
    track = FaceTrack()                         # one per check
    for t, rgb in frames:                       # sampled every config.sample_interval_s
        window.add(analyzer.analyze(rgb, t, track))
        partial = window.verdict()              # any time
    analyzer.close()

The analyzer owns the mediapipe graphs and is NOT thread-safe: keep one per worker
thread and call it off the event loop. It holds no per-check state, so one analyzer
can serve many checks in turn; the per-check state lives in ``CheckWindow`` (the
frozen-feed comparison) and ``FaceTrack`` (faces already verified by the landmark
model, which therefore runs once per face, not once per sample).

Per sample with a picture: face detection, the skin-colour check of every face and
the landmark check of new ones, light judged on the face, and, where they decide
something, selfie segmentation (is a person there when no face is found; where the
garment is) and the garment below a single adequate face, on the cadence its
``FaceTrack`` keeps (every sample at first, then every few seconds).

Each analyzer's mediapipe graphs and OpenCV run on the calling thread
(``vision.graphs``): one analysis thread uses one core.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import numpy.typing as npt

from vision.camera import CameraState, observe, on_person
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face import Box, Face, FaceDetector, FaceObservation, FaceStatus, classify
from vision.face_track import FaceTrack
from vision.landmarks import FaceVerifier
from vision.sample import SampleResult
from vision.skin import skin_coloured
from vision.torso import TorsoAnalyzer

_NO_PICTURE = (CameraState.BLACK, CameraState.COVERED)
LANDMARK_MIN_SIZE = 90.0
"""Faces smaller than this (``Face.size``, px) skip the landmark check: upscaled to its
input, the landmark model rejected real faces of 45-80 px in group photos of the
development set; an object that small is ``face_too_small`` or one face in a crowd."""


MIN_SIDE = 16
"""The smallest frame side the models take (pixels); readers refuse smaller pictures."""
MAX_ASPECT = 4.0
"""The longest side over the shortest that a camera picture has (a phone's 21:9 is 2.3);
a strip wider than this, scaled to ``max_side``, would show nobody and read as
``no_face``."""


def picture_problem(height: int, width: int) -> str | None:
    """Why a picture of this size cannot be analysed, or None."""
    if min(height, width) < MIN_SIDE:
        return f"the picture is {width}×{height} pixels; at least {MIN_SIDE} a side is needed"
    if max(height, width) > MAX_ASPECT * min(height, width):
        return f"the picture is {width}×{height} pixels; a camera's is at most {MAX_ASPECT:g}:1"
    return None


def prepare(frame_rgb: npt.NDArray[np.generic], max_side: int) -> npt.NDArray[np.uint8]:
    """Validate an RGB frame and downscale it so its longer side is at most ``max_side``."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB frame, got shape {frame_rgb.shape}")
    problem = picture_problem(*frame_rgb.shape[:2])
    if problem is not None:
        raise ValueError(problem)
    rgb = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    return rgb


def face_luma(rgb: npt.NDArray[np.uint8], box: Box) -> float:
    """Mean luma (Rec.601) of the middle of a face box: cheeks, nose, eyes."""
    h, w = rgb.shape[:2]
    x0, x1 = max(0, round(box.x + 0.25 * box.w)), min(w, round(box.x + 0.75 * box.w))
    y0, y1 = max(0, round(box.y + 0.25 * box.h)), min(h, round(box.y + 0.8 * box.h))
    patch = rgb[y0:y1:2, x0:x1:2].reshape(-1, 3).astype(np.float32)
    if patch.size == 0:
        return 0.0
    return float((patch @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).mean())


def _ms(start_ns: int) -> float:
    return (time.process_time_ns() - start_ns) / 1e6


class FrameAnalyzer:
    """Face, camera and torso analysis of single frames (not thread-safe)."""

    def __init__(self, config: VisionConfig = DEFAULT_CONFIG) -> None:
        # OpenCV's own thread pool (one thread per core) for a 640x480 resize costs
        # more in hand-offs than it saves; analysis is parallel across samples instead.
        cv2.setNumThreads(1)
        self.config = config
        self._faces = FaceDetector(config)
        self._verifier = FaceVerifier()
        self._torso = TorsoAnalyzer(config)

    def close(self) -> None:
        """Release the mediapipe graphs."""
        self._faces.close()
        self._verifier.close()
        self._torso.close()

    def __enter__(self) -> FrameAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _verified(
        self, rgb: npt.NDArray[np.uint8], track: FaceTrack
    ) -> tuple[FaceObservation, float]:
        """The sample's faces once their colour is skin's (every sample: it costs little)
        and the landmark model vouched for each (a track's faces once), and the CPU ms
        the landmark model took."""
        candidates, model = self._faces.detect(rgb)
        faces: list[Face] = []
        spent = 0.0
        for face in candidates:
            if not skin_coloured(rgb, face.box, self.config):
                continue  # a statue, a drawing: no skin has its colour
            if face.size < LANDMARK_MIN_SIZE:
                faces.append(face)  # too few pixels for the landmark model to vouch
                continue
            known = track.recall(face.box)
            if known is None:
                s = time.process_time_ns()
                known = self._verifier.is_face(rgb, face.box)
                spent += _ms(s)
                track.remember(face.box, known)
            if known:
                faces.append(face)
        rejected = len(candidates) - len(faces)
        return classify(faces, rgb.shape[0], self.config, model, rejected), spent

    def analyze(
        self, frame_rgb: npt.NDArray[np.generic], t: float, track: FaceTrack | None = None
    ) -> SampleResult:
        """Analyse one RGB frame taken ``t`` seconds into the check; ``track`` is the
        check's face track (a fresh one when the frame stands alone)."""
        start = time.process_time_ns()
        rgb = prepare(frame_rgb, self.config.max_side)
        cpu: dict[str, float] = {"prepare": _ms(start)}

        s = time.process_time_ns()
        camera = observe(rgb, self.config)
        cpu["camera"] = _ms(s)

        face = None
        person = None
        torso = None
        if camera.state not in _NO_PICTURE:
            if track is None:
                track = FaceTrack()
            s = time.process_time_ns()
            face, cpu["landmarks"] = self._verified(rgb, track)
            cpu["face"] = _ms(s) - cpu["landmarks"]
            one = face.largest if face.status is FaceStatus.OK else None
            garment = one is not None and track.garment_due(t, self.config)
            # Segmentation decides two things: is a person there when no face is found,
            # and where the garment is. Elsewhere it would decide nothing.
            mask = None
            if garment or face.status is FaceStatus.NONE:
                s = time.process_time_ns()
                mask = self._torso.segment(rgb)
                person = float((mask > self.config.segmentation_threshold).mean())
                cpu["segmentation"] = _ms(s)
            if face.largest is not None:
                camera = on_person(camera, face_luma(rgb, face.largest.box), self.config)
            if garment:
                assert one is not None and mask is not None
                s = time.process_time_ns()
                torso = self._torso.observe(rgb, mask, one)
                track.garment_judged(t)
                cpu["torso"] = _ms(s)
        cpu["total"] = _ms(start)
        return SampleResult(
            t=float(t), face=face, camera=camera, person=person, torso=torso, cpu_ms=cpu
        )
