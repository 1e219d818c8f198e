"""The call's verdict: vision's criteria, the camera timeline and the location, folded once.

Pure. ``judge`` is the one place the rules live: the status sent every second and the
record written when the call ends both come from it, so neither can say what the other
would not. A live verdict differs from a final one only where evidence is still to
come: a criterion short of samples, a location not sent yet, or a camera off right
now (while the share on is still enough) is *pending*; once the call has ended, the
same inputs give what the record says. JSON is made only where the verdict leaves the
process (``status_fields`` for the pages, ``service.records`` for the record), and
where a live call's evidence is saved (``to_dict`` and ``from_dict``, see
``signaling.snapshot``).

Criteria the organisation's policy turns on (``identity``, the face against the
enrolled one; ``liveness``, the challenges, present too once the supervisor asked for
one) are optional fields: absent from the verdict, its indicators and the record when
not used, so calls without them read exactly as before.

A call the server lost before it ended (a crash, a restart) is ``interrupted``: its
criteria stay as they were seen, but the call is INCONCLUSIVE with the reason
``interrupted`` first, whatever they say; a supervisor decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from signaling.camera_watch import NO_FRAMES
from signaling.challenge import NOT_RUN, ChallengeRecord
from signaling.location import LocationResult
from vision.identity import CallIdentity, judge_identity
from vision.liveness import Outcome
from vision.verdict import CheckVerdict, CriterionVerdict, Reason, Verdict, combine

PENDING = "pending"
NAMES = ("face", "camera", "uniform", "location")
OPTIONAL = ("identity", "liveness")
"""Criteria present only when the policy asks for them, after ``NAMES``."""
CAMERA_OFF = "camera_off"
ANALYSIS_UNAVAILABLE = "analysis_unavailable"
TOO_FEW_SAMPLES = str(Reason.TOO_FEW_SAMPLES)
SERVER_BUSY = str(Reason.SERVER_BUSY)
INTERRUPTED = "interrupted"
NOT_ENROLLED = str(Reason.NOT_ENROLLED)
LIVENESS_FAILED, LIVENESS_INCONCLUSIVE = "liveness_failed", "liveness_inconclusive"


@dataclass(frozen=True)
class Criterion:
    """One criterion as the call judged it.

    ``verdict`` is what it is now; ``pending`` marks a live criterion still short of
    evidence (its verdict is then what the record would say if the call ended now).
    """

    verdict: Verdict
    reasons: tuple[str, ...] = ()
    """Reason codes, the leading one first; none on a pass unless pending (then what
    it waits on)."""
    ok: str = ""
    """The code a page shows when it passes (``face_ok``, ``at_home``)."""
    pending: bool = False
    scores: Mapping[str, Any] = field(default_factory=dict)
    """Vision's scores for this criterion (empty for location and unwatched criteria)."""

    @property
    def state(self) -> str:
        """``pending``, or the verdict's value."""
        return PENDING if self.pending else self.verdict.value

    @property
    def reason(self) -> str:
        return self.reasons[0] if self.reasons else self.ok

    def indicator(self) -> dict[str, str]:
        return {"state": self.state, "reason": self.reason}

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "ok": self.ok,
            "pending": self.pending,
            "scores": _finite(self.scores),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Criterion:
        return cls(
            Verdict(data["verdict"]),
            tuple(data["reasons"]),
            data["ok"],
            data["pending"],
            data["scores"],
        )


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as None: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class CameraTimeline:
    """What the camera watch says at one moment of the call."""

    on_fraction: float | None
    """Share of the measured period with the camera on; None before it starts."""
    off_causes: frozenset[str] = frozenset()
    """Why the camera is off right now (empty while it is on)."""
    shown_on: float | None = None
    """The same share with the stretches whose only cause is ``no_frames`` counted as
    on: what the page and the pictures showed of the camera (None: as ``on_fraction``).
    Pictures that do not arrive show nothing: a network, a browser or a busy server
    stops them as well as a camera turned off."""


