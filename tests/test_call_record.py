"""How a call's end turns into a record's verdict (pure parts of signaling.record)."""

from __future__ import annotations

from typing import Any

from signaling.indicators import indicators
from signaling.location import LocationResult
from signaling.record import call_verdict, record_location

VISION: dict[str, Any] = {
    "verdict": "pass",
    "criteria": {
        "face": {"verdict": "pass", "reasons": [], "scores": {"confidence": 0.95}},
        "camera": {"verdict": "pass", "reasons": [], "scores": {"luma": 120.0}},
        "uniform": {"verdict": "pass", "reasons": [], "scores": {}, "seen": {"name": "orange"}},
    },
    "reasons": [],
    "samples": [{"t": 1.0}] * 6,
    "version": "1+abc",
}
ALL_PASS = {n: {"state": "pass", "reason": f"{n}_ok"} for n in ("face", "camera", "uniform")}


def test_vision_verdict_stands_when_the_call_agrees() -> None:
    out = call_verdict(VISION, {**ALL_PASS, "location": {"state": "pass", "reason": "at_home"}})
    assert out["verdict"] == "pass" and out["reasons"] == []
    assert out["criteria"]["face"]["scores"] == {"confidence": 0.95}
    assert out["version"] == "1+abc" and len(out["samples"]) == 6


def test_camera_off_for_too_long_fails_the_camera_criterion() -> None:
    shown = {**ALL_PASS, "camera": {"state": "fail", "reason": "camera_off"}}
    out = call_verdict(VISION, shown)
    assert out["verdict"] == "fail"
    assert out["criteria"]["camera"]["verdict"] == "fail"
    assert out["criteria"]["camera"]["reasons"] == ["camera_off"]
    assert out["reasons"] == ["camera_off"]
    assert out["criteria"]["uniform"]["seen"] == {"name": "orange"}


def test_no_samples_at_all_is_inconclusive_or_failed_never_passed() -> None:
    shown = {
        "face": {"state": "inconclusive", "reason": "too_few_samples"},
        "camera": {"state": "fail", "reason": "no_frames"},
        "uniform": {"state": "inconclusive", "reason": "too_few_samples"},
    }
    out = call_verdict(None, shown)
    assert out["verdict"] == "fail"
    assert out["reasons"] == ["too_few_samples", "no_frames"]
    shown["camera"] = {"state": "inconclusive", "reason": "too_few_samples"}
    assert call_verdict(None, shown)["verdict"] == "inconclusive"


def test_location_maps_to_the_records_results_without_coordinates() -> None:
    assert record_location(None) is None
    inside = record_location(LocationResult("pass", "at_home", 12.5))
    assert inside is not None and (inside.result, inside.distance_m) == ("inside", 12.5)
    away = record_location(LocationResult("fail", "outside_home", 5000.0))
    assert away is not None and away.result == "outside"
    denied = record_location(LocationResult("inconclusive", "permission_denied"))
    assert denied is not None and (denied.result, denied.reason) == (
        "unavailable",
        "permission_denied",
    )


def test_a_camera_still_off_at_the_end_fails_with_its_cause() -> None:
    vision = {
        "criteria": {n: {"verdict": "pass", "reasons": []} for n in ("face", "camera", "uniform")}
    }
    covered = indicators(vision, {"camera_covered"}, 0.4, None, min_camera_on=0.9, final=True)
    assert (covered["camera"].state, covered["camera"].reason) == ("fail", "camera_covered")
    back_on = indicators(vision, set(), 0.4, None, min_camera_on=0.9, final=True)
    assert (back_on["camera"].state, back_on["camera"].reason) == ("fail", "camera_off")
