"""A live call's evidence as saved on its ``calls`` row every few seconds.

A process that dies (``kill -9``, power, OOM) takes its calls' evidence with it. So
while a call lives its hub saves a compact summary: the live verdict (each criterion
with its scores, which count the samples it was judged on; the camera-on share; the
location result and distance, never coordinates; the uniform colour seen), the number
of samples, the camera's off periods and the seconds since the answer. A later sweep
turns the summary of a call whose process is gone into an INCONCLUSIVE ``interrupted``
record (``service.checks.sweep``): what was seen, and no accusation from the crash.
Pure: JSON in and out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from signaling.camera_watch import OffPeriod
from signaling.verdict import CallVerdict, CameraTimeline, judge

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class CallSnapshot:
    verdict: CallVerdict
    """The live verdict when saved (a criterion short of evidence is pending, not failed)."""
    elapsed_s: float
    """Seconds from the answer to the save."""
    samples: int
    off_periods: tuple[OffPeriod, ...] = ()

    @classmethod
    def nothing_seen(cls) -> CallSnapshot:
        """A call lost before any summary was saved (ringing, or just answered)."""
        verdict = judge(None, CameraTimeline(None), None, min_camera_on=1.0, final=False)
        return cls(verdict, 0.0, 0)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": SNAPSHOT_VERSION,
                "verdict": self.verdict.to_dict(),
                "elapsed_s": round(self.elapsed_s, 1),
                "samples": self.samples,
                "off_periods": [p.to_dict() for p in self.off_periods],
            },
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CallSnapshot:
        data: Mapping[str, Any] = json.loads(text)
        if data.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown call snapshot version {data.get('v')!r}")
        return cls(
            CallVerdict.from_dict(data["verdict"]),
            data["elapsed_s"],
            data["samples"],
            tuple(OffPeriod(p["start"], p["end"], tuple(p["causes"])) for p in data["off_periods"]),
        )

    def interrupted(self) -> CallVerdict:
        """The verdict of the call, cut short by the server: what was seen, INCONCLUSIVE."""
        return replace(self.verdict, interrupted=True)
