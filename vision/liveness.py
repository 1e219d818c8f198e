"""Liveness by challenge and response: the server asks for a movement it chose at random,
and the frames that follow must show it.

A photo held up to the camera or a recorded video cannot know, before the call, which
movement will be asked for or when; a person can do it in a second or two. The server
picks the action and a nonce (``issue``, randomness passed in), the staff page shows
it, and ``judge`` reads the answer from the head poses measured on the frames that
arrived between the challenge and its deadline. Pure: landmarks in, dataclasses out.

No false accusation: FAILED needs positive evidence that no live person is there, and
the only such evidence here is a picture that does not change at all while a face is
in it (a still image cannot move). No answer, an answer the other way, a face lost,
too few frames or a dark picture are INCONCLUSIVE: someone who cannot turn their head
(a disability, a bad network, poor light) is never failed automatically, and the
supervisor, who is in the call, decides. A looping video that does not freeze is
therefore INCONCLUSIVE ``no_response`` unless its loop happens to move the asked way
in the asked seconds (``docs/vision.md``, *Liveness*, has the odds). A photo turned in
the hand reads as a turn, but narrows as it turns, which a head does not: ``flat``.

Directions are the person's own: ``turn_left`` is their left, which on a camera frame
(not the mirrored preview a page shows) is the image's right.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import median
from typing import Any

import numpy as np
import numpy.typing as npt

# FaceMesh landmark indices (the 468-point topology; the 478-point one with irises
# keeps them): the face outline at the cheekbones on the image's left and right, and
# the six points of each eye used by the eye aspect ratio.
OUTLINE_IMAGE_LEFT = 234
OUTLINE_IMAGE_RIGHT = 454
EYES = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))


class Action(StrEnum):
    """What a challenge asks; the value is what the page and the record carry."""

    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    MOVE_CLOSER = "move_closer"


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"


class Finding(StrEnum):
    """Why a challenge ended as it did (one per result)."""

    ANSWERED = "answered"
    FROZEN = "frozen"
    """Every frame with a face was identical to the one before: a still picture."""
    NO_FACE = "no_face"
    TOO_FEW_FRAMES = "too_few_frames"
    NO_BASELINE = "no_baseline"
    """No measured pose from the challenge's first moments to compare with."""
    NO_RESPONSE = "no_response"
    WRONG_DIRECTION = "wrong_direction"
    FLAT = "flat"
    """The face turned the asked way only while it narrowed, as a flat picture turned
    in the hand does; a head keeps its width as it turns."""


@dataclass(frozen=True)
class LivenessConfig:
    """The thresholds of the challenge; ``docs/vision.md`` (*Liveness*) says why."""

    actions: tuple[Action, ...] = (Action.TURN_LEFT, Action.TURN_RIGHT)
    """What a call asks. ``move_closer`` is judged when asked (``hadir analyze``) but
    not drawn: a print brought closer grows as a face does, while a print turned is
    caught narrowing (``flat``)."""
    answer_s: float = 8.0
    """Seconds from the challenge to its deadline: read, understand, move."""
    reaction_s: float = 0.8
    """Frames this soon after the challenge is issued are taken as the starting pose:
    nobody reads and moves faster."""
    min_frames: int = 4
    """Frames with a measured face, between the challenge and its deadline, needed for
    any outcome but INCONCLUSIVE."""
    turn_min_deg: float = 18.0
    """Change of the yaw estimate, the asked way, that answers a turn."""
    closer_min_ratio: float = 1.25
    """Growth of the face's width that answers ``move_closer``."""
    turn_min_width_ratio: float = 0.85
    """A turn is answered only by frames whose face width (3-D, cheek to cheek) is at
    least this share of the starting width. A head keeps its width as it turns (on the
    development set, width over the hand-labelled face height: median 0.79 facing the
    camera, 0.74 at 40-50° of yaw), a flat picture turned narrows with the cosine of
    its angle (a print turned 60°: 0.70 of its width, read as 27° of yaw)."""


@dataclass(frozen=True)
class Challenge:
    action: Action
    nonce: str
    issued_at: float
    deadline: float


def issue(rng: random.Random, now: float, config: LivenessConfig) -> Challenge:
    """A challenge chosen by ``rng`` (a ``random.SystemRandom`` in a call), due by
    ``now + answer_s``."""
    action = rng.choice(config.actions)
    nonce = f"{rng.getrandbits(64):016x}"
    return Challenge(action, nonce, now, now + config.answer_s)


@dataclass(frozen=True)
class HeadPose:
    """The head as one frame shows it."""

    yaw_deg: float
    """Yaw of the line from cheek to cheek (0 facing the camera, positive turned to
    the person's left); its change during a challenge is what counts."""
    width: float
    """Face width, cheek to cheek in 3-D (so a turn does not shrink it), as a share of
    the frame width."""
    eyes_open: float
    """Mean eye aspect ratio of both eyes (about 0.3 open, under 0.15 closed)."""