@dataclass(frozen=True)
class CallVerdict:
    """A call's verdict at one moment: four criteria (and the optional ones the policy
    asks for) and what the record keeps of them."""

    face: Criterion
    camera: Criterion
    uniform: Criterion
    location: Criterion
    camera_on: float | None = None
    """Share of the call the camera was on, to three places (the rules use the exact one)."""
    distance_m: float | None = None
    """Distance to home; the coordinates never get this far."""
    colour_seen: Mapping[str, Any] | None = None
    """The uniform's colour as vision saw it (``name``, ``hex``, ``lab``)."""
    version: str | None = None
    """The vision thresholds' version; None when no sample was judged."""
    interrupted: bool = False
    """The server lost the call before it ended: INCONCLUSIVE, whatever the criteria say."""
    identity: Criterion | None = None
    """The face against the staff member's enrolled one; None when not checked."""
    liveness: Criterion | None = None
    """The liveness challenges; None when the policy asks for none and none was run."""
    challenges: tuple[ChallengeRecord, ...] = ()
    """The finished challenges, as the record carries them."""

    @property
    def criteria(self) -> dict[str, Criterion]:
        """Every criterion judged, optional ones only when present."""
        optional = {name: getattr(self, name) for name in OPTIONAL}
        return {
            "face": self.face,
            "camera": self.camera,
            "uniform": self.uniform,
            "location": self.location,
            **{name: c for name, c in optional.items() if c is not None},
        }

    @property
    def verdict(self) -> Verdict:
        """What the record would say now: FAIL, else INCONCLUSIVE, else PASS (and
        INCONCLUSIVE for an interrupted call, whatever its criteria)."""
        if self.interrupted:
            return Verdict.INCONCLUSIVE
        return combine(c.verdict for c in self.criteria.values())

    @property
    def state(self) -> str:
        """The live verdict: a failure shows at once, otherwise pending until decided."""
        verdict = self.verdict
        if verdict is not Verdict.FAIL and any(c.pending for c in self.criteria.values()):
            return PENDING
        return verdict.value

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons of every criterion that did not pass, once each, in order."""
        found = (
            r for c in self.criteria.values() if c.verdict is not Verdict.PASS for r in c.reasons
        )
        first = (INTERRUPTED,) if self.interrupted else ()
        return tuple(dict.fromkeys((*first, *found)))

    def status_fields(self) -> dict[str, Any]:
        """What the ``status`` and ``ended`` messages say of the verdict."""
        return {
            "camera_on": self.camera_on,
            "indicators": {name: c.indicator() for name, c in self.criteria.items()},
            "verdict": self.state,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole verdict as JSON, read back by ``from_dict``."""
        return {
            **{name: c.to_dict() for name, c in self.criteria.items()},
            "camera_on": self.camera_on,
            "distance_m": self.distance_m,
            "colour_seen": _finite(self.colour_seen),
            "version": self.version,
            "interrupted": self.interrupted,
            **({"challenges": [c.to_dict() for c in self.challenges]} if self.challenges else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallVerdict:
        # Optional criteria are absent when not used (and before they existed).
        identity, liveness = data.get("identity"), data.get("liveness")
        return cls(
            face=Criterion.from_dict(data["face"]),
            camera=Criterion.from_dict(data["camera"]),
            uniform=Criterion.from_dict(data["uniform"]),
            location=Criterion.from_dict(data["location"]),
            identity=None if identity is None else Criterion.from_dict(identity),
            liveness=None if liveness is None else Criterion.from_dict(liveness),
            challenges=tuple(ChallengeRecord.from_dict(c) for c in data.get("challenges", ())),
            camera_on=data["camera_on"],
            distance_m=data["distance_m"],
            colour_seen=data["colour_seen"],
            version=data["version"],
            interrupted=data["interrupted"],
        )


def _vision(name: str, given: CriterionVerdict | None, final: bool) -> Criterion:
    if given is None:
        return Criterion(Verdict.INCONCLUSIVE, (TOO_FEW_SAMPLES,), pending=not final)
    short = given.reasons == (Reason.TOO_FEW_SAMPLES,)
    return Criterion(
        given.verdict,
        tuple(str(r) for r in given.reasons),  # any code vision adds, as it is
        ok=f"{name}_ok",
        pending=short and not final,
        scores=given.scores,
    )


def _busy(criterion: Criterion) -> Criterion:
    """A criterion the server sampled too sparsely: a pass stands (its evidence was
    seen), anything else is INCONCLUSIVE with ``server_busy`` first (instead of
    ``too_few_samples``), never FAIL."""
    if criterion.verdict is Verdict.PASS:
        return criterion
    rest = tuple(r for r in criterion.reasons if r not in (TOO_FEW_SAMPLES, SERVER_BUSY))
    return replace(criterion, verdict=Verdict.INCONCLUSIVE, reasons=(SERVER_BUSY, *rest))


def _failed(criterion: Criterion, reason: str) -> Criterion:
    rest = tuple(r for r in criterion.reasons if r != reason)
    return replace(criterion, verdict=Verdict.FAIL, reasons=(reason, *rest), pending=False)


def _camera(vision: Criterion, timeline: CameraTimeline, min_on: float, final: bool) -> Criterion:
    """Vision's judgement of the picture, overruled by the camera being off too much.

    One rule live and final: the camera fails when vision saw it fail, or when the share
    of the call the page or the pictures *showed* it on is below ``min_on``, naming what
    kept it off (``camera_off`` once it is back on). Pictures that only stopped arriving
    are no such evidence: a call short of its share for want of frames (none at all,
    included) is INCONCLUSIVE ``no_frames``, and a supervisor decides. Live, a camera off
    right now with the share still enough is pending (the page says why); at the end it
    counts only through the share.
    """
    if vision.verdict is Verdict.FAIL:
        return vision
    causes = sorted(timeline.off_causes)
    if timeline.on_fraction is None:
        return _unseen(vision) if final else vision
    if timeline.on_fraction < min_on:
        shown = timeline.on_fraction if timeline.shown_on is None else timeline.shown_on
        if shown >= min_on:
            return _unseen(vision)
        shown_causes = [c for c in causes if c != NO_FRAMES]
        return _failed(vision, shown_causes[0] if shown_causes else CAMERA_OFF)
    if causes and not final:
        return replace(vision, reasons=(causes[0], *vision.reasons), pending=True)
    return vision


def _unseen(criterion: Criterion) -> Criterion:
    """Too few pictures arrived to say the camera was on: INCONCLUSIVE ``no_frames``."""
    rest = tuple(r for r in criterion.reasons if r != NO_FRAMES)
    return replace(
        criterion, verdict=Verdict.INCONCLUSIVE, reasons=(NO_FRAMES, *rest), pending=False
    )


def _location(result: LocationResult | None, final: bool) -> Criterion:
    if result is None:
        if final:
            return Criterion(Verdict.INCONCLUSIVE, ("not_sent",))
        return Criterion(Verdict.INCONCLUSIVE, ("waiting",), pending=True)
    if result.state is Verdict.PASS:
        return Criterion(result.state, ok=result.reason)
    return Criterion(result.state, (result.reason,))


@dataclass(frozen=True)
class IdentityEvidence:
    """A call's identity evidence as ``judge`` takes it."""

    enrolled: bool
    judged: CriterionVerdict
    """``vision.identity.judge_identity`` of the call's match distances."""
    model: str
    """The model and its version, as the record names it."""

    @classmethod
    def of(cls, identity: CallIdentity) -> IdentityEvidence:
        """The evidence of a call's (or a file's) matches so far."""
        judged = judge_identity(identity.distances, identity.config)
        return cls(bool(identity.enrolled), judged, identity.version)


def identity_criterion(
    identity: IdentityEvidence, *, analysed: bool, starved: bool, final: bool
) -> Criterion:
    """The identity criterion: FAIL only when the matches say so (several far from the
    enrolled face, none near); not enrolled, no usable match, or a server too busy to
    match are INCONCLUSIVE; live, an undecided criterion is pending. ``hadir analyze``
    judges a file's matches with it too (analysed, not starved, final)."""
    if not identity.enrolled:
        return Criterion(Verdict.INCONCLUSIVE, (NOT_ENROLLED,))
    if not analysed:
        return Criterion(Verdict.INCONCLUSIVE, (ANALYSIS_UNAVAILABLE,))
    given = identity.judged
    criterion = Criterion(
        given.verdict,
        tuple(str(r) for r in given.reasons),
        ok="identity_ok",
        pending=given.verdict is Verdict.INCONCLUSIVE and not final,
        scores={**given.scores, "model": identity.model},
    )
    return _busy(criterion) if starved and not given.scores["matches"] else criterion


@dataclass(frozen=True)
class LivenessEvidence:
    """A call's liveness challenges as ``judge`` takes them."""

    required: bool
    """The policy asks for a challenge in every call."""
    results: tuple[ChallengeRecord, ...]
    open: bool
    """A challenge is under way."""
    model: str


def liveness_criterion(evidence: LivenessEvidence, final: bool) -> Criterion:
    """The liveness criterion: FAIL only when a challenge failed (a picture that did not
    change at all: ``vision.liveness``), PASS when one was answered, INCONCLUSIVE
    otherwise: an unanswered challenge, a page that went away, or none completed where
    the policy asked (``not_run``). Live, it is pending while a challenge is open, and
    while the policy's is still to come."""
    outcomes = [r.outcome for r in evidence.results]
    last = evidence.results[-1].finding if evidence.results else NOT_RUN
    scores = {"challenges": len(evidence.results), "finding": last, "model": evidence.model}
    waiting = evidence.open or (evidence.required and not evidence.results)
    pending = waiting and not final
    if Outcome.FAILED in outcomes:
        return Criterion(Verdict.FAIL, (LIVENESS_FAILED,), scores=scores)
    if Outcome.PASSED in outcomes:
        return Criterion(Verdict.PASS, ok="liveness_ok", pending=pending, scores=scores)
    return Criterion(Verdict.INCONCLUSIVE, (LIVENESS_INCONCLUSIVE,), pending=pending, scores=scores)


def judge(
    vision: CheckVerdict | None,
    timeline: CameraTimeline,
    location: LocationResult | None,
    *,
    min_camera_on: float,
    final: bool,
    analysed: bool = True,
    starved: bool = False,
    identity: IdentityEvidence | None = None,
    liveness: LivenessEvidence | None = None,
) -> CallVerdict:
    """The call's verdict from vision's verdict so far (None before any sample), the
    camera timeline and the location result; ``final`` once the call has ended.
    ``identity`` is the identity evidence when the policy checks it, ``liveness`` the
    challenges when the policy asks for one or one was run (else the criterion is
    absent).

    ``analysed`` is False when the server refused the analysis leg (capacity full):
    nothing was watched, so the picture criteria are inconclusive, never failed.
    ``starved`` is True when the server analysed far fewer of the frames that arrived
    than it should have (threads or event loop busy): vision's criteria then cannot
    fail, and what they lack is named ``server_busy``; the camera-off share still
    counts, but the session then leaves out of it what only the pictures showed (see
    ``signaling.session``): what the page did (frames stopped, hidden, muted) remains.
    """
    if analysed:
        face = _vision("face", vision.face if vision else None, final)
        camera = _vision("camera", vision.camera if vision else None, final)
        uniform = _vision("uniform", vision.uniform if vision else None, final)
        if starved:
            face, camera, uniform = _busy(face), _busy(camera), _busy(uniform)
        camera = _camera(camera, timeline, min_camera_on, final)
    else:
        face = camera = uniform = Criterion(Verdict.INCONCLUSIVE, (ANALYSIS_UNAVAILABLE,))
    return CallVerdict(
        face=face,
        camera=camera,
        uniform=uniform,
        location=_location(location, final),
        identity=(
            None
            if identity is None
            else identity_criterion(identity, analysed=analysed, starved=starved, final=final)
        ),
        liveness=None if liveness is None else liveness_criterion(liveness, final),
        challenges=() if liveness is None else liveness.results,
        camera_on=None if timeline.on_fraction is None else round(timeline.on_fraction, 3),
        distance_m=location.distance_m if location else None,
        colour_seen=vision.uniform.colour if vision else None,
        version=vision.version if vision else None,
    )
