"""Every fixture clip gets the right verdict and reason codes (end to end from the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vision_fixtures import judge
from vision.analyzer import FrameAnalyzer
from vision.verdict import Reason

# name, policy, overall, face, camera, uniform, reasons that must be present
CASES = [
    ("live", "solid:orange", "pass", "pass", "pass", "pass", set()),
    ("live", "solid", "pass", "pass", "pass", "pass", set()),
    ("live", "solid:khaki", "fail", "pass", "pass", "fail", {"wrong_uniform_colour"}),
    ("khaki", "solid:khaki", "pass", "pass", "pass", "pass", set()),
    ("khaki", "solid:#C3B091", "pass", "pass", "pass", "pass", set()),
    ("khaki", "solid:orange", "fail", "pass", "pass", "fail", {"wrong_uniform_colour"}),
    ("white", "solid:white", "pass", "pass", "pass", "pass", set()),
    ("white", "solid:khaki", "fail", "pass", "pass", "fail", {"wrong_uniform_colour"}),
    ("white", "solid:khaki,white", "pass", "pass", "pass", "pass", set()),
    ("patterned", "solid:khaki", "fail", "pass", "pass", "fail", {"not_uniform_colour"}),
    ("patterned", "solid", "fail", "pass", "pass", "fail", {"not_uniform_colour"}),
    ("patterned", "patterned", "pass", "pass", "pass", "pass", set()),
    ("patterned", "any", "pass", "pass", "pass", "pass", set()),
    ("black", "any", "fail", "inconclusive", "fail", "inconclusive", {"camera_black"}),
    ("covered", "any", "fail", "inconclusive", "fail", "inconclusive", {"camera_covered"}),
    ("frozen", "any", "fail", "inconclusive", "fail", "inconclusive", {"camera_frozen"}),
    ("no_person", "any", "fail", "fail", "pass", "inconclusive", {"no_face"}),
    (
        "live_then_covered",
        "any",
        "fail",
        "inconclusive",
        "fail",
        "inconclusive",
        {"camera_covered", "too_few_samples"},
    ),
    (
        "two_faces",
        "any",
        "inconclusive",
        "inconclusive",
        "pass",
        "inconclusive",
        {"multiple_faces"},
    ),
    (
        "small_face",
        "any",
        "inconclusive",
        "inconclusive",
        "pass",
        "inconclusive",
        {"face_too_small"},
    ),
    (
        "low_light",
        "any",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        {"low_light"},
    ),
    (
        "no_torso",
        "solid:khaki",
        "inconclusive",
        "pass",
        "pass",
        "inconclusive",
        {"torso_not_visible"},
    ),
    (
        "short",
        "any",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        {"too_few_samples"},
    ),
    ("still.png", "solid:orange", "inconclusive", "pass", "inconclusive", "pass", {"single_image"}),
    (
        "live.webm",
        "solid:orange",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        {"too_few_samples"},
    ),
    (
        "live.mp4",
        "solid:orange",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        "inconclusive",
        {"too_few_samples"},
    ),
]


@pytest.mark.parametrize(
    ("name", "policy", "overall", "face", "camera", "uniform", "reasons"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_fixture_verdict(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
    name: str,
    policy: str,
    overall: str,
    face: str,
    camera: str,
    uniform: str,
    reasons: set[str],
) -> None:
    v = judge(analyzer, media[name], policy)
    got = (v.verdict.value, v.face.verdict.value, v.camera.verdict.value, v.uniform.verdict.value)
    assert got == (overall, face, camera, uniform), v.to_dict()["reasons"]
    assert reasons <= {r.value for r in v.reasons}
    if overall == "pass":
        assert v.reasons == ()
    # Never FAIL on low light or too little evidence.
    for crit in (v.face, v.camera, v.uniform):
        if crit.verdict.value == "fail":
            assert not {Reason.LOW_LIGHT, Reason.TOO_FEW_SAMPLES} & set(crit.reasons)


def test_every_reason_code_is_covered() -> None:
    seen = set().union(*(c[6] for c in CASES)) | {"colour_uncertain"}  # unit-tested
    assert {r.value for r in Reason} <= seen


def test_uniform_reports_colour_seen(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
) -> None:
    d = judge(analyzer, media["khaki"], "solid:khaki").to_dict()
    colour = d["criteria"]["uniform"]["colour"]
    assert colour["name"] == "khaki" and colour["hex"].startswith("#")
    assert d["criteria"]["uniform"]["scores"]["min_delta_e"] <= 10


def test_small_face_found_by_full_range(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
) -> None:
    d = judge(analyzer, media["small_face"]).to_dict()
    assert all(s["face"]["model"] == "full" for s in d["samples"])


def test_live_then_covered_evidence_times(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
) -> None:
    v = judge(analyzer, media["live_then_covered"])
    assert v.camera.evidence["camera_covered"] == (3.0, 4.0, 5.0, 6.0, 7.0)
