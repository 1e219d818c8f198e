"""``CheckWindow``: the samples of one check, and its verdict at any moment.

    window = CheckWindow(config, parse_uniform_policy("solid:khaki"))
    window.add(analyzer.analyze(rgb, t))      # for each sample, in time order
    window.verdict()                           # partial verdict at any time
    window.verdict().to_dict()                 # the JSON of ``hadir analyze --json``

The window keeps the per-check state; nothing is global, so a live server can hold one
window per call. ``still_image=True`` marks a check made from one photograph: the
camera criterion is then INCONCLUSIVE with ``single_image``.

Which samples judge what: the camera criterion uses every sample; the face
criterion uses samples with a usable picture (not black, covered, too dark or
frozen); the uniform criterion uses those of them with exactly one adequate face and
a torso result (the analyzer judges the garment on a cadence, ``vision.face_track``).

**Cost.** Every decision is taken from running tallies (counts per state and reason,
the frozen run's start, sorted values for the medians and maxima the scores report),
so ``add`` and ``verdict`` cost the same at the 5th sample and the 600th: a few
comparisons and one insertion into each sorted column (a binary search and a memory
move of the larger values, 8 bytes each: microseconds at any call's length; on a day
of colours, also a look at the sample's colour groups, ``_off_colour``: microseconds,
up to three light sweeps of about 0.4 ms for a top none of whose colours is the
day's). Of the pictures only the previous sample's grey thumbnail is kept, as uint8,
for the frozen test; a frozen run is settled from its start time and its few samples
not yet frozen (at most ``frozen_min_seconds``' worth). A window made with
``keep_samples=False`` (a live call) holds nothing else per sample but the sorted score
columns (8 bytes a value), and its verdict lists no samples, sample times or evidence
times; a window that keeps them (``hadir analyze``, the evaluation) builds those lists
in ``verdict``, O(n), so such a caller asks once, at the end. The verdicts, reasons and
scores are the same either way.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vision.camera import CameraState, frame_difference
from vision.colour import NamedColour, delta_e_2000, lab_to_hex, nearest_name, under_casts
from vision.config import DEFAULT_CONFIG, VisionConfig
from vision.face import FaceStatus
from vision.sample import SampleResult
from vision.torso import TorsoObservation
from vision.uniform import UniformKind, UniformPolicy, parse_uniform_policy
from vision.verdict import CheckVerdict, CriterionVerdict, JudgedSample, Reason, Verdict, combine

_CAMERA_FAIL = {
    CameraState.BLACK: Reason.CAMERA_BLACK,
    CameraState.COVERED: Reason.CAMERA_COVERED,
}
_FACE_REASONS = (
    Reason.NO_FACE,
    Reason.FACE_NOT_FOUND,
    Reason.FACE_UNVERIFIED,
    Reason.MULTIPLE_FACES,
    Reason.FACE_TOO_SMALL,
)
"""The face criterion's reasons, in the order its evidence and mixed verdicts name them."""


@dataclass(slots=True)
class _Mark:
    """What one sample gives the criteria: a few numbers, never its picture.

    Everything but ``frozen`` is fixed when the sample is added; ``frozen`` turns True
    later when the sample turns out to begin a frozen run.
    """

    t: float
    state: CameraState
    luma: float
    difference: float | None
    frozen: bool
    face: bool
    """A face result: the picture was looked at."""
    face_reason: Reason | None
    """What the face says (None: one adequate face); meaningful only with ``face``."""
    confidence: float | None
    size: float | None
    torso: bool
    """One adequate face and a torso result: a sample the uniform may be judged on."""
    visible: bool
    solid: bool | None
    solid_share: float | None
    lab: tuple[float, float, float] | None
    light_measured: bool
    covered: bool
    off_colour: bool
    """None of the top's colours may be the day's under the light its white balance
    leaves possible (``CheckWindow._off_colour``)."""

    @property
    def usable(self) -> bool:
        return self.state is CameraState.OK and not self.frozen

    @property
    def judged(self) -> bool:
        """Counted by the uniform criterion (if usable)."""
        return self.face and self.face_reason is None and self.torso


