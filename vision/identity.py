"""The 1:1 identity match: the face in a call against the staff member's enrolled face.

dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``, CC0 weights)
maps a face, aligned by dlib's 5-point predictor, to a 128-d descriptor; descriptors of
one person lie closer (Euclidean distance) than those of two people. The face box is
the one mediapipe already found (``vision.face``): dlib's own detector never runs.
Only the ResNet and the 5-point predictor are read from ``face_recognition_models``'
package data; the 68-point predictor beside them (iBUG 300-W, non-commercial) is never
opened, and the ``face_recognition`` package is not used.

Cost: about 130-160 ms of one core per descriptor, so a call matches a few samples
(``IdentityConfig``: the first good one, then one every ``interval_s``, at most
``max_matches``), never every sample. The alignment (``FaceAligner``, ~2 ms) runs in
the analysis thread; the ResNet holds the GIL for its whole run, so a server runs it
in a process of its own (``DescriptorProcess``). The thresholds were chosen on the
development set (docs/vision.md, "Identity"); ``judge_identity`` is pure.
"""

from __future__ import annotations

import multiprocessing
import statistics
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vision.camera import CameraState
from vision.face import Box, FaceStatus
from vision.sample import SampleResult
from vision.verdict import CriterionVerdict, Reason, Verdict

MODEL = "dlib_face_recognition_resnet_model_v1"
DESCRIPTOR_SIZE = 128
Descriptor = npt.NDArray[np.float32]
Chip = npt.NDArray[np.uint8]
"""A face aligned by the 5-point predictor: 150 x 150 RGB, 25 % padding."""
CHIP_SIZE = 150
CHIP_PADDING = 0.25
_RESNET = "dlib_face_recognition_resnet_model_v1.dat"
_PREDICTOR = "shape_predictor_5_face_landmarks.dat"  # never the 68-point file


@cache
def model_version() -> str:
    """The model and the packages it comes from, as records name it."""
    dlib = metadata.version("dlib-bin")
    weights = metadata.version("face_recognition_models")
    return f"{MODEL} (dlib {dlib}, face_recognition_models {weights}, 5-point alignment)"


@dataclass(frozen=True)
class IdentityConfig:
    """When a call matches, and what the distances mean (docs/vision.md, "Identity")."""

    accept_max: float = 0.45
    """A distance at or below this is the enrolled person."""
    reject_min: float = 0.75
    """A distance at or above this is another person, well above ``accept_max``."""
    mismatch_matches: int = 3
    """FAIL needs at least this many matches at or above ``reject_min``, and none
    accepted: one odd frame never accuses anybody."""
    interval_s: float = 15.0
    """Seconds between two matches of a call (the first is the first usable sample)."""
    max_matches: int = 5
    """At most this many matches per call: about 0.7 s of one core."""
    min_face_px: float = 80.0
    """Faces smaller than this (``Face.size``) are not matched: the ResNet's 150-px
    aligned chip would be upscaled from too few pixels."""


DEFAULT_IDENTITY = IdentityConfig()


_LIGHT = {
    CameraState.BLACK: Reason.CAMERA_BLACK,
    CameraState.COVERED: Reason.CAMERA_COVERED,
    CameraState.LOW_LIGHT: Reason.LOW_LIGHT,
}
_FACES = {
    FaceStatus.NONE: Reason.NO_FACE,
    FaceStatus.MULTIPLE: Reason.MULTIPLE_FACES,
    FaceStatus.TOO_SMALL: Reason.FACE_TOO_SMALL,
}


def unusable(sample: SampleResult, config: IdentityConfig = DEFAULT_IDENTITY) -> Reason | None:
    """Why a sample's face cannot be matched (or enrolled), or None: it needs the light
    ``ok`` and exactly one face of at least ``min_face_px``."""
    if sample.camera.state in _LIGHT:
        return _LIGHT[sample.camera.state]
    face = sample.face
    if face is None or face.status in _FACES:
        return _FACES[face.status] if face else Reason.NO_FACE
    if face.largest is None or face.largest.size < config.min_face_px:
        return Reason.FACE_TOO_SMALL
    return None


def usable(sample: SampleResult, config: IdentityConfig = DEFAULT_IDENTITY) -> Box | None:
    """The face box of a sample good enough to match."""
    if unusable(sample, config) is not None or sample.face is None:
        return None
    return None if sample.face.largest is None else sample.face.largest.box


def distance(probe: Descriptor, enrolled: Sequence[Descriptor]) -> float:
    """Distance from ``probe`` to the nearest enrolled descriptor."""
    return min(float(np.linalg.norm(probe - ref)) for ref in enrolled)


def judge_identity(
    distances: Sequence[float], config: IdentityConfig = DEFAULT_IDENTITY
) -> CriterionVerdict:
    """The identity criterion from a call's match distances (in order).

    PASS: some match accepted and none rejected. FAIL (``identity_mismatch``): at least
    ``mismatch_matches`` rejected and none accepted. Anything else, no match included,
    is INCONCLUSIVE ``identity_uncertain``: a supervisor looks.
    """
    accepted = sum(d <= config.accept_max for d in distances)
    rejected = sum(d >= config.reject_min for d in distances)
    reasons: tuple[Reason, ...] = ()
    if accepted and not rejected:
        verdict = Verdict.PASS
    elif rejected >= config.mismatch_matches and not accepted:
        verdict, reasons = Verdict.FAIL, (Reason.IDENTITY_MISMATCH,)
    else:
        verdict, reasons = Verdict.INCONCLUSIVE, (Reason.IDENTITY_UNCERTAIN,)
    scores: dict[str, float | int | None] = {
        "matches": len(distances),
        "accepted": accepted,
        "rejected": rejected,
        "distance_min": round(min(distances), 4) if distances else None,
        "distance_median": round(statistics.median(distances), 4) if distances else None,
        "distance_max": round(max(distances), 4) if distances else None,
        "accept_max": config.accept_max,
        "reject_min": config.reject_min,
    }
    return CriterionVerdict(verdict, reasons, scores, ())


