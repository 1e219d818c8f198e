"""``hadir analyze`` and ``hadir bench vision`` through their argparse registration."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from service import cli
from service.commands import analyze, bench
from tests.vision_fixtures import CASES, Case, assert_case
from vision.config import DEFAULT_CONFIG


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


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_analyze_gives_each_fixture_its_verdict(
    media: dict[str, Path], capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    assert _run(["analyze", str(media[case.name]), "--uniform", case.policy, "--json"]) == 0
    assert_case(json.loads(capsys.readouterr().out), case)


def test_analyze_json_shape(
    media: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(["analyze", str(media["khaki"]), "--uniform", "solid:khaki", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"verdict", "criteria", "reasons", "samples", "version"}
    assert out["verdict"] == "pass" and out["reasons"] == []
    assert out["version"] == DEFAULT_CONFIG.version
    assert set(out["criteria"]) == {"face", "camera", "uniform"}
    for crit in out["criteria"].values():
        assert {"verdict", "reasons", "scores"} <= set(crit)
        assert crit["verdict"] in ("pass", "fail", "inconclusive")
    colour = out["criteria"]["uniform"]["colour"]
    assert colour["name"] == "khaki" and re.fullmatch(r"#[0-9A-F]{6}", colour["hex"])
    assert len(out["samples"]) == 6 and out["samples"][0]["t"] == 0.0


def test_analyze_text(
    media: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run(["analyze", str(media["black"])]) == 0
    text = capsys.readouterr().out
    assert "FAIL" in text and "camera_black" in text


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated_webm(tmp_path: Path, media: dict[str, Path]) -> Path:
    path = tmp_path / "cut.webm"
    data = media["live.webm"].read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, media: tmp / "nope.mp4", "no such file"),
        (lambda tmp, media: _write(tmp / "zero.y4m", b""), "file is empty"),
        (
            lambda tmp, media: _write(tmp / "notes.mp4", b"not a video at all\n"),
            "cannot read as video or image",
        ),
        (_truncated_webm, "file is truncated"),
    ],
    ids=["missing", "zero-byte-y4m", "text-named-mp4", "truncated-webm"],
)
def test_analyze_unreadable_file_exits_2(
    tmp_path: Path,
    media: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    make: Any,
    message: str,
) -> None:
    path = make(tmp_path, media)
    assert cli.main(["analyze", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"hadir: {path}: ") and message in captured.err


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("solid:pinkish", "unknown colour 'pinkish'"),
        ("stripes", "unknown uniform policy"),
        ("solid:#12345", "not a hex colour"),
        ("any:red", "takes no colours"),
    ],
)
def test_analyze_bad_policy_exits_2(
    media: dict[str, Path], capsys: pytest.CaptureFixture[str], policy: str, message: str
) -> None:
    assert cli.main(["analyze", str(media["live"]), "--uniform", policy]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hadir: --uniform: ") and message in err


def test_bench_group_discovers_register_bench() -> None:
    # bench.register calls its own register_bench, then every bench module's.
    sub = argparse.ArgumentParser().add_subparsers(dest="command")
    seen: list[str] = []
    original = bench.register_bench

    def spy(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        seen.append("vision")
        original(group)

    bench.register_bench = spy
    try:
        bench.register(sub)
    finally:
        bench.register_bench = original
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
        "identity_descriptor_ms",
        "challenge_frame_ms",
    ):
        assert out[key] > 0
    assert out["resolution"] == "640x480"
