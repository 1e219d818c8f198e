"""The liveness challenge judged on video made from real photographs, through
``hadir analyze --challenge`` (``fixtures.liveness_clips``): a picture fed in fails, a
motionless scene before a live camera does not, a looped recording and a photo turned
in the hand do not pass, a head turn passes the way it turns and no other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.liveness_clips import CLIPS, build_liveness_clip
from service import cli


@pytest.fixture(scope="module")
def clips() -> dict[str, Path]:
    return {clip: build_liveness_clip(clip) for clip in CLIPS}


def analyze(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli.main(["analyze", *argv, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


@pytest.mark.parametrize(
    ("clip", "challenge", "outcome", "finding"),
    [
        ("still", "turn_left", "failed", "frozen"),
        ("still", "move_closer@0", "failed", "frozen"),
        # Motionless, but a live sensor's noise on every still: no proof of a picture.
        ("held", "turn_left", "inconclusive", "no_response"),
        ("looped", "turn_left", "inconclusive", "no_response"),
        ("looped", "turn_right@3.5", "inconclusive", "no_response"),
        ("turn_left", "turn_left", "passed", "answered"),
        ("turn_left", "turn_right", "inconclusive", "wrong_direction"),
        ("turn_left", "move_closer", "inconclusive", "no_response"),
        ("turn_right", "turn_right@2", "passed", "answered"),
        ("turn_right", "turn_left", "inconclusive", "wrong_direction"),
        # Asked while the head is already turned: the turn it came from answers nothing.
        ("turn_left", "turn_left@5", "inconclusive", "wrong_direction"),
        # A photo turned in the hand reads as a turn, but narrows as it turns.
        ("print", "turn_right", "inconclusive", "flat"),
        ("print", "turn_left", "inconclusive", "wrong_direction"),
    ],
)
def test_a_challenge_on_a_clip_made_from_a_real_photo(
    clips: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    clip: str,
    challenge: str,
    outcome: str,
    finding: str,
) -> None:
    result = analyze(capsys, str(clips[clip]), "--challenge", challenge)
    [live] = result["challenges"]
    action, _, at = challenge.partition("@")
    issued = float(at or 2)
    assert (live["action"], live["issued_s"]) == (action, issued)
    assert (live["outcome"], live["finding"]) == (outcome, finding)
    # The call's criterion and fold: FAIL only on a failed challenge.
    criterion = result["criteria"]["liveness"]
    verdict = {"passed": "pass", "failed": "fail", "inconclusive": "inconclusive"}[outcome]
    assert criterion["verdict"] == verdict and criterion["scores"]["finding"] == finding
    failed = [name for name, c in result["criteria"].items() if c["verdict"] == "fail"]
    assert (result["verdict"] == "fail") == bool(failed)
    assert ("liveness" in failed) == (outcome == "failed")
    # Every frame of the 8 s window, not the 1 Hz samples: the clip's 40 stills, 4 a second.
    assert live["frames"] == sum(1 for i in range(40) if issued <= i / 4 <= issued + 8)
    if finding == "frozen":
        assert live["change"] is None
    elif finding in ("answered", "flat"):
        # The synthetic turn reads as about 25° of yaw, the print turned 60° as 27°:
        # both well past the 18° asked for.
        assert live["change"] > 20
    elif action.startswith("turn"):
        assert live["change"] < 8  # the other way, the turn clips move by their sway alone
    else:
        assert live["change"] < (1.1 if action == "move_closer" else 8)


def test_without_a_challenge_there_is_no_liveness_criterion_and_text_shows_it(
    clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    plain = analyze(capsys, str(clips["turn_left"]))
    assert "liveness" not in plain["criteria"] and "challenges" not in plain
    assert cli.main(["analyze", str(clips["still"]), "--challenge", "turn_right@1.5"]) == 0
    text = capsys.readouterr().out
    assert "  liveness fail         liveness_failed" in text
    assert "challenge failed frozen  (turn_right at 1.5 s: 33 frames" in text


def test_a_single_image_cannot_answer_a_challenge(capsys: pytest.CaptureFixture[str]) -> None:
    image = Path(__file__).parents[1] / "fixtures" / "real" / "images" / "cc0_iface_087.jpg"
    [live] = analyze(capsys, str(image), "--challenge", "turn_left@0")["challenges"]
    assert (live["outcome"], live["finding"], live["frames"]) == (
        "inconclusive",
        "too_few_frames",
        1,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("blink", "unknown action 'blink' (one of turn_left, turn_right, move_closer)"),
        ("@2", "unknown action ''"),
        ("turn_left@", "'' is not a time in seconds"),
        ("turn_left@soon", "'soon' is not a time in seconds"),
        ("turn_left@-1", "'-1' is not a time in seconds"),
        ("turn_left@nan", "'nan' is not a time in seconds"),
        ("turn_left@inf", "'inf' is not a time in seconds"),
    ],
)
def test_a_bad_challenge_is_a_usage_error(
    clips: dict[str, Path], capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    assert cli.main(["analyze", str(clips["still"]), "--challenge", value]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("hadir: --challenge: ") and message in captured.err
