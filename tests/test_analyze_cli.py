"""``hadir analyze`` and ``hadir bench vision`` through their argparse registration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from service.commands import analyze, bench
from service.errors import UsageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hadir")
    sub = parser.add_subparsers(dest="command", required=True)
    analyze.register(sub)
    group = sub.add_parser("bench").add_subparsers(dest="benchmark", required=True)
    bench.register_bench(group)
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return int(args.handler(args))


def test_analyze_json_shape(
    media: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(["analyze", str(media["khaki"]), "--uniform", "solid:khaki", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"verdict", "criteria", "reasons", "samples", "version"}
    assert out["verdict"] == "pass" and out["reasons"] == []
    for crit in out["criteria"].values():
        assert {"verdict", "reasons", "scores"} <= set(crit)
    assert out["criteria"]["uniform"]["colour"]["name"] == "khaki"
    assert len(out["samples"]) == 6 and out["samples"][0]["t"] == 0.0


def test_analyze_single_image(
    media: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(["analyze", str(media["still.png"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["criteria"]["camera"]["verdict"] == "inconclusive"
    assert out["criteria"]["camera"]["reasons"] == ["single_image"]


def test_analyze_text(
    media: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(["analyze", str(media["black"])]) == 0
    text = capsys.readouterr().out
    assert "FAIL" in text and "camera_black" in text


def test_analyze_bad_input(tmp_path: Path, media: dict[str, Path]) -> None:
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    with pytest.raises(UsageError, match="empty"):
        _run(["analyze", str(empty)])
    with pytest.raises(UsageError, match="no such file"):
        _run(["analyze", str(tmp_path / "nope.mp4")])
    with pytest.raises(UsageError, match="--uniform"):
        _run(["analyze", str(media["live"]), "--uniform", "solid:pinkish"])


def test_bench_group_discovers_register_bench() -> None:
    # bench.register finds register_bench in every service.commands module: here, its own.
    sub = argparse.ArgumentParser().add_subparsers(dest="command")
    seen: list[str] = []
    original = bench.register_bench

    def spy(group: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        seen.append("vision")
        original(group)

    bench.register_bench = spy  # type: ignore[assignment]
    try:
        try:
            bench.register(sub)
        except ImportError:
            pytest.skip("another command module does not import yet")
    finally:
        bench.register_bench = original  # type: ignore[assignment]
    assert seen == ["vision"]


def test_bench_vision_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["bench", "vision", "--json", "--samples", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "decode_to_array_ms",
        "face_ms",
        "camera_ms",
        "torso_ms",
        "total_ms",
        "samples_per_second_one_core",
    ):
        assert out[key] > 0
    assert out["resolution"] == "640x480"