class _Sorted:
    """A multiset of floats kept sorted (8 bytes each): insert and remove by binary
    search and a short move, median and maximum at once."""

    def __init__(self) -> None:
        self._v = array("d")

    def __len__(self) -> int:
        return len(self._v)

    def add(self, x: float) -> None:
        insort(self._v, x)

    def remove(self, x: float) -> None:
        del self._v[bisect_left(self._v, x)]

    def median(self) -> float | None:
        """As ``statistics.median`` (and ``numpy.median``) computes it, None when empty."""
        v, n = self._v, len(self._v)
        if n == 0:
            return None
        return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2

    def max(self) -> float | None:
        return self._v[-1] if self._v else None

    def nbytes(self) -> int:
        return self._v.buffer_info()[1] * self._v.itemsize


def _columns() -> tuple[_Sorted, _Sorted, _Sorted]:
    return _Sorted(), _Sorted(), _Sorted()


@dataclass
class _Usable:
    """Running tallies of the usable samples (camera ok, not frozen): what the face and
    uniform criteria decide on. A sample leaves them when its run turns out frozen."""

    faces: int = 0
    face_reasons: Counter[Reason | None] = field(default_factory=Counter)
    confidence: _Sorted = field(default_factory=_Sorted)
    size: _Sorted = field(default_factory=_Sorted)
    judged: int = 0
    visible: int = 0
    solid: int = 0
    light_measured: int = 0
    """Solid samples whose white balance measured the light."""
    patterned: int = 0
    covered: int = 0
    """Visible samples whose chest may be covered by what the head wears."""
    off_colour: int = 0
    """Visible samples none of whose colours may be the day's."""
    solid_share: _Sorted = field(default_factory=_Sorted)
    lab_solid: tuple[_Sorted, _Sorted, _Sorted] = field(default_factory=_columns)
    lab_visible: tuple[_Sorted, _Sorted, _Sorted] = field(default_factory=_columns)

    def count(self, m: _Mark, sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) one usable sample."""
        if not m.face:
            return

        def column(c: _Sorted, x: float) -> None:
            c.add(x) if sign > 0 else c.remove(x)

        self.faces += sign
        self.face_reasons[m.face_reason] += sign
        if m.confidence is not None:
            column(self.confidence, m.confidence)
        if m.face_reason is None and m.size is not None:
            column(self.size, m.size)
        if not m.judged:
            return
        self.judged += sign
        if not m.visible:
            return
        self.visible += sign
        self.solid += sign if m.solid else 0
        self.light_measured += sign if m.solid and m.light_measured else 0
        self.patterned += sign if m.solid is False else 0
        self.covered += sign if m.covered else 0
        self.off_colour += sign if m.off_colour else 0
        if m.solid_share is not None:
            column(self.solid_share, m.solid_share)
        if m.lab is not None:
            for c, x in zip(self.lab_visible, m.lab, strict=True):
                column(c, x)
            if m.solid:
                for c, x in zip(self.lab_solid, m.lab, strict=True):
                    column(c, x)

    def nbytes(self) -> int:
        cols = (self.confidence, self.size, self.solid_share, *self.lab_solid, *self.lab_visible)
        return sum(c.nbytes() for c in cols)


def _match_colours(
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


CAST_STEPS = 24
"""Lights tried between the coolest and the warmest (about 0.06 apart in log red/blue
at the widest range): finer than a colour's margin moves."""


def match_colours(
    seen: npt.NDArray[np.float64],
    colours: Sequence[NamedColour],
    config: VisionConfig,
    light_measured: bool,
) -> tuple[Verdict, dict[str, float], bool]:
    """``_match_colours``, and FAIL only when no light the camera may have been under
    explains the colour: under a lamp the white balance could not undo, a white shirt
    reads yellow and khaki orange, and a khaki shirt under a cool light reads as a
    white one in shade. A colour that such a light (``cast_measured`` or
    ``cast_unmeasured``, by whether the balance measured the light) puts within an
    allowed colour's margin is INCONCLUSIVE, never the wrong colour. The third value
    says the light was what kept it from FAIL."""
    verdict, distances = _match_colours(seen, colours, config)
    if verdict is not Verdict.FAIL:
        return verdict, distances, False
    warmest, coolest = config.cast_measured if light_measured else config.cast_unmeasured
    for relit in under_casts(seen, warmest, coolest, CAST_STEPS):
        if _match_colours(relit, colours, config)[0] is not Verdict.FAIL:
            return Verdict.INCONCLUSIVE, distances, True
    return Verdict.FAIL, distances, False


