"""``CheckWindow``: the samples of one check, and its verdict at any moment.

    window = CheckWindow(config, parse_uniform_policy("solid:khaki"))
    window.add(analyzer.analyze(rgb, t))      # for each sample, in time order
    window.verdict()                           # partial verdict at any time
    window.verdict().to_dict()                 # the JSON of ``hadir analyze --json``

The window keeps the per-check state, notably the previous sample's thumbnail for
the frozen-feed test; nothing is global, so a live server can hold one window per
call. ``still_image=True`` marks a check made from one photograph: the camera
criterion is then INCONCLUSIVE with ``single_image``.

Which samples judge what: the camera criterion uses every sample; the face
criterion uses samples with a usable picture (not black, covered, too dark or
frozen); the uniform criterion uses those of them with exactly one adequate face.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.camera import CameraState, frame_difference
from vision.colour import NamedColour, delta_e_2000, lab_to_hex, nearest_name
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face import FaceStatus
from vision.sample import SampleResult
from vision.uniform import UniformKind, UniformPolicy, parse_uniform_policy
from vision.verdict import CheckVerdict, CriterionVerdict, JudgedSample, Reason, Verdict, combine

_CAMERA_FAIL = {
    CameraState.BLACK: Reason.CAMERA_BLACK,
    CameraState.COVERED: Reason.CAMERA_COVERED,
}


@dataclass(frozen=True)
class _Entry:
    sample: SampleResult
    frozen: bool
    difference: float | None


def match_colours(
    seen: npt.NDArray[np.float64], colours: Sequence[NamedColour], config: VisionConfig
) -> tuple[Verdict, dict[str, float]]:
    """Does the colour seen match one of the allowed colours? PASS, FAIL (clearly none
    of them) or INCONCLUSIVE (close to one), with each colour's distance.

    A colour with a region is judged by the region (distance 0 inside, the undecided
    band its margin wide); any other (a hex value, a palette colour without a region)
    by ΔE2000 to its point, with ``colour_match_delta_e`` and ``colour_mismatch_delta_e``.
    """
    distances: dict[str, float] = {}
    verdicts: list[Verdict] = []
    for c in colours:
        if c.region is not None:
            d = c.region.distance(seen)
            near, far = 0.0, c.region.margin
        else:
            d = float(delta_e_2000(seen, c.lab, k_l=config.lightness_weight))
            near, far = config.colour_match_delta_e, config.colour_mismatch_delta_e
        distances[c.name] = d
        verdicts.append(
            Verdict.PASS if d <= near else Verdict.FAIL if d > far else Verdict.INCONCLUSIVE
        )
    if Verdict.PASS in verdicts:
        return Verdict.PASS, distances
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE, distances
    return Verdict.FAIL, distances


def _share(n: int, total: int) -> float:
    return n / total if total else 0.0


def _times(entries: Sequence[_Entry]) -> tuple[float, ...]:
    return tuple(e.sample.t for e in entries)


class CheckWindow:
    """Accumulates samples of one check and judges them (not thread-safe)."""

    def __init__(
        self,
        config: VisionConfig = DEFAULT_CONFIG,
        policy: UniformPolicy | None = None,
        *,
        still_image: bool = False,
    ) -> None:
        self.config = config
        self.policy = policy if policy is not None else parse_uniform_policy("any")
        self.still_image = still_image
        self._entries: list[_Entry] = []
        self._run_start: int | None = None  # index where the current identical run began

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, sample: SampleResult) -> None:
        """Add the next sample (times must not go backwards)."""
        if self._entries and sample.t < self._entries[-1].sample.t:
            raise ValueError("samples must be added in time order")
        diff = None
        frozen = False
        if self._entries:
            prev = self._entries[-1].sample
            diff = frame_difference(prev.camera.thumbnail, sample.camera.thumbnail)
            live_picture = sample.camera.state not in _CAMERA_FAIL
            if diff <= self.config.frozen_max_mad and live_picture:
                if self._run_start is None:
                    self._run_start = len(self._entries) - 1
                start_t = self._entries[self._run_start].sample.t
                if sample.t - start_t >= self.config.frozen_min_seconds - 1e-9:
                    frozen = True
                    # The whole run is frozen, including the samples before the threshold.
                    for i in range(self._run_start, len(self._entries)):
                        e = self._entries[i]
                        if not e.frozen:
                            self._entries[i] = _Entry(e.sample, True, e.difference)
            else:
                self._run_start = None
        self._entries.append(_Entry(sample, frozen, diff))

    # -- criteria -----------------------------------------------------------------

    def _camera(self) -> CriterionVerdict:
        cfg, entries = self.config, self._entries
        n = len(entries)
        states = Counter(e.sample.camera.state for e in entries)
        frozen = [e for e in entries if e.frozen]
        diffs = [e.difference for e in entries if e.difference is not None]
        scores: dict[str, Any] = {
            "samples": n,
            "ok": _share(sum(1 for e in entries if self._usable(e)), n),
            "black": _share(states[CameraState.BLACK], n),
            "covered": _share(states[CameraState.COVERED], n),
            "low_light": _share(states[CameraState.LOW_LIGHT], n),
            "frozen": _share(len(frozen), n),
            "median_luma": round(median(e.sample.camera.luma for e in entries), 2) if n else None,
            "median_difference": round(median(diffs), 3) if diffs else None,
        }
        evidence: dict[str, tuple[float, ...]] = {}
        fails: list[Reason] = []
        for state, reason in _CAMERA_FAIL.items():
            hit = [e for e in entries if e.sample.camera.state is state]
            if hit:
                evidence[reason.value] = _times(hit)
            if hit and _share(len(hit), n) >= cfg.camera_fail_fraction:
                fails.append(reason)
        if frozen:
            evidence[Reason.CAMERA_FROZEN.value] = _times(frozen)
            if _share(len(frozen), n) >= cfg.camera_fail_fraction:
                fails.append(Reason.CAMERA_FROZEN)
        dark = [e for e in entries if e.sample.camera.state is CameraState.LOW_LIGHT]
        if dark:
            evidence[Reason.LOW_LIGHT.value] = _times(dark)
        times = _times(entries)
        # A photograph, or a check too short to judge, never fails; what it showed stays
        # in the evidence. (A phone camera's first frames are often black while it
        # starts: the first black samples of a live call must not fail it.)
        if self.still_image:
            return CriterionVerdict(
                Verdict.INCONCLUSIVE, (Reason.SINGLE_IMAGE,), scores, times, evidence
            )
        if n < cfg.min_samples:
            return CriterionVerdict(
                Verdict.INCONCLUSIVE, (Reason.TOO_FEW_SAMPLES,), scores, times, evidence
            )
        if fails:
            return CriterionVerdict(Verdict.FAIL, tuple(fails), scores, times, evidence)
        ok = sum(1 for e in entries if self._usable(e))
        if _share(ok, n) >= cfg.camera_ok_fraction:
            return CriterionVerdict(Verdict.PASS, (), scores, times, evidence)
        reason = Reason.LOW_LIGHT if dark else Reason.TOO_FEW_SAMPLES
        return CriterionVerdict(Verdict.INCONCLUSIVE, (reason,), scores, times, evidence)

    @staticmethod
    def _usable(e: _Entry) -> bool:
        return e.sample.camera.state is CameraState.OK and not e.frozen

    def _min_samples(self) -> int:
        return 1 if self.still_image else self.config.min_samples

    def _face(self) -> CriterionVerdict:
        cfg = self.config
        usable = [e for e in self._entries if self._usable(e) and e.sample.face is not None]
        n = len(usable)
        # No face splits in two: nobody there (no_face, which may fail), or a person the
        # detector did not find a face on (turned away, too dark, too far: inconclusive).
        groups: dict[Reason | None, list[_Entry]] = {
            None: [],
            Reason.NO_FACE: [],
            Reason.FACE_NOT_FOUND: [],
            Reason.MULTIPLE_FACES: [],
            Reason.FACE_TOO_SMALL: [],
        }
        for e in usable:
            groups[self._face_reason(e)].append(e)
        confidences = [
            e.sample.face.largest.confidence
            for e in usable
            if e.sample.face is not None and e.sample.face.largest is not None
        ]
        sizes = [
            e.sample.face.largest.size
            for e in groups[None]
            if e.sample.face is not None and e.sample.face.largest is not None
        ]
        scores: dict[str, Any] = {
            "usable_samples": n,
            "present": _share(len(groups[None]), n),
            "absent": _share(len(groups[Reason.NO_FACE]), n),
            "not_found": _share(len(groups[Reason.FACE_NOT_FOUND]), n),
            "multiple": _share(len(groups[Reason.MULTIPLE_FACES]), n),
            "too_small": _share(len(groups[Reason.FACE_TOO_SMALL]), n),
            "max_confidence": round(max(confidences), 3) if confidences else None,
            "median_face_size": round(median(sizes), 1) if sizes else None,
        }
        evidence = {r.value: _times(v) for r, v in groups.items() if r is not None and v}
        times = _times(usable)

        def result(v: Verdict, *reasons: Reason) -> CriterionVerdict:
            return CriterionVerdict(v, tuple(reasons), scores, times, evidence)

        if n < self._min_samples():
            return result(Verdict.INCONCLUSIVE, Reason.TOO_FEW_SAMPLES)
        if scores["multiple"] >= cfg.multiple_faces_fraction:
            return result(Verdict.INCONCLUSIVE, Reason.MULTIPLE_FACES)
        if scores["present"] >= cfg.face_present_fraction:
            return result(Verdict.PASS)
        if scores["absent"] >= cfg.face_absent_fraction:
            return result(Verdict.FAIL, Reason.NO_FACE)
        # Mixed evidence: name what was seen, largest share first, and let a human judge.
        ranked = sorted(
            ((len(v), r) for r, v in groups.items() if r is not None and v),
            key=lambda x: -x[0],
        )
        return result(Verdict.INCONCLUSIVE, *(r for _, r in ranked))

    def _face_reason(self, e: _Entry) -> Reason | None:
        """What one usable sample says about the face: None for one adequate face."""
        face = e.sample.face
        assert face is not None
        if face.status is FaceStatus.OK:
            return None
        if face.status is FaceStatus.MULTIPLE:
            return Reason.MULTIPLE_FACES
        if face.status is FaceStatus.TOO_SMALL:
            return Reason.FACE_TOO_SMALL
        person = e.sample.person or 0.0
        return Reason.FACE_NOT_FOUND if person >= self.config.person_min_share else Reason.NO_FACE

    def _uniform(self) -> CriterionVerdict:
        cfg, policy = self.config, self.policy
        judged = [
            e
            for e in self._entries
            if self._usable(e)
            and e.sample.face is not None
            and e.sample.face.status is FaceStatus.OK
            and e.sample.torso is not None
        ]
        n = len(judged)
        visible = [e for e in judged if e.sample.torso is not None and e.sample.torso.visible]
        # Each visible top is solid (True), patterned (False) or undecided (None).
        solid = [e for e in visible if e.sample.torso is not None and e.sample.torso.solid]
        patterned = [
            e for e in visible if e.sample.torso is not None and e.sample.torso.solid is False
        ]
        shares = [e.sample.torso.solid_share for e in visible if e.sample.torso is not None]
        scores: dict[str, Any] = {
            "judged_samples": n,
            "visible": _share(len(visible), n),
            "solid": _share(len(solid), len(visible)),
            "patterned": _share(len(patterned), len(visible)),
            "median_solid_share": round(median(s for s in shares if s is not None), 3)
            if shares
            else None,
            "policy": policy.text,
        }
        evidence: dict[str, tuple[float, ...]] = {}
        visible_ids = {id(e) for e in visible}
        not_visible = [e for e in judged if id(e) not in visible_ids]
        if not_visible:
            evidence[Reason.TORSO_NOT_VISIBLE.value] = _times(not_visible)
        if patterned:
            evidence[Reason.NOT_UNIFORM_COLOUR.value] = _times(patterned)
        colour: dict[str, Any] | None = None
        labs = [e.sample.torso.lab for e in (solid or visible) if e.sample.torso is not None]
        labs_present = [lab for lab in labs if lab is not None]
        if labs_present:
            med = np.median(np.array(labs_present), axis=0)
            colour = {
                "name": nearest_name(med),
                "hex": lab_to_hex(med),
                "lab": [round(float(v), 1) for v in med],
            }
        times = _times(judged)

        def result(v: Verdict, *reasons: Reason) -> CriterionVerdict:
            return CriterionVerdict(
                v, tuple(reasons), scores, times, evidence, colour, reports_colour=True
            )

        if n < self._min_samples():
            return result(Verdict.INCONCLUSIVE, Reason.TOO_FEW_SAMPLES)
        if scores["visible"] < cfg.torso_visible_fraction:
            return result(Verdict.INCONCLUSIVE, Reason.TORSO_NOT_VISIBLE)
        if policy.kind is not UniformKind.SOLID:
            return result(Verdict.PASS)
        if _share(len(patterned), len(visible)) >= cfg.patterned_fraction:
            return result(Verdict.FAIL, Reason.NOT_UNIFORM_COLOUR)
        if _share(len(solid), len(visible)) < cfg.solid_fraction:
            return result(Verdict.INCONCLUSIVE, Reason.PATTERN_UNCERTAIN)
        if not policy.colours:
            return result(Verdict.PASS)
        assert colour is not None
        seen = np.array(colour["lab"], dtype=np.float64)
        match, distances = match_colours(seen, policy.colours, cfg)
        scores["colour_distance"] = {k: round(v, 2) for k, v in distances.items()}
        if match is Verdict.PASS:
            return result(Verdict.PASS)
        if match is Verdict.FAIL:
            evidence[Reason.WRONG_UNIFORM_COLOUR.value] = _times(solid)
            return result(Verdict.FAIL, Reason.WRONG_UNIFORM_COLOUR)
        return result(Verdict.INCONCLUSIVE, Reason.COLOUR_UNCERTAIN)

    def verdict(self) -> CheckVerdict:
        """The verdict on the samples so far (a partial verdict during a live check)."""
        camera = self._camera()
        face = self._face()
        uniform = self._uniform()
        reasons: list[Reason] = []
        for c in (face, camera, uniform):
            for r in c.reasons:
                if r not in reasons:
                    reasons.append(r)
        samples = tuple(JudgedSample(e.sample, e.frozen, e.difference) for e in self._entries)
        return CheckVerdict(
            verdict=combine((face.verdict, camera.verdict, uniform.verdict)),
            face=face,
            camera=camera,
            uniform=uniform,
            reasons=tuple(reasons),
            samples=samples,
            version=self.config.version,
            policy=self.policy.text,
        )
