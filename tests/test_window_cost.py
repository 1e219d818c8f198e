"""A live call's ``CheckWindow`` holds no picture but the previous one, and judges as a
window that keeps every sample does."""

from __future__ import annotations

import argparse
import gc
import json
import weakref

import pytest

from bench import window as _bench_window
from tests.test_vision_units import _sample
from vision.camera import CameraState
from vision.check import CheckWindow
from vision.config import DEFAULT_CONFIG
from vision.face import FaceStatus
from vision.sample import SampleResult
from vision.uniform import parse_uniform_policy


def _call(n: int) -> list[SampleResult]:
    """A call's samples with whole grey levels, as the analyzer makes them: a start in
    the dark, a frozen stretch, a covered lens, a patterned top, faces that come and go."""
    out = []
    for i in range(n):
        seed = 7 if 20 <= i < 26 else None  # six identical pictures: a frozen run
        state = CameraState.COVERED if i % 17 == 3 else CameraState.OK
        state = CameraState.LOW_LIGHT if i < 2 else state
        face = FaceStatus.NONE if i % 11 == 5 else FaceStatus.OK
        out.append(_sample(float(i), state=state, face=face, solid=i % 3 != 0, thumb_seed=seed))
    return out


def _window(keep: bool) -> CheckWindow:
    return CheckWindow(DEFAULT_CONFIG, parse_uniform_policy("solid:khaki"), keep_samples=keep)


def test_a_live_window_keeps_no_sample_and_one_small_thumbnail() -> None:
    window = _window(keep=False)
    refs = []
    for s in _call(300):
        window.add(s)
        refs.append(weakref.ref(s))
        window.verdict()
        del s
    gc.collect()
    assert all(r() is None for r in refs)  # every sample (and its float thumbnail) let go
    thumb = 120 * 160  # the previous thumbnail, as uint8
    assert thumb < window.nbytes() < thumb + 300 * 8 * 12  # and a few sorted score columns


def test_a_live_window_judges_as_one_that_keeps_its_samples() -> None:
    live, kept = _window(keep=False), _window(keep=True)
    for s in _call(60):
        live.add(s)
        kept.add(s)
        a, b = live.verdict(), kept.verdict()
        assert (a.verdict, a.reasons) == (b.verdict, b.reasons)
        for x, y in ((a.face, b.face), (a.camera, b.camera), (a.uniform, b.uniform)):
            assert (x.verdict, x.reasons, x.scores, x.colour) == (
                y.verdict,
                y.reasons,
                y.scores,
                y.colour,
            )
            assert x.sample_times == () and x.evidence == {}
        assert live.last_frozen == b.samples[-1].frozen
    assert a.samples == () and len(b.samples) == 60
    assert b.camera.evidence["camera_frozen"] == tuple(float(i) for i in range(20, 26))
    assert b.camera.scores["frozen"] == 6 / 60


def test_bench_window_shows_no_growth_in_memory(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="hadir")
    _bench_window.register_bench(parser.add_subparsers(dest="benchmark", required=True))
    args = parser.parse_args(["window", "--json", "--last", "5"])
    assert args.handler(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(out[f"add_verdict_ms_at_{n}"] > 0 for n in _bench_window.SIZES)
    # 600 samples used to hold 46 MB of thumbnails; now one and the score columns.
    assert out["bytes_held_at_30"] < out["bytes_held_at_600"] < 200_000
