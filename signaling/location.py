"""The location check: distance to the registered home against a radius.

Pure. Only the distance and the result leave this module; the coordinates the
phone sent are dropped by the caller as soon as the distance is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vision.verdict import Verdict

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class LocationResult:
    """``state`` is the verdict on the location; ``reason`` a short code for people."""

    state: Verdict
    reason: str
    distance_m: float | None = None

    def to_dict(self) -> dict[str, object]:
        distance = None if self.distance_m is None else round(self.distance_m, 1)
        return {"result": self.state.value, "reason": self.reason, "distance_m": distance}


def judge_position(
    lat: float,
    lon: float,
    accuracy_m: float,
    home: tuple[float, float] | None,
    radius_m: float,
) -> LocationResult:
    """Pass inside the radius, fail outside it; a fix too coarse to tell is inconclusive."""
    if home is None:
        return LocationResult(Verdict.INCONCLUSIVE, "no_home")
    distance = haversine_m(lat, lon, home[0], home[1])
    if distance <= radius_m:
        return LocationResult(Verdict.PASS, "at_home", distance)
    if distance - accuracy_m > radius_m:
        return LocationResult(Verdict.FAIL, "outside_home", distance)
    # Outside, but the phone's own error circle reaches home: a human decides.
    return LocationResult(Verdict.INCONCLUSIVE, "inaccurate", distance)


def judge_error(error: str) -> LocationResult:
    """The phone gave no position: ``permission_denied`` or ``location_unavailable``."""
    reason = "permission_denied" if error == "denied" else "location_unavailable"
    return LocationResult(Verdict.INCONCLUSIVE, reason)
