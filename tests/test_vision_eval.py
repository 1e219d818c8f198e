"""The vision figures on the real development set (``hadir eval vision``), held to their
targets, so a change that makes vision worse on real people fails CI.

The whole set runs once per session (about five minutes on two cores: every clip is
drawn, VP8-encoded and analysed); the tests read the one report.
"""

from __future__ import annotations

import pytest

from fixtures.devset import DevImage, load
from fixtures.evaluate import TARGETS, Report, evaluate, format_report
from vision.analyzer import FrameAnalyzer
from vision.config import DEFAULT_CONFIG

ASSERTED = tuple(t for t in TARGETS if t.name != "false_face_rate")
"""Every target but false faces, which posters and paintings of faces miss (below)."""


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


@pytest.mark.parametrize("target", ASSERTED, ids=lambda t: t.name)
def test_vision_meets_its_target_on_real_people(report: Report, target: object) -> None:
    from fixtures.evaluate import Target

    assert isinstance(target, Target)
    value = report.value(target.name)
    assert target.met(value), f"{target.name} = {value}\n{format_report(report)}"


def test_no_false_face_on_scenes_without_a_face_picture(
    report: Report, devset: list[DevImage]
) -> None:
    # A poster, a painting or a statue of a face is a face to any detector; only a
    # liveness check (issue 14) tells it from a person. Every other empty scene (rooms,
    # pets, objects, landscapes) must give no face.
    pictures = {im.id for im in devset if im.scene in ("poster", "face_like")}
    wrong = set(report.figures["false_face_rate"].ids(hit=True))
    assert wrong <= pictures, sorted(wrong - pictures)
