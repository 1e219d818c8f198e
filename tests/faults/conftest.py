"""The fault suite: a real ``hadir serve`` killed, stopped or cut off from its receiver.

Every test here carries the ``faults`` marker (``pytest -m faults`` runs the suite
alone; ``make test`` runs it with the rest). Each prints its figures through the
``figures`` fixture; they are repeated at the end of the run, so they are seen without
``-s``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).parent
FIGURES = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print a test's figures and keep them for the end of the run."""

    def report(line: str) -> None:
        print(line)
        request.config.stash.setdefault(FIGURES, []).append(f"{request.node.nodeid}: {line}")

    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("fault suite figures")
        for line in lines:
            terminalreporter.write_line(line)