def _model_file(name: str) -> Path:
    """A model file of ``face_recognition_models``, found through its installed files:
    the package itself is never imported (its ``__init__`` needs ``pkg_resources``)."""
    for file in metadata.files("face_recognition_models") or ():
        if file.name == name:
            return Path(str(file.locate()))
    raise FileNotFoundError(f"face_recognition_models has no {name}")


class FaceAligner:
    """dlib's 5-point predictor: the face in a box, aligned into the ResNet's 150-px
    chip (about 2 ms; not thread-safe: one per analysis thread)."""

    def __init__(self) -> None:
        import dlib  # here: only processes that match faces load it

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(_model_file(_PREDICTOR)))

    def chip(self, rgb: npt.NDArray[np.uint8], box: Box, scale: float = 1.0) -> Chip:
        """The aligned face in ``box`` (pixels of a frame ``scale`` times smaller than
        ``rgb``), as ``dlib.face_recognition_model_v1`` takes it."""
        rect = self._dlib.rectangle(
            round(box.x * scale),
            round(box.y * scale),
            round((box.x + box.w) * scale),
            round((box.y + box.h) * scale),
        )
        shape = self._predictor(rgb, rect)
        chip: Chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return chip


def describe_face(
    rgb: npt.NDArray[np.uint8],
    sample: SampleResult,
    aligner: FaceAligner,
    describe: Callable[[Chip], Descriptor],
    max_side: int,
    config: IdentityConfig = DEFAULT_IDENTITY,
) -> Descriptor | None:
    """The descriptor of the sample's one usable face (None without one), aligned on the
    frame at full size: ``sample`` was analysed at most ``max_side`` px a side, and its
    box is scaled back. ``describe`` runs the ResNet (in a ``DescriptorProcess`` for a
    server, a ``FaceNet`` here for a command)."""
    box = usable(sample, config)
    if box is None:
        return None
    scale = max(1.0, max(rgb.shape[:2]) / max_side)
    return describe(aligner.chip(rgb, box, scale))


class FaceNet:
    """dlib's face ResNet (about 0.8 s to load, 160 ms a chip). It holds the GIL while
    it runs, so a server runs it in ``DescriptorProcess``, never in a thread of the
    process that serves calls."""

    def __init__(self) -> None:
        import dlib

        self._net = dlib.face_recognition_model_v1(str(_model_file(_RESNET)))

    def describe(self, chip: Chip) -> Descriptor:
        return np.asarray(self._net.compute_face_descriptor(chip), dtype=np.float32)


_worker_net: FaceNet | None = None


def _load_worker() -> None:
    global _worker_net
    _worker_net = FaceNet()


def _ready() -> bool:
    return _worker_net is not None


def _describe_in_worker(chip: Chip) -> Descriptor:
    assert _worker_net is not None
    return _worker_net.describe(chip)


class DescriptorProcess:
    """The ResNet in a process of its own, started on first use (spawned, never forked
    from a process with threads) and loaded once. ``describe`` blocks the calling
    thread, not the GIL: the event loop keeps running while a face is described. One
    process describes one chip at a time: a few per call leaves it mostly idle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_load_worker
                )
            return self._executor

    def _broken(self, executor: ProcessPoolExecutor) -> None:
        """The process died (killed, out of memory): the next use starts a new one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None

    def start(self) -> None:
        """Start the process and load the model now, without waiting (a call that will
        match is ringing): its first match then does not wait about a second for it."""
        executor = self._started()
        try:
            executor.submit(_ready)
        except BrokenProcessPool:
            self._broken(executor)

    def describe(self, chip: Chip) -> Descriptor:
        executor = self._started()
        try:
            return executor.submit(_describe_in_worker, chip).result()
        except BrokenProcessPool:
            self._broken(executor)
            raise

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


@dataclass
class CallIdentity:
    """One call's identity evidence: the enrolled descriptors and the match distances.

    Matched in the analysis threads (one at a time per call, like ``FaceTrack``) and
    read on the event loop: ``due`` and ``add`` are called by the thread, ``distances``
    returns a copy.
    """

    enrolled: tuple[Descriptor, ...]
    """Empty when the staff member is not enrolled: the criterion is ``not_enrolled``."""
    config: IdentityConfig = DEFAULT_IDENTITY
    version: str = MODEL

    def __post_init__(self) -> None:
        self._distances: list[float] = []
        self._last: float | None = None
        self._lock = threading.Lock()

    def due(self, sample: SampleResult) -> bool:
        """Whether to match ``sample``: a match is due and its face is usable."""
        if not self.enrolled or len(self._distances) >= self.config.max_matches:
            return False
        if self._last is not None and sample.t - self._last < self.config.interval_s:
            return False
        return usable(sample, self.config) is not None

    def match(
        self, sample: SampleResult, describe: Callable[[SampleResult], Descriptor | None]
    ) -> None:
        """Match ``sample`` when a match is due: ``describe`` gives its face's descriptor
        (None: no usable face after all, nothing is added)."""
        if not self.due(sample):
            return
        probe = describe(sample)
        if probe is not None:
            self.add(sample.t, probe)

    def add(self, t: float, probe: Descriptor) -> None:
        with self._lock:
            self._distances.append(distance(probe, self.enrolled))
            self._last = t

    @property
    def distances(self) -> tuple[float, ...]:
        with self._lock:
            return tuple(self._distances)
