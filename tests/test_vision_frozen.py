"""The camera's frozen test on what the live path analyses: the page's JPEG stills.

A picture fed in as the camera repeats exactly, and identical frames give identical
JPEGs; a live sensor's noise, even before a motionless scene, changes every JPEG. So a
person sitting very still is never ``camera_frozen`` (that would accuse a live person),
and a fed picture always is. The scene is a development-set photo (fixtures/real); the
stills go through the page's encoding (``fixtures.real_clips.jpeg``, quality 0.7), the
server's decoder and the analyzer at the page's times.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from fixtures.devset import load
from fixtures.real_clips import frames, jpeg, still_times
from signaling.stills import decode_rgb
from vision.analyzer import FrameAnalyzer
from vision.check import CheckWindow
from vision.config import DEFAULT_CONFIG
from vision.face_track import FaceTrack
from vision.uniform import parse_uniform_policy
from vision.verdict import CheckVerdict, Reason, Verdict

Image = npt.NDArray[np.uint8]
CLIP_NOISE = 2.0
"""The sensor noise of the development clips (``fixtures.real_clips``), grey levels."""


@pytest.fixture(scope="module")
def scene() -> Image:
    """A motionless scene: a person's photo as a camera frame."""
    image = next(im for im in load() if im.id == "pd18f_443_patrick_kigongo")
    return next(frames(image, "original", (0.0,)))


def _live(scene: Image, sigma: float) -> Iterator[Image]:
    """The scene as a live sensor sees it: fresh noise of ``sigma`` in every frame."""
    rng = np.random.default_rng(int(sigma * 1000))
    for _ in still_times():
        noise = rng.standard_normal(scene.shape, dtype=np.float32) * sigma
        yield np.asarray(np.clip(scene + noise + 0.5, 0, 255), dtype=np.uint8)


def _judged(analyzer: FrameAnalyzer, pictures: Iterator[Image]) -> CheckVerdict:
    window = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy("any"))
    track = FaceTrack()
    for t, rgb in zip(still_times(), pictures, strict=True):
        window.add(analyzer.analyze(decode_rgb(jpeg(rgb)), t, track))
    return window.verdict()


@pytest.mark.parametrize("sigma", [CLIP_NOISE / 8, CLIP_NOISE / 4, CLIP_NOISE])
def test_a_motionless_scene_before_a_live_sensor_is_never_frozen(
    analyzer: FrameAnalyzer, scene: Image, sigma: float
) -> None:
    # Down to an eighth of the clips' noise (0.25 grey levels, less than any camera
    # sensor shows), every two consecutive stills differ by more than the threshold.
    verdict = _judged(analyzer, _live(scene, sigma))
    differences = [s.difference or 0.0 for s in verdict.samples[1:]]
    assert len(differences) == len(still_times()) - 1
    assert min(differences) > DEFAULT_CONFIG.frozen_max_mad * 2, differences
    assert Reason.CAMERA_FROZEN not in verdict.camera.reasons
    assert verdict.camera.verdict is Verdict.PASS


def test_a_picture_fed_in_is_frozen_from_its_fifth_still(
    analyzer: FrameAnalyzer, scene: Image
) -> None:
    # One frame, sensor noise and all, repeated: every still is the same JPEG.
    picture = next(_live(scene, CLIP_NOISE))
    stills = [jpeg(picture) for _ in still_times()]
    assert len(set(stills)) == 1
    verdict = _judged(analyzer, iter([picture] * len(stills)))
    assert [s.difference for s in verdict.samples[1:]] == [0.0] * (len(stills) - 1)
    assert verdict.camera.verdict is Verdict.FAIL
    assert Reason.CAMERA_FROZEN in verdict.camera.reasons
    # The page's first five stills are half a second apart: frozen 2 s in, all of it.
    assert verdict.camera.evidence["camera_frozen"] == still_times()
