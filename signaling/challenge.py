"""A call's liveness challenges (``vision.liveness``): one open at a time, a few per call.

The server issues a challenge (the supervisor asks, or the policy's automatic one at a
random moment), both pages are told, and the staff page sends its stills faster until
the deadline. Every still that arrives meanwhile is measured in an analysis thread
(``signaling.analysis``) into an ``Observation``; ``judge`` decides at the deadline,
or as soon as the observations already answer it. The result goes to both pages, into
the ``liveness`` criterion (``signaling.verdict``) and into the record.

Pure: time and randomness are passed in; the session (``signaling.session``) runs the
timers. Only the result is kept: a ``HeadPose`` is three numbers measured from the
landmarks, which never leave the analysis thread, and the poses are dropped with the
challenge.

No false accusation, as in ``vision.liveness``: a challenge the staff page went away
from is INCONCLUSIVE ``page_away``, whatever arrived before it left, and one the call
ended before its deadline is ``cut_short`` unless it had passed; a call whose
policy asks for a challenge but had none completed is INCONCLUSIVE ``not_run``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from typing import Any

from signaling.rooms import RoomError
from vision import liveness
from vision.liveness import Challenge, LivenessConfig, LivenessResult, Observation, Outcome, judge

MAX_PER_CALL = 3
"""Challenges one call may have: enough to ask again after an unclear answer, too few
to turn the call into an exercise."""
RATE_PER_S, BURST = 5.0, 6.0
"""The still rate per call while a challenge is open: the page sends 4 a second until
the deadline (``signaling.stills`` allows 2 otherwise)."""
AUTO_AFTER_S = (5.0, 20.0)
"""When the policy asks, the automatic challenge comes this many seconds after the
answer, chosen at random: after the first verdict (about 3.5 s), at a moment nobody
can prepare a recording for."""
MEASURE_GRACE_S = 0.5
"""A still that arrived by the deadline may still be in an analysis thread: the
challenge is judged this long after its deadline."""
MAX_MEASURING = 2
"""Stills of one call measured at once; a still beyond is not measured (fewer frames,
never a wrong one)."""
PAGE_AWAY = "page_away"
"""A finding of the call's own, beside ``vision.liveness.Finding``: the staff page went
away during the challenge."""
CUT_SHORT = "cut_short"
"""Likewise: the call ended before the challenge's deadline, and it had not passed."""
NOT_RUN = "not_run"
"""The criterion's finding when the policy asked for a challenge and none completed."""

DEFAULT_LIVENESS = LivenessConfig()


def _model(config: LivenessConfig) -> str:
    """What judged the challenge, as the record names it: the landmark model (mediapipe's
    FaceMesh with irises, ``vision.pose_reader``) and a digest of the thresholds."""
    fields = json.dumps(asdict(config), sort_keys=True, default=str).encode()
    digest = hashlib.sha256(fields).hexdigest()[:8]
    return f"mediapipe-{version('mediapipe')}-facemesh-refined/liveness-1.{digest}"


MODEL = _model(DEFAULT_LIVENESS)


def auto_delay(rng: random.Random) -> float:
    """Seconds after the answer for the policy's automatic challenge."""
    return rng.uniform(*AUTO_AFTER_S)


@dataclass(frozen=True)
class ChallengeRecord:
    """One finished challenge as the pages, the verdict and the record carry it: times
    are seconds into the call (from the answer), never landmarks or poses."""

    action: str
    nonce: str
    issued_s: float
    deadline_s: float
    outcome: Outcome
    finding: str
    frames: int
    """Frames with a measured face between the challenge and its deadline."""
    change: float | None
    """The largest change the asked way (degrees, or the width ratio of ``move_closer``)."""
    model: str

    @classmethod
    def of(cls, result: LivenessResult, model: str) -> ChallengeRecord:
        challenge = result.challenge
        change = None if result.change is None else round(result.change, 3)
        return cls(
            str(challenge.action),
            challenge.nonce,
            round(challenge.issued_at, 2),
            round(challenge.deadline, 2),
            result.outcome,
            str(result.finding),
            result.frames,
            change,
            model,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "nonce": self.nonce,
            "issued_s": self.issued_s,
            "deadline_s": self.deadline_s,
            "outcome": self.outcome.value,
            "finding": self.finding,
            "frames": self.frames,
            "change": self.change,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChallengeRecord:
        return cls(
            data["action"],
            data["nonce"],
            data["issued_s"],
            data["deadline_s"],
            Outcome(data["outcome"]),
            data["finding"],
            data["frames"],
            data["change"],
            data["model"],
        )


@dataclass
class CallChallenges:
    """The challenges of one call, on the event loop: the open one and its observations,
    and the results so far."""

    rng: random.Random
    config: LivenessConfig = DEFAULT_LIVENESS
    model: str = MODEL
    open: Challenge | None = None
    results: list[ChallengeRecord] = field(default_factory=list)
    issued: int = 0
    _observations: list[Observation] = field(default_factory=list)

    def issue(self, now: float) -> Challenge:
        """A new challenge at ``now`` (seconds into the call); ``RoomError`` when one is
        open or the call has had its ``MAX_PER_CALL``."""
        if self.open is not None:
            raise RoomError("challenge_open", "a liveness challenge is under way")
        if self.issued >= MAX_PER_CALL:
            raise RoomError("challenge_limit", f"at most {MAX_PER_CALL} challenges per call")
        self.open = liveness.issue(self.rng, now, self.config)
        self.issued += 1
        self._observations = []
        return self.open

    def observe(self, nonce: str, observation: Observation) -> ChallengeRecord | None:
        """One measured still of challenge ``nonce``; the result when it already passes
        (it is then closed), else None. A measurement of a challenge closed meanwhile is
        dropped."""
        if self.open is None or self.open.nonce != nonce:
            return None
        self._observations.append(observation)
        result = judge(self.open, self._observations, self.config)
        return self._close(result) if result.outcome is Outcome.PASSED else None

    def close(self, now: float) -> ChallengeRecord | None:
        """Judge the open challenge on what was measured, at its deadline; None when
        none is open. Closed before it (the call ended) only a pass counts: a second of
        identical stills is not the challenge's whole time, so anything else is
        INCONCLUSIVE ``cut_short``."""
        if self.open is None:
            return None
        result = judge(self.open, self._observations, self.config)
        if now < self.open.deadline and result.outcome is not Outcome.PASSED:
            return self._inconclusive(result, CUT_SHORT)
        return self._close(result)

    def abandon(self) -> ChallengeRecord | None:
        """The staff page went away during the open challenge: INCONCLUSIVE
        ``page_away``, whatever arrived before (no accusation from a dropped network)."""
        if self.open is None:
            return None
        return self._inconclusive(judge(self.open, self._observations, self.config), PAGE_AWAY)

    def _inconclusive(self, result: LivenessResult, finding: str) -> ChallengeRecord:
        record = ChallengeRecord.of(replace(result, outcome=Outcome.INCONCLUSIVE), self.model)
        return self._keep(replace(record, finding=finding))

    def _close(self, result: LivenessResult) -> ChallengeRecord:
        return self._keep(ChallengeRecord.of(result, self.model))

    def _keep(self, record: ChallengeRecord) -> ChallengeRecord:
        self.results.append(record)
        self.open, self._observations = None, []
        return record
