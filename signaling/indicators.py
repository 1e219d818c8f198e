"""The four indicators a call shows (face, camera, uniform, location) and its verdict.

Pure: the vision verdict so far, the camera timeline and the location result in;
``{"state", "reason"}`` per indicator out, where state is pending, pass, fail or
inconclusive and reason a short code the pages translate. While the call runs a
criterion short of samples is *pending*; once it has ended, it is *inconclusive*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signaling.location import LocationResult

PENDING, PASS, FAIL, INCONCLUSIVE = "pending", "pass", "fail", "inconclusive"
NAMES = ("face", "camera", "uniform", "location")
_OK_REASON = {"face": "face_ok", "camera": "camera_ok", "uniform": "uniform_ok"}


@dataclass(frozen=True)
class Indicator:
    state: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "reason": self.reason}


def _criterion(name: str, criterion: dict[str, Any] | None, final: bool) -> Indicator:
    if criterion is None:
        return Indicator(INCONCLUSIVE if final else PENDING, "too_few_samples")
    reasons = list(criterion.get("reasons", []))
    state = str(criterion["verdict"])
    if reasons == ["too_few_samples"] and not final:
        return Indicator(PENDING, "too_few_samples")
    return Indicator(state, reasons[0] if reasons else _OK_REASON[name])


def _camera(
    vision: Indicator, off_causes: set[str], on_fraction: float | None, min_on: float, final: bool
) -> Indicator:
    """Vision's judgement of the picture, overruled by the camera being off."""
    if vision.state == FAIL:
        return vision
    if not final and off_causes:
        return Indicator(FAIL, sorted(off_causes)[0])
    if final and on_fraction is not None and on_fraction < min_on:
        # Still off at the end: say why (covered, hidden...), not only that it was off.
        return Indicator(FAIL, sorted(off_causes)[0] if off_causes else "camera_off")
    if final and on_fraction is None:
        return Indicator(FAIL, "no_frames")
    return vision


def _location(result: LocationResult | None, final: bool) -> Indicator:
    if result is None:
        return Indicator(INCONCLUSIVE, "not_sent") if final else Indicator(PENDING, "waiting")
    return Indicator(result.state, result.reason)


def indicators(
    vision: dict[str, Any] | None,
    off_causes: set[str],
    on_fraction: float | None,
    location: LocationResult | None,
    *,
    min_camera_on: float,
    final: bool,
    analysed: bool = True,
) -> dict[str, Indicator]:
    """The indicators from ``CheckVerdict.to_dict()`` (or None before any sample).

    ``analysed`` is False when the server refused the analysis leg (capacity full):
    nothing was watched, so the picture criteria are inconclusive, never failed.
    """
    if not analysed:
        unwatched = Indicator(INCONCLUSIVE, "analysis_unavailable")
        return {
            "face": unwatched,
            "camera": unwatched,
            "uniform": unwatched,
            "location": _location(location, final),
        }
    criteria = vision["criteria"] if vision else {}
    face = _criterion("face", criteria.get("face"), final)
    camera = _criterion("camera", criteria.get("camera"), final)
    uniform = _criterion("uniform", criteria.get("uniform"), final)
    return {
        "face": face,
        "camera": _camera(camera, off_causes, on_fraction, min_camera_on, final),
        "uniform": uniform,
        "location": _location(location, final),
    }


def overall(states: dict[str, Indicator]) -> str:
    """FAIL if any fails, else pending if any is, else INCONCLUSIVE if any is, else PASS."""
    values = [i.state for i in states.values()]
    for state in (FAIL, PENDING, INCONCLUSIVE):
        if state in values:
            return state
    return PASS