def _share(n: int, total: int) -> float:
    return n / total if total else 0.0


def _round(x: float | None, places: int) -> float | None:
    return None if x is None else round(x, places)


def _times(marks: Sequence[_Mark], keep: Callable[[_Mark], bool]) -> tuple[float, ...]:
    return tuple(m.t for m in marks if keep(m))


def _in_state(state: CameraState) -> Callable[[_Mark], bool]:
    return lambda m: m.state is state


def _face_says(reason: Reason) -> Callable[[_Mark], bool]:
    return lambda m: m.usable and m.face and m.face_reason is reason


class CheckWindow:
    """Accumulates samples of one check and judges them (not thread-safe).

    ``add`` costs O(1) in the samples so far, and so does ``verdict`` without
    ``keep_samples`` (see the module's "Cost"); with it, the window also keeps each
    ``SampleResult`` (the caller's objects, thumbnails included) and its verdict lists
    them, their times and the evidence times.
    """

    def __init__(
        self,
        config: VisionConfig = DEFAULT_CONFIG,
        policy: UniformPolicy | None = None,
        *,
        still_image: bool = False,
        keep_samples: bool = True,
    ) -> None:
        self.config = config
        self.policy = policy if policy is not None else parse_uniform_policy("any")
        self.still_image = still_image
        self.keep_samples = keep_samples
        self._n = 0
        self._t: float | None = None  # the newest sample's time
        self._prev: npt.NDArray[np.uint8] | None = None  # the newest sample's thumbnail
        self._last: _Mark | None = None
        self._states: Counter[CameraState] = Counter()
        self._luma = _Sorted()
        self._difference = _Sorted()
        self._frozen = 0
        self._ok = 0  # usable samples
        self._usable = _Usable()
        # The current run of identical samples: when it began, and its samples not yet
        # frozen (at most ``frozen_min_seconds`` of them: past that, the run is frozen).
        self._run_t: float | None = None
        self._run: list[_Mark] = []
        self._marks: list[_Mark] = []  # with keep_samples only
        self._samples: list[SampleResult] = []  # with keep_samples only

    def __len__(self) -> int:
        return self._n

    @property
    def last_frozen(self) -> bool:
        """Whether the newest sample belongs to a frozen run (False before any)."""
        return self._last is not None and self._last.frozen

    def nbytes(self) -> int:
        """Bytes the window itself holds for its samples: the previous thumbnail and the
        sorted score columns (not the ``SampleResult`` objects ``keep_samples`` keeps)."""
        prev = 0 if self._prev is None else self._prev.nbytes
        return prev + self._luma.nbytes() + self._difference.nbytes() + self._usable.nbytes()

    def _mark(self, sample: SampleResult, difference: float | None) -> _Mark:
        face, torso = sample.face, sample.torso
        largest = face.largest if face is not None else None
        return _Mark(
            t=sample.t,
            state=sample.camera.state,
            luma=sample.camera.luma,
            difference=difference,
            frozen=False,
            face=face is not None,
            face_reason=self._face_reason(sample) if face is not None else None,
            confidence=largest.confidence if largest is not None else None,
            size=largest.size if largest is not None else None,
            torso=torso is not None,
            visible=torso is not None and torso.visible,
            solid=torso.solid if torso is not None else None,
            solid_share=torso.solid_share if torso is not None else None,
            lab=torso.lab if torso is not None else None,
            light_measured=torso is not None and torso.light_measured,
            covered=torso is not None and torso.covered,
            off_colour=torso is not None and self._off_colour(torso),
        )

    def _off_colour(self, torso: TorsoObservation) -> bool:
        """None of the top's colours (groups of ``off_colour_min_share``) is one of the
        day's under any light the sample's white balance leaves possible (as
        ``match_colours``). Asked on days of colours only, and it stops at the first
        colour that may be the day's: a light sweep (about 0.4 ms) only for colours
        that are not."""
        colours = self.policy.colours
        own = [g for g in torso.groups if g.share >= self.config.off_colour_min_share]
        if not torso.visible or not colours or not own:
            return False
        return all(
            match_colours(np.array(g.lab), colours, self.config, torso.light_measured)[0]
            is Verdict.FAIL
            for g in own
        )

    def add(self, sample: SampleResult) -> None:
        """Add the next sample (times must not go backwards).

        The thumbnail must hold whole grey levels 0-255 (``vision.camera.thumbnail``
        makes them so): the window keeps it as uint8 for the next frozen test.
        """
        if self._t is not None and sample.t < self._t:
            raise ValueError("samples must be added in time order")
        thumb = sample.camera.thumbnail
        diff = None
        if self._prev is not None:
            diff = frame_difference(self._prev.astype(np.float32), thumb)
        m = self._mark(sample, diff)
        if diff is not None:
            assert self._last is not None
            live_picture = m.state not in _CAMERA_FAIL
            if diff <= self.config.frozen_max_mad and live_picture:
                if self._run_t is None:  # the run begins with the previous sample
                    self._run_t, self._run = self._last.t, [self._last]
                if m.t - self._run_t >= self.config.frozen_min_seconds - 1e-9:
                    # The whole run is frozen, including the samples before the threshold.
                    for earlier in self._run:
                        self._freeze(earlier)
                    self._run = []
                    m.frozen = True
                else:
                    self._run.append(m)
            else:
                self._run_t, self._run = None, []
        self._n += 1
        self._t = m.t
        self._prev = thumb.astype(np.uint8)
        self._last = m
        self._states[m.state] += 1
        self._luma.add(m.luma)
        if diff is not None:
            self._difference.add(diff)
        if m.frozen:
            self._frozen += 1
        elif m.usable:
            self._ok += 1
            self._usable.count(m, 1)
        if self.keep_samples:
            self._marks.append(m)
            self._samples.append(sample)

    def _freeze(self, m: _Mark) -> None:
        if m.frozen:
            return
        if m.usable:
            self._ok -= 1
            self._usable.count(m, -1)
        m.frozen = True
        self._frozen += 1

    # -- criteria -----------------------------------------------------------------

    def _evidence(
        self, found: Sequence[tuple[Reason, int, Callable[[_Mark], bool]]]
    ) -> dict[str, tuple[float, ...]]:
        """Per reason seen (count > 0), the times of its samples; empty without samples."""
        if not self.keep_samples:
            return {}
        return {r.value: _times(self._marks, keep) for r, count, keep in found if count}

    def _sample_times(self, keep: Callable[[_Mark], bool]) -> tuple[float, ...]:
        return _times(self._marks, keep) if self.keep_samples else ()

    def _camera(self) -> CriterionVerdict:
        cfg, n, states = self.config, self._n, self._states
        scores: dict[str, Any] = {
            "samples": n,
            "ok": _share(self._ok, n),
            "black": _share(states[CameraState.BLACK], n),
            "covered": _share(states[CameraState.COVERED], n),
            "low_light": _share(states[CameraState.LOW_LIGHT], n),
            "frozen": _share(self._frozen, n),
            "median_luma": _round(self._luma.median(), 2),
            "median_difference": _round(self._difference.median(), 3),
        }
        evidence = self._evidence(
            [
                *(
                    (reason, states[state], _in_state(state))
                    for state, reason in _CAMERA_FAIL.items()
                ),
                (Reason.CAMERA_FROZEN, self._frozen, lambda m: m.frozen),
                (Reason.LOW_LIGHT, states[CameraState.LOW_LIGHT], _in_state(CameraState.LOW_LIGHT)),
            ]
        )
        fails = [
            reason
            for reason, count in (
                *((r, states[s]) for s, r in _CAMERA_FAIL.items()),
                (Reason.CAMERA_FROZEN, self._frozen),
            )
            if count and _share(count, n) >= cfg.camera_fail_fraction
        ]
        times = self._sample_times(lambda m: True)

        def result(v: Verdict, *reasons: Reason) -> CriterionVerdict:
            return CriterionVerdict(v, reasons, scores, times, evidence)

        # A photograph, or a check too short to judge, never fails; what it showed stays
        # in the evidence. (A phone camera's first frames are often black while it
        # starts: the first black samples of a live call must not fail it.)
        if self.still_image:
            return result(Verdict.INCONCLUSIVE, Reason.SINGLE_IMAGE)
        if n < cfg.min_samples:
            return result(Verdict.INCONCLUSIVE, Reason.TOO_FEW_SAMPLES)
        if fails:
            return result(Verdict.FAIL, *fails)
        # Samples in a run of identical ones not yet ``frozen_min_seconds`` long are
        # neither frozen nor proof of a live camera yet: they do not count towards a PASS
        # (a fed picture's indicator would otherwise show pass until its run is long
        # enough, then fail).
        undecided = sum(m.usable for m in self._run)
        if _share(self._ok - undecided, n) >= cfg.camera_ok_fraction:
            return result(Verdict.PASS)
        dark = states[CameraState.LOW_LIGHT] > 0
        return result(Verdict.INCONCLUSIVE, Reason.LOW_LIGHT if dark else Reason.TOO_FEW_SAMPLES)

    def _min_samples(self) -> int:
        return 1 if self.still_image else self.config.min_samples

    def _face(self) -> CriterionVerdict:
        cfg, u = self.config, self._usable
        n, counts = u.faces, u.face_reasons
        # No face splits in two: nobody there (no_face, which may fail), or a person the
        # detector did not find a face on (turned away, too dark, too far: inconclusive).
        scores: dict[str, Any] = {
            "usable_samples": n,
            "present": _share(counts[None], n),
            "absent": _share(counts[Reason.NO_FACE], n),
            "not_found": _share(counts[Reason.FACE_NOT_FOUND], n),
            "unverified": _share(counts[Reason.FACE_UNVERIFIED], n),
            "multiple": _share(counts[Reason.MULTIPLE_FACES], n),
            "too_small": _share(counts[Reason.FACE_TOO_SMALL], n),
            "max_confidence": _round(u.confidence.max(), 3),
            "median_face_size": _round(u.size.median(), 1),
        }
        evidence = self._evidence([(r, counts[r], _face_says(r)) for r in _FACE_REASONS])
        times = self._sample_times(lambda m: m.usable and m.face)

        def result(v: Verdict, *reasons: Reason) -> CriterionVerdict:
            return CriterionVerdict(v, reasons, scores, times, evidence)

        if n < self._min_samples():
            return result(Verdict.INCONCLUSIVE, Reason.TOO_FEW_SAMPLES)
        if scores["multiple"] >= cfg.multiple_faces_fraction:
            return result(Verdict.INCONCLUSIVE, Reason.MULTIPLE_FACES)
        if scores["present"] >= cfg.face_present_fraction:
            return result(Verdict.PASS)
        if scores["absent"] >= cfg.face_absent_fraction:
            return result(Verdict.FAIL, Reason.NO_FACE)
        # Mixed evidence: name what was seen, largest share first, and let a human judge.
        ranked = sorted((r for r in _FACE_REASONS if counts[r]), key=lambda r: -counts[r])
        return result(Verdict.INCONCLUSIVE, *ranked)

    def _face_reason(self, sample: SampleResult) -> Reason | None:
        """What one sample with a face result says: None for one adequate face."""
        face = sample.face
        assert face is not None
        if face.status is FaceStatus.OK:
            return None
        if face.status is FaceStatus.MULTIPLE:
            return Reason.MULTIPLE_FACES
        if face.status is FaceStatus.TOO_SMALL:
            return Reason.FACE_TOO_SMALL
        if face.rejected:
            # Something face-like is there: a misread real face must not read as nobody.
            return Reason.FACE_UNVERIFIED
        person = sample.person or 0.0
        return Reason.FACE_NOT_FOUND if person >= self.config.person_min_share else Reason.NO_FACE

    def _uniform(self) -> CriterionVerdict:
        cfg, policy, u = self.config, self.policy, self._usable
        n = u.judged
        scores: dict[str, Any] = {
            "judged_samples": n,
            "visible": _share(u.visible, n),
            "solid": _share(u.solid, u.visible),
            "patterned": _share(u.patterned, u.visible),
            "median_solid_share": _round(u.solid_share.median(), 3),
            "covered": _share(u.covered, u.visible),
            "off_colour": _share(u.off_colour, u.visible),
            "policy": policy.text,
        }

        def judged(m: _Mark) -> bool:
            return m.usable and m.judged

        evidence = self._evidence(
            [
                (Reason.TORSO_NOT_VISIBLE, n - u.visible, lambda m: judged(m) and not m.visible),
                (
                    Reason.NOT_UNIFORM_COLOUR,
                    u.patterned,
                    lambda m: judged(m) and m.visible and m.solid is False,
                ),
            ]
        )
        # Judged solid, its colour is its solid samples'; not (yet), every visible one's.
        uncertain = _share(u.solid, u.visible) < cfg.solid_fraction
        colour: dict[str, Any] | None = None
        medians = [c.median() for c in (u.lab_visible if uncertain else u.lab_solid)]
        if all(x is not None for x in medians):
            med = np.array(medians, dtype=np.float64)
            colour = {
                "name": nearest_name(med),
                "hex": lab_to_hex(med),
                "lab": [round(float(v), 1) for v in med],
            }
        times = self._sample_times(judged)

        def result(v: Verdict, *reasons: Reason) -> CriterionVerdict:
            return CriterionVerdict(
                v, reasons, scores, times, evidence, colour, reports_colour=True
            )

        if n < self._min_samples():
            return result(Verdict.INCONCLUSIVE, Reason.TOO_FEW_SAMPLES)
        if scores["visible"] < cfg.torso_visible_fraction:
            return result(Verdict.INCONCLUSIVE, Reason.TORSO_NOT_VISIBLE)
        if policy.kind is not UniformKind.SOLID:
            return result(Verdict.PASS)
        # A top that would fail may be a hijab hanging over the uniform: never a FAIL.
        covered = scores["covered"] >= cfg.covered_fraction
        if _share(u.patterned, u.visible) >= cfg.patterned_fraction:
            if covered:
                return result(Verdict.INCONCLUSIVE, Reason.UNIFORM_COVERED)
            return result(Verdict.FAIL, Reason.NOT_UNIFORM_COLOUR)
        # A top neither clearly plain nor clearly patterned is judged by its colour only
        # where one colour covers most of it: then a clearly wrong colour fails either way.
        # Of several colours, it fails where none of them is the day's: plain or not, it
        # is not the uniform (a suit, a print on a khaki day).
        share = u.solid_share.median()
        one_colour = share is not None and share >= cfg.uncertain_wrong_min_share
        if uncertain and not (policy.colours and one_colour):
            if _share(u.off_colour, u.visible) < cfg.patterned_fraction:
                return result(Verdict.INCONCLUSIVE, Reason.PATTERN_UNCERTAIN)
            if covered:
                return result(Verdict.INCONCLUSIVE, Reason.UNIFORM_COVERED)
            off_colour = (
                Reason.NOT_UNIFORM_COLOUR,
                u.off_colour,
                lambda m: judged(m) and m.visible and m.off_colour,
            )
            evidence.update(self._evidence([off_colour]))
            return result(Verdict.FAIL, Reason.NOT_UNIFORM_COLOUR)
        if not policy.colours:
            return result(Verdict.PASS)
        assert colour is not None
        seen = np.array(colour["lab"], dtype=np.float64)
        # The light counts as measured where it was in most of the samples the colour is
        # from (``light_measured`` counts solid ones: never, for an uncertain top).
        measured = u.light_measured >= 0.5 * max(u.visible if uncertain else u.solid, 1)
        match, distances, light = match_colours(seen, policy.colours, cfg, measured)
        scores["colour_distance"] = {k: round(v, 2) for k, v in distances.items()}
        if light:
            scores["colour_light_cast"] = True  # a coloured light may explain it
        if uncertain and match is not Verdict.FAIL:
            return result(Verdict.INCONCLUSIVE, Reason.PATTERN_UNCERTAIN)
        if match is Verdict.PASS:
            return result(Verdict.PASS)
        if match is Verdict.FAIL and covered:
            return result(Verdict.INCONCLUSIVE, Reason.UNIFORM_COVERED)
        if match is Verdict.FAIL:
            evidence.update(
                self._evidence(
                    [
                        (
                            Reason.WRONG_UNIFORM_COLOUR,
                            u.visible if uncertain else u.solid,
                            lambda m: judged(m) and m.visible and (uncertain or bool(m.solid)),
                        )
                    ]
                )
            )
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
        samples = tuple(
            JudgedSample(s, m.frozen, m.difference)
            for s, m in zip(self._samples, self._marks, strict=True)
        )
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
