"""The vision figures on the real development set (``hadir eval vision``), held in CI.

The whole set runs once per session (a few minutes on two cores: every clip is
drawn, made into the page's JPEG stills and analysed); the tests read the one report.

Two kinds of bound. The issue's targets that vision meets are asserted as targets.
The ones it does not yet meet (docs/vision.md, "Figures on real people", says which
and why) are asserted at the figure measured now, so a change can only move them
toward the target: a regression fails CI, an improvement raises the floor by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.devset import DevImage, load
from fixtures.evaluate import (
    TARGETS,
    UNIFORM_DAYS,
    Outcome,
    Report,
    Target,
    clip_cases,
    evaluate,
    format_report,
)
from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG
from vision.verdict import Reason, Verdict

MEASURED = (
    Target("false_face_rate", 4 / 34, False),
    Target("pattern_caught", 0.52, True),
    Target("solid_vs_patterned", 0.79, True),
    Target("wrong_colour_caught", 0.76, True),
    Target("tungsten_fail", 1 / 80, False),
    Target("printed_hijab_fail", 21 / 61, False),
    Target("pattern_failed", 0.78, True),
)
"""Floors at the figures of vision 7 (``7+d1ddef97``) on the 302 photos of the set and
their stills clips (clips version 7, ``hadir eval vision``, 2026-12-01; docs/vision.md
says which moved and why: the 20 photos added that day brought layered tops that read
as one colour; the hijab rule gave up four wrong colours, dark tops under hair of their
colour and one under a forehead near the neck's colour; the face as a witness of the
light gave up one wrong colour and 4 of 5 tungsten FAILs; the printed hijab rule gave
up one batik top under a knitted multicoloured hat and 28 of 56 printed-hijab FAILs;
the colour's texture caught five more patterned and layered tops, and a clearly wrong
colour filling a top of uncertain texture three more wrong colours; a print under a
chin that shows no neck, below anything worn on the head, seven printed-hijab FAILs
for two layered tops: a beard over a buttoned collar, a scarf wound up to the jaw; a
top of undecided texture none of whose colours is the day's eleven more patterned and
layered tops and six more wrong colours)."""
pytestmark = pytest.mark.timeout(2400)  # a clean clone draws and encodes every clip once
MET = tuple(
    t
    for t in TARGETS
    if t.name
    in (
        "face_recall",
        "compliant_pass",
        "compliant_fail",
        "dark_fail",
        "lamp_fail",
        "hijab_fail",
        "open_hijab_fail",
        "still_caught",
        "held_frozen",
        "worst_subgroup_gap",
    )
)
"""The issue's own bounds, met."""


@pytest.fixture(scope="session")
def devset() -> list[DevImage]:
    return load()


@pytest.fixture(scope="session")
def report(devset: list[DevImage], analyzer: FrameAnalyzer) -> Report:
    result = evaluate(devset, analyzer, DEFAULT_CONFIG)
    print(format_report(result))
    return result


def test_devset_is_big_and_varied_enough(devset: list[DevImage]) -> None:
    people = [im for im in devset if im.person]
    assert len(devset) >= 150
    assert sum(1 for im in devset if not im.person) >= 30
    for skin in ("light", "medium", "dark"):
        assert sum(1 for im in people if im.skin == skin) >= 30, skin
    assert {im.framing for im in people} >= {"selfie", "laptop", "far"}
    assert {im.top for im in people} >= {"solid", "patterned", "layered"}


def test_real_tops_of_a_uniform_colour_must_pass_on_its_day(devset: list[DevImage]) -> None:
    """White Wednesday is judged on real white shirts, not only on recoloured ones."""
    days = {
        (c.image.id, c.policy)
        for c in clip_cases(devset)
        if c.variant == "original" and c.kind == "compliant"
    }
    whites = [im for im in devset if im.top == "solid" and im.colour in ("white", "offwhite")]
    assert len(whites) >= 10
    for im in whites:
        if (im.id, "solid") in days:
            assert (im.id, UNIFORM_DAYS[im.colour]) in days, im.id


@pytest.mark.parametrize("target", MET + MEASURED, ids=lambda t: t.name)
def test_vision_holds_its_figures_on_real_people(report: Report, target: Target) -> None:
    value = report.value(target.name)
    assert target.met(value), f"{target.name} = {value}\n{format_report(report)}"


def test_what_the_tops_that_must_fail_got_adds_up_to_their_figures(report: Report) -> None:
    # The breakdown names what each missed case was called instead; it must count the
    # same cases as the figures, and its FAILs must be the figures' catches.
    kinds: tuple[tuple[str, str, Callable[[Outcome], bool]], ...] = (
        ("pattern", "pattern_caught", lambda o: o == (Verdict.FAIL, Reason.NOT_UNIFORM_COLOUR)),
        ("wrong_colour", "wrong_colour_caught", lambda o: o[0] is Verdict.FAIL),
    )
    for kind, figure, caught in kinds:
        counts = [c for (k, _), c in report.outcomes.items() if k == kind]
        assert sum(n for c in counts for n in c.values()) == report.figures[figure].total
        hits = sum(n for c in counts for outcome, n in c.items() if caught(outcome))
        assert hits == report.figures[figure].hits, kind
    assert {top for kind, top in report.outcomes if kind == "pattern"} == {
        "patterned",
        "layered",
        "batik",
    }


def test_the_light_and_still_figures_rest_on_enough_clips(report: Report) -> None:
    assert report.figures["dark_fail"].total >= 50
    assert report.figures["lamp_fail"].total == report.figures["tungsten_fail"].total >= 70
    hijabs = (report.figures[f"{kind}hijab_fail"].total for kind in ("", "printed_", "open_"))
    assert len(set(hijabs)) == 1 and report.figures["hijab_fail"].total >= 50
    assert report.figures["still_caught"].total >= 30
    assert report.figures["held_frozen"].total == report.figures["still_caught"].total


def test_only_a_repeated_picture_is_under_the_frozen_threshold(report: Report) -> None:
    # A fed picture's stills are the same JPEG; every clip with a live sensor (moving,
    # dark, or a motionless scene: a held photo, a person sitting still) differs by its
    # noise between any two samples, by more than twice the threshold.
    differences = report.differences
    assert differences["still"] and max(differences["still"]) == 0.0
    for kind in ("held", "live", "dark"):
        assert min(differences[kind]) > 2 * DEFAULT_CONFIG.frozen_max_mad, kind


def test_no_false_face_on_scenes_without_a_face_picture(
    report: Report, devset: list[DevImage]
) -> None:
    # A painted or printed portrait is a face to any detector and to the landmark
    # model, in a person's colours; only a liveness check (issue 14) tells it from a
    # person. Every other empty scene (rooms, pets, objects, landscapes, and the
    # face-like statue and drawings, which the skin-colour check turns down) must give
    # no face.
    pictures = {im.id for im in devset if im.scene == "poster"}
    wrong = set(report.figures["false_face_rate"].ids(hit=True))
    assert wrong <= pictures, sorted(wrong - pictures)
