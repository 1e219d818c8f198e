"""Every fixture clip gets the right verdict and reason codes (end to end from the file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vision_fixtures import CASES, Case, assert_case, judge
from vision.analyzer import FrameAnalyzer
from vision.verdict import Reason, Verdict


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture_verdict(media: dict[str, Path], analyzer: FrameAnalyzer, case: Case) -> None:
    v = judge(analyzer, media[case.name], case.policy)
    assert_case(v.to_dict(), case)
    # Never FAIL on low light or too little evidence: a record can lead to a sanction.
    for crit in (v.face, v.camera, v.uniform):
        if crit.verdict is Verdict.FAIL:
            assert not {Reason.LOW_LIGHT, Reason.TOO_FEW_SAMPLES} & set(crit.reasons)


def test_every_reason_code_comes_from_a_fixture() -> None:
    """``server_busy`` is the server's, not a picture's: tests/test_overload.py shows it;
    the identity codes come from a match with an enrolled face: tests/test_identity.py."""
    identity = {Reason.IDENTITY_MISMATCH, Reason.IDENTITY_UNCERTAIN, Reason.NOT_ENROLLED}
    from_pictures = {r.value for r in Reason} - {Reason.SERVER_BUSY.value} - identity
    assert from_pictures == {r for c in CASES for r in c.reasons}


def test_uniform_reports_colour_seen(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
) -> None:
    d = judge(analyzer, media["khaki"], "solid:khaki").to_dict()
    colour = d["criteria"]["uniform"]["colour"]
    assert colour["name"] == "khaki" and colour["hex"].startswith("#")
    assert d["criteria"]["uniform"]["scores"]["colour_distance"] == {"khaki": 0.0}


def test_small_face_found_by_full_range(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
) -> None:
    d = judge(analyzer, media["small_face"]).to_dict()
    found = [s["face"] for s in d["samples"] if s["face"]["status"] != "none"]
    assert len(found) >= 4 and all(f["model"] == "full" for f in found)


def test_live_then_covered_evidence_times(
    media: dict[str, Path],
    analyzer: FrameAnalyzer,
) -> None:
    v = judge(analyzer, media["live_then_covered"])
    assert v.camera.evidence["camera_covered"] == (3.0, 4.0, 5.0, 6.0, 7.0)
