"""Session fixtures for the vision tests: the generated media and one analyzer.

Import the fixtures into a test module (``from tests.vision_fixtures import ...``). The
media are built once into ``fixtures/media`` (git-ignored; override with
``HADIR_FIXTURE_MEDIA``) and reused across runs: the generator is deterministic and
keeps a manifest, so a second session costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.generate import DEFAULT_OUT, build
from service.media import open_media
from vision.analyzer import FrameAnalyzer
from vision.check import CheckWindow
from vision.config import DEFAULT_CONFIG
from vision.uniform import parse_uniform_policy
from vision.verdict import CheckVerdict


@pytest.fixture(scope="session")
def media() -> dict[str, Path]:
    return build(Path(os.environ.get("HADIR_FIXTURE_MEDIA", DEFAULT_OUT)))


@pytest.fixture(scope="session")
def analyzer() -> Iterator[FrameAnalyzer]:
    with FrameAnalyzer(DEFAULT_CONFIG) as a:
        yield a


def judge(analyzer: FrameAnalyzer, path: Path, policy: str = "any") -> CheckVerdict:
    """Sample a file like a live call and return the check verdict."""
    m = open_media(path, DEFAULT_CONFIG.sample_interval_s)
    window = CheckWindow(DEFAULT_CONFIG, parse_uniform_policy(policy), still_image=m.still)
    for frame in m.samples():
        window.add(analyzer.analyze(frame.rgb, frame.t))
    return window.verdict()