def head_pose(points: npt.NDArray[np.floating[Any]], frame_w: int, frame_h: int) -> HeadPose | None:
    """The pose from FaceMesh landmarks (an ``(n, 3)`` array as mediapipe gives them: x
    and y normalised to the frame, z to its width), or None for a degenerate outline."""
    xyz = np.asarray(points, dtype=np.float64)[:, :3] * (frame_w, frame_h, frame_w)
    across = xyz[OUTLINE_IMAGE_RIGHT] - xyz[OUTLINE_IMAGE_LEFT]
    width = float(np.linalg.norm(across))
    if width <= 1e-6:
        return None
    # Turned to the person's left, the cheek on the image's right goes away from the
    # camera (mediapipe's z grows with distance): the cheek-to-cheek line's angle in
    # the x-z plane is the yaw.
    yaw = math.degrees(math.atan2(across[2], across[0]))
    return HeadPose(yaw, width / frame_w, _eyes_open(xyz[:, :2]))


def _eyes_open(xy: npt.NDArray[np.float64]) -> float:
    ratios = []
    for p1, p2, p3, p4, p5, p6 in EYES:
        across = float(np.linalg.norm(xy[p1] - xy[p4]))
        if across <= 1e-9:
            continue
        up = float(np.linalg.norm(xy[p2] - xy[p6]) + np.linalg.norm(xy[p3] - xy[p5]))
        ratios.append(up / (2 * across))
    return sum(ratios) / len(ratios) if ratios else 0.0


@dataclass(frozen=True)
class Observation:
    """One analysed frame during a challenge."""

    t: float
    pose: HeadPose | None
    """None when no face was measured on the frame."""
    frozen: bool = False
    """The frame repeats the previous one exactly (``vision.challenge_frames``; in a
    call, a still's JPEG byte for byte): a live sensor's noise never does."""


@dataclass(frozen=True)
class LivenessResult:
    challenge: Challenge
    outcome: Outcome
    finding: Finding
    frames: int
    """Frames with a measured face between the challenge and its deadline."""
    change: float | None = None
    """The largest change the asked way: degrees of yaw for a turn, the width ratio
    for ``move_closer``; None without a starting pose."""


def judge(
    challenge: Challenge, observations: Sequence[Observation], config: LivenessConfig
) -> LivenessResult:
    """The challenge's outcome from the frames of its time (others are ignored)."""
    within = [o for o in observations if challenge.issued_at <= o.t <= challenge.deadline]
    seen = [(o.t, o.pose, o.frozen) for o in within if o.pose is not None]

    def result(outcome: Outcome, finding: Finding, change: float | None = None) -> LivenessResult:
        return LivenessResult(challenge, outcome, finding, len(seen), change)

    if not seen:
        return result(Outcome.INCONCLUSIVE, Finding.NO_FACE if within else Finding.TOO_FEW_FRAMES)
    if len(seen) >= config.min_frames and all(frozen for _, _, frozen in seen[1:]):
        return result(Outcome.FAILED, Finding.FROZEN)
    start = [pose for t, pose, _ in seen if t <= challenge.issued_at + config.reaction_s]
    if not start:
        return result(Outcome.INCONCLUSIVE, Finding.NO_BASELINE)
    needed = (
        config.closer_min_ratio if challenge.action is Action.MOVE_CLOSER else config.turn_min_deg
    )
    poses = [pose for _, pose, _ in seen]
    change, opposite = _change(challenge.action, start, poses)
    if change >= needed:
        if challenge.action is not Action.MOVE_CLOSER:
            # The turn must show on frames where the face kept its width.
            narrowest = config.turn_min_width_ratio * median(p.width for p in start)
            kept = [p for p in poses if p.width >= narrowest]
            if _change(challenge.action, start, kept)[0] < needed:
                return result(Outcome.INCONCLUSIVE, Finding.FLAT, change)
        return result(Outcome.PASSED, Finding.ANSWERED, change)
    if len(seen) < config.min_frames:
        return result(Outcome.INCONCLUSIVE, Finding.TOO_FEW_FRAMES, change)
    if opposite >= needed:
        return result(Outcome.INCONCLUSIVE, Finding.WRONG_DIRECTION, change)
    return result(Outcome.INCONCLUSIVE, Finding.NO_RESPONSE, change)


def _change(
    action: Action, start: Sequence[HeadPose], poses: Sequence[HeadPose]
) -> tuple[float, float]:
    """The largest change the asked way from the starting pose, and the largest the
    opposite way (a ratio for ``move_closer``, degrees for a turn)."""
    if action is Action.MOVE_CLOSER:
        base = median(p.width for p in start)
        return max(p.width for p in poses) / base, base / min(p.width for p in poses)
    base = median(p.yaw_deg for p in start)
    sign = 1.0 if action is Action.TURN_LEFT else -1.0
    deltas = [sign * (p.yaw_deg - base) for p in poses]
    return max(deltas), -min(deltas)
