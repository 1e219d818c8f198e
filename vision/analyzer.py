"""``FrameAnalyzer``: one RGB frame in, one ``SampleResult`` out.

Usage, identical for the offline CLI and the live call::

    analyzer = FrameAnalyzer(config)            # loads the mediapipe models (~0.3 s)
    window = CheckWindow(config, policy)        # one per check
    for t, rgb in frames:                       # sampled every config.sample_interval_s
        window.add(analyzer.analyze(rgb, t))
        partial = window.verdict()              # any time
    analyzer.close()

The analyzer owns the mediapipe graphs and is NOT thread-safe: keep one per worker
thread and call it off the event loop. It holds no per-check state, so one analyzer
can serve many checks in turn; the per-check state (frozen-feed comparison) lives in
``CheckWindow``.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import numpy.typing as npt

from vision.camera import CameraState, observe
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face import FaceDetector, FaceStatus
from vision.sample import SampleResult
from vision.torso import TorsoAnalyzer

_NO_PICTURE = (CameraState.BLACK, CameraState.COVERED)


def prepare(frame_rgb: npt.NDArray[np.generic], max_side: int) -> npt.NDArray[np.uint8]:
    """Validate an RGB frame and downscale it so its longer side is at most ``max_side``."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or min(frame_rgb.shape[:2]) < 16:
        raise ValueError(f"expected an H x W x 3 RGB frame, got shape {frame_rgb.shape}")
    rgb = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    return rgb


def _ms(start_ns: int) -> float:
    return (time.process_time_ns() - start_ns) / 1e6


class FrameAnalyzer:
    """Face, camera and torso analysis of single frames (not thread-safe)."""

    def __init__(self, config: VisionConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._faces = FaceDetector(config)
        self._torso = TorsoAnalyzer(config)

    def close(self) -> None:
        """Release the mediapipe graphs."""
        self._faces.close()
        self._torso.close()

    def __enter__(self) -> FrameAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze(self, frame_rgb: npt.NDArray[np.generic], t: float) -> SampleResult:
        """Analyse one RGB frame taken ``t`` seconds into the check."""
        start = time.process_time_ns()
        rgb = prepare(frame_rgb, self.config.max_side)
        cpu: dict[str, float] = {"prepare": _ms(start)}

        s = time.process_time_ns()
        camera = observe(rgb, self.config)
        cpu["camera"] = _ms(s)

        face = None
        if camera.state not in _NO_PICTURE:
            s = time.process_time_ns()
            face = self._faces.detect(rgb)
            cpu["face"] = _ms(s)

        torso = None
        if face is not None and face.status is FaceStatus.OK and face.largest is not None:
            s = time.process_time_ns()
            torso = self._torso.observe(rgb, face.largest.box)
            cpu["torso"] = _ms(s)
        cpu["total"] = _ms(start)
        return SampleResult(t=float(t), face=face, camera=camera, torso=torso, cpu_ms=cpu)
