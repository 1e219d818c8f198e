"""Liveness challenges: the head pose measured on real photographs, and the judgement of
a challenge from the poses of the frames that followed it."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from vision.liveness import (
    Action,
    Challenge,
    Finding,
    HeadPose,
    LivenessConfig,
    Observation,
    Outcome,
    head_pose,
    issue,
    judge,
)
from vision.pose_reader import PoseReader

IMAGES = Path(__file__).parents[1] / "fixtures" / "real" / "images"
# Looked at by hand: which way each head is turned, in the person's own terms.
TURNED = {
    "cc0_iface_002": "right",  # looks down to the image's left
    "cc0_iface_095": "right",  # face toward the image's left, his left ear in view
    "cc0_iface_017": "left",  # profile toward the image's right, phone raised
    "cc0_iface_043": "left",  # sunglasses, face toward the image's right
    "pd18f_739_gitter": "frontal",
}
CONFIG = LivenessConfig()


@pytest.fixture(scope="module")
def mesh() -> Iterator[Any]:
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as found:
        yield found


def pose_of(mesh: Any, rgb: npt.NDArray[np.uint8]) -> HeadPose:
    result = mesh.process(np.ascontiguousarray(rgb))
    (face,) = result.multi_face_landmarks
    points = np.array([(p.x, p.y, p.z) for p in face.landmark])
    pose = head_pose(points, rgb.shape[1], rgb.shape[0])
    assert pose is not None
    return pose


@pytest.mark.parametrize("name", sorted(TURNED))
def test_the_yaw_says_which_way_a_real_head_is_turned_and_a_mirror_turns_it_back(
    mesh: Any, name: str
) -> None:
    rgb = photo(name)
    pose, mirrored = pose_of(mesh, rgb), pose_of(mesh, rgb[:, ::-1])
    if TURNED[name] == "frontal":
        assert abs(pose.yaw_deg) < 8
    else:
        sign = 1 if TURNED[name] == "left" else -1
        assert sign * pose.yaw_deg > 30
    assert abs(pose.yaw_deg + mirrored.yaw_deg) < 6
    assert mirrored.width == pytest.approx(pose.width, rel=0.1)
    assert 0.15 < pose.eyes_open < 0.9  # eyes open in every one of them


def test_a_challenge_is_drawn_from_the_randomness_given() -> None:
    first = issue(random.Random(7), 100.0, CONFIG)
    assert first == issue(random.Random(7), 100.0, CONFIG)
    assert first.deadline == 100.0 + CONFIG.answer_s
    assert len(first.nonce) == 16
    drawn = {issue(random.Random(seed), 0.0, CONFIG).action for seed in range(40)}
    assert drawn == {Action.TURN_LEFT, Action.TURN_RIGHT}  # a print brought closer grows


def frames(
    yaws: Sequence[float | None], widths: Sequence[float] | None = None, start: float = 0.0
) -> list[Observation]:
    """One frame a second from ``start``; None is a frame with no face measured."""
    out = []
    for i, yaw in enumerate(yaws):
        width = 0.3 if widths is None else widths[i]
        pose = None if yaw is None else HeadPose(yaw, width, 0.3)
        out.append(Observation(start + i, pose))
    return out


LEFT = Challenge(Action.TURN_LEFT, "n", 0.0, 8.0)


def test_a_person_who_turns_the_asked_way_passes() -> None:
    result = judge(LEFT, frames([2, 3, 10, 28, 35, 12, 4]), CONFIG)
    assert (result.outcome, result.finding, result.frames) == (Outcome.PASSED, Finding.ANSWERED, 7)
    assert result.change == pytest.approx(33)
    right = Challenge(Action.TURN_RIGHT, "n", 0.0, 8.0)
    assert judge(right, frames([-5, -6, -30, -8]), CONFIG).outcome is Outcome.PASSED
    closer = Challenge(Action.MOVE_CLOSER, "n", 0.0, 8.0)
    grew = frames([0, 0, 0, 0, 0], widths=[0.2, 0.2, 0.24, 0.27, 0.28])
    assert judge(closer, grew, CONFIG).outcome is Outcome.PASSED


def test_a_still_picture_fails_and_nothing_else_does() -> None:
    still = [Observation(t, HeadPose(1.0, 0.3, 0.3), frozen=t > 0) for t in range(6)]
    assert judge(LEFT, still, CONFIG).outcome is Outcome.FAILED
    assert judge(LEFT, still, CONFIG).finding is Finding.FROZEN
    # No movement, the wrong way, or too little: a person who could not is not failed.
    for yaws, finding in (
        ([1, 2, 1, 0, 2, 1], Finding.NO_RESPONSE),
        ([1, 0, -25, -30, -5], Finding.WRONG_DIRECTION),
        ([0, 5, 12, 15, 9], Finding.NO_RESPONSE),
    ):
        result = judge(LEFT, frames(yaws), CONFIG)
        assert (result.outcome, result.finding) == (Outcome.INCONCLUSIVE, finding), yaws


def test_too_little_to_judge_is_inconclusive() -> None:
    cases: tuple[tuple[list[float | None], Finding], ...] = (
        ([], Finding.TOO_FEW_FRAMES),  # nothing arrived
        ([None, None, None, None], Finding.NO_FACE),
        ([1, 2, 1], Finding.TOO_FEW_FRAMES),  # three frames of no movement
        ([None, None, 25, 30, 28], Finding.NO_BASELINE),  # no face before it turned
    )
    for yaws, finding in cases:
        result = judge(LEFT, frames(yaws), CONFIG)
        assert (result.outcome, result.finding) == (Outcome.INCONCLUSIVE, finding), yaws
    # A frozen picture needs as many frames as any other finding.
    few = [Observation(t, HeadPose(1.0, 0.3, 0.3), frozen=t > 0) for t in range(3)]
    assert judge(LEFT, few, CONFIG).outcome is Outcome.INCONCLUSIVE


def test_only_the_frames_of_the_challenge_count() -> None:
    # A turn before the challenge was issued, or after its deadline, answers nothing.
    before = frames([30, 35, 30], start=-3.0)
    after = frames([30, 35], start=8.5)
    during = frames([0, 1, 0, 1, 0, 1, 0, 1])
    result = judge(LEFT, before + during + after, CONFIG)
    assert (result.outcome, result.finding) == (Outcome.INCONCLUSIVE, Finding.NO_RESPONSE)


@pytest.fixture(scope="module")
def reader() -> Iterator[PoseReader]:
    found = PoseReader()
    yield found
    found.close()


def photo(name: str) -> npt.NDArray[np.uint8]:
    rgb = cv2.cvtColor(cv2.imread(str(IMAGES / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    return np.asarray(rgb, dtype=np.uint8)  # already uint8: the same array, typed


def test_the_pose_reader_measures_a_real_face_and_nothing_on_an_empty_room(
    reader: PoseReader,
) -> None:
    # A face turned to the person's left (labelled by hand above), and its mirror image:
    # the sign of the yaw follows the face, the width does not.
    turned = photo("cc0_iface_043")
    pose, mirrored = reader.read(turned), reader.read(np.ascontiguousarray(turned[:, ::-1]))
    assert pose is not None and mirrored is not None
    assert pose.yaw_deg > 30 and mirrored.yaw_deg < -30
    assert mirrored.width == pytest.approx(pose.width, rel=0.1)
    # Hand-labelled face height 0.55 of the (square) photo: cheek to cheek is most of it.
    assert 0.3 < pose.width < 0.7
    assert reader.read(photo("pd18f_166_quiet_car")) is None  # an empty office lounge


def test_the_pose_reader_takes_the_largest_face(reader: PoseReader) -> None:
    # The same face twice side by side, once at 0.7 of its size, on either side: the
    # pose is the big one's; alone on the canvas the small one is measured too.
    face = photo("cc0_iface_095")
    h, w = face.shape[:2]
    sw, sh = int(w * 0.7), int(h * 0.7)
    small = cv2.resize(face, (sw, sh), interpolation=cv2.INTER_AREA)
    top = (h - sh) // 2
    canvas = np.full((h, w + sw, 3), 128, dtype=np.uint8)
    canvas[top : top + sh, w:] = small
    only_small = reader.read(canvas)
    canvas[:, :w] = face
    both, mirrored = reader.read(canvas), reader.read(np.ascontiguousarray(canvas[:, ::-1]))
    alone = reader.read(face)
    assert only_small is not None and both is not None and mirrored is not None
    assert alone is not None
    assert only_small.width == pytest.approx(0.7 * both.width, rel=0.1)
    assert both.width * (w + sw) == pytest.approx(alone.width * w, rel=0.1)
    assert mirrored.width == pytest.approx(both.width, rel=0.1)


def test_a_turn_that_only_shows_while_the_face_narrows_is_a_flat_picture() -> None:
    # A head keeps its width as it turns; a photo turned in the hand narrows with it.
    # (Recorded from the `print` and `turn_right` clips, every other frame.)
    right = Challenge(Action.TURN_RIGHT, "n", 0.0, 8.0)
    yaws: list[float | None] = [0, 0, -1, -10, -21, -24, -22, -15, -5, 0]
    printed = [0.667, 0.666, 0.667, 0.611, 0.499, 0.486, 0.458, 0.545, 0.656, 0.668]
    head = [0.663, 0.668, 0.669, 0.661, 0.642, 0.644, 0.638, 0.644, 0.658, 0.667]
    flat = judge(right, frames(yaws, widths=printed), CONFIG)
    assert (flat.outcome, flat.finding) == (Outcome.INCONCLUSIVE, Finding.FLAT)
    assert flat.change == pytest.approx(24)
    turned = judge(right, frames(yaws, widths=head), CONFIG)
    assert (turned.outcome, turned.finding) == (Outcome.PASSED, Finding.ANSWERED)
