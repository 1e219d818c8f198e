"""The fixture table (file, policy, expected verdicts and reasons) and judging a fixture
file the way a live call is judged; the media and analyzer fixtures are in conftest.

One table serves the vision tests (``judge``) and the ``hadir analyze`` tests, so the
library and the command are held to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.media import open_media
from vision.analyzer import FrameAnalyzer
from vision.check import CheckWindow
from vision.config import DEFAULT_CONFIG
from vision.uniform import parse_uniform_policy
from vision.verdict import CheckVerdict

PASS = "pass"
TOO_FEW = "inconclusive:too_few_samples"


@dataclass(frozen=True)
class Case:
    """A fixture file judged under a uniform policy, and what each criterion must say.

    A criterion's outcome is written ``verdict`` or ``verdict:reason[,reason...]``
    (reasons in the order the verdict gives them), e.g. ``fail:camera_black``.
    """

    name: str
    policy: str
    verdict: str
    face: str = PASS
    camera: str = PASS
    uniform: str = PASS

    @property
    def id(self) -> str:
        return f"{self.name}-{self.policy}"

    @property
    def reasons(self) -> list[str]:
        """The overall reasons: each criterion's, face, camera, uniform, without repeats."""
        out: list[str] = []
        for outcome in (self.face, self.camera, self.uniform):
            _, _, codes = outcome.partition(":")
            out += [c for c in codes.split(",") if c and c not in out]
        return out


CASES = [
    Case("live", "solid:orange", "pass"),
    Case("live", "solid", "pass"),
    Case("live", "solid:khaki", "fail", uniform="fail:wrong_uniform_colour"),
    Case("khaki", "solid:khaki", "pass"),
    Case("khaki", "solid:#C3B091", "pass"),
    # Under the chin the khaki suit is the colour of her light brown hair, nearer it
    # than her skin: a khaki hijab over an orange shirt would look the same.
    Case("khaki", "solid:orange", "inconclusive", uniform="inconclusive:uniform_covered"),
    # Light khaki lies just outside white's region, within its margin: undecided.
    Case("khaki", "solid:white", "inconclusive", uniform="inconclusive:colour_uncertain"),
    Case("white", "solid:white", "pass"),
    Case("white", "solid:khaki", "fail", uniform="fail:wrong_uniform_colour"),
    Case("white", "solid:khaki,white", "pass"),
    # A hijab (a khimar) over the chest: its colour is not the uniform's to fail.
    Case("hijab", "solid:khaki", "inconclusive", uniform="inconclusive:uniform_covered"),
    Case("hijab", "solid", "pass"),
    Case("patterned", "solid:khaki", "fail", uniform="fail:not_uniform_colour"),
    Case("patterned", "solid", "fail", uniform="fail:not_uniform_colour"),
    Case("patterned", "patterned", "pass"),
    # A faint knit: too textured to call plain, too faint to call a print.
    Case("ribbed", "solid:orange", "inconclusive", uniform="inconclusive:pattern_uncertain"),
    Case("patterned", "any", "pass"),
    Case("black", "any", "fail", face=TOO_FEW, camera="fail:camera_black", uniform=TOO_FEW),
    Case("covered", "any", "fail", face=TOO_FEW, camera="fail:camera_covered", uniform=TOO_FEW),
    Case("frozen", "any", "fail", face=TOO_FEW, camera="fail:camera_frozen", uniform=TOO_FEW),
    Case("no_person", "any", "fail", face="fail:no_face", uniform=TOO_FEW),
    Case(
        "live_then_covered",
        "any",
        "fail",
        face=TOO_FEW,
        camera="fail:camera_covered",
        uniform=TOO_FEW,
    ),
    Case("two_faces", "any", "inconclusive", face="inconclusive:multiple_faces", uniform=TOO_FEW),
    # A face's layout without skin's colour: something face-like turned down, never
    # "nobody there".
    Case("statue", "any", "inconclusive", face="inconclusive:face_unverified", uniform=TOO_FEW),
    # Far back: mostly too small; in a few samples only the person is found, no face.
    Case(
        "small_face",
        "any",
        "inconclusive",
        face="inconclusive:face_too_small,face_not_found",
        uniform=TOO_FEW,
    ),
    Case(
        "low_light",
        "any",
        "inconclusive",
        face=TOO_FEW,
        camera="inconclusive:low_light",
        uniform=TOO_FEW,
    ),
    Case("no_torso", "solid:khaki", "inconclusive", uniform="inconclusive:torso_not_visible"),
    Case("short", "any", "inconclusive", face=TOO_FEW, camera=TOO_FEW, uniform=TOO_FEW),
    Case("still.png", "solid:orange", "inconclusive", camera="inconclusive:single_image"),
    Case("live.webm", "solid:orange", "pass"),
    Case("live.mp4", "solid:orange", "pass"),
]


def outcome(criterion: dict[str, Any]) -> str:
    """``verdict`` or ``verdict:reason,...`` of one criterion of ``CheckVerdict.to_dict()``."""
    reasons = ",".join(criterion["reasons"])
    return f"{criterion['verdict']}:{reasons}" if reasons else str(criterion["verdict"])


def assert_case(result: dict[str, Any], case: Case) -> None:
    """``result`` (``CheckVerdict.to_dict()`` or ``hadir analyze --json``) is what
    ``case`` expects: every criterion's verdict and reasons, and the overall ones."""
    got = {name: outcome(c) for name, c in result["criteria"].items()}
    want = {"face": case.face, "camera": case.camera, "uniform": case.uniform}
    assert got == want
    assert (result["verdict"], result["reasons"]) == (case.verdict, case.reasons)


def judge(analyzer: FrameAnalyzer, path: Path, policy: str = "any") -> CheckVerdict:
    """Sample a file like a live call and return the check verdict."""
    m = open_media(path, DEFAULT_CONFIG.sample_interval_s)
    window = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy(policy), still_image=m.still)
    for frame in m.samples():
        window.add(analyzer.analyze(frame.rgb, frame.t))
    return window.verdict()
