"""``hadir analyze --reference`` and ``--enrolled``: the identity criterion of a file,
matched as a call matches it, on clips of the development set's real photographs
(``fixtures.real_clips``), and against a face enrolled through the real API."""

from __future__ import annotations

import asyncio
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from aiohttp.test_utils import TestClient

from fixtures.devset import DevImage, load
from fixtures.real_clips import build_clip, frames, jpeg, write_stills
from service import cli
from service.config import Config
from service.keys import FACE_KEY_FILE
from service.state import ENGINE
from tests.api_helpers import bearer, new_key
from tests.call_helpers import Links
from tests.test_identity import _b64, _identity_on, _put, _rgb
from vision.identity import DEFAULT_IDENTITY, MODEL
from vision.verdict import Verdict, combine

C = DEFAULT_IDENTITY
IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "images"
# One person photographed twice (fixtures.identity_eval.SAME_PERSON: 0.280 apart).
EDWIN_CLIP, EDWIN_PHOTO = "pd18f_206_edwin_gsa", IMAGES / "pd18f_207_edwin_torres.jpg"
ASTRONAUT = "pkg_skimage_astronaut"
OTHER = "cc0_iface_006"  # another person: 0.95 from the astronaut's photo
ASTRONAUT_PHOTO = IMAGES / f"{ASTRONAUT}.jpg"
NOBODY = IMAGES / "pkg_skimage_coffee.jpg"
TEAM = IMAGES / "pd18f_355_field_team.jpg"  # three people, faces a quarter of the height


@cache
def _image(name: str) -> DevImage:
    return next(image for image in load() if image.id == name)


def _clip(name: str) -> Path:
    """The 6 s clip of a development-set photo (the clip cache, built if missing)."""
    return build_clip(_image(name), "original")


def _analyze(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli.main(["analyze", *argv, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    verdicts = [Verdict(c["verdict"]) for c in out["criteria"].values()]
    assert out["verdict"] == combine(verdicts).value  # identity folded in as in a call
    return out


def _scores_agree(identity: dict[str, Any]) -> None:
    """The criterion's scores carry the call's thresholds and model."""
    scores = identity["scores"]
    assert (scores["accept_max"], scores["reject_min"]) == (C.accept_max, C.reject_min)
    assert scores["model"].startswith(MODEL) and "dlib" in scores["model"]


def test_the_same_person_in_another_photo_passes(capsys: pytest.CaptureFixture[str]) -> None:
    out = _analyze(capsys, str(_clip(EDWIN_CLIP)), "--reference", str(EDWIN_PHOTO))
    identity = out["criteria"]["identity"]
    assert identity["verdict"] == "pass" and identity["reasons"] == [], identity
    assert identity["ok"] == "identity_ok"
    _scores_agree(identity)
    # A 6 s file: the first usable sample is matched, the next would be due at 15 s.
    assert identity["scores"]["matches"] == identity["scores"]["accepted"] == 1
    assert identity["scores"]["distance_max"] <= C.accept_max


def test_another_person_fails_only_on_the_rules_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 6 s of another person: one match, rejected; one odd frame never accuses anybody.
    out = _analyze(capsys, str(_clip(OTHER)), "--reference", str(ASTRONAUT_PHOTO))
    identity = out["criteria"]["identity"]
    assert identity["scores"]["matches"] == identity["scores"]["rejected"] == 1
    assert identity["verdict"] == "inconclusive" and identity["reasons"] == ["identity_uncertain"]
    assert out["verdict"] != "pass" and "identity_uncertain" in out["reasons"]

    # 33 s of the same camera: matches at 0, 15 and 30 s; when all three are rejected
    # and none accepted, the rule's evidence for a FAIL holds.
    times = tuple(float(t) for t in range(33))
    long_clip = tmp_path / "other.33s.mkv"
    pictures = frames(_image(OTHER), "original", times)
    write_stills(long_clip, zip(times, map(jpeg, pictures), strict=True))
    out = _analyze(capsys, str(long_clip), "--reference", str(ASTRONAUT_PHOTO))
    identity = out["criteria"]["identity"]
    scores = identity["scores"]
    assert scores["matches"] == C.mismatch_matches == 3
    assert scores["distance_min"] >= C.reject_min, scores  # the evidence: all rejected
    assert identity["verdict"] == "fail" and identity["reasons"] == ["identity_mismatch"]
    assert out["verdict"] == "fail" and "identity_mismatch" in out["reasons"]
    _scores_agree(identity)

    # The same verdict in words.
    assert cli.main(["analyze", str(long_clip), "--reference", str(ASTRONAUT_PHOTO)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{long_clip}: FAIL")
    assert "identity fail         identity_mismatch" in text
    assert f"3 matches: distance min {scores['distance_min']:.3f}" in text


def _write(path: Path, rgb: npt.NDArray[np.uint8]) -> Path:
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: NOBODY, "no face found (no_face)"),
        (lambda tmp: TEAM, "several faces: a reference shows one person (multiple_faces)"),
        (
            lambda tmp: _write(
                tmp / "tiny.png",
                np.asarray(cv2.resize(_rgb(ASTRONAUT_PHOTO), (96, 96)), dtype=np.uint8),
            ),
            f"the face is too small (under {C.min_face_px:g} px) (face_too_small)",
        ),
        (lambda tmp: _clip(ASTRONAUT), "a video; give a photo of the face"),
        (lambda tmp: tmp / "missing.jpg", "no such file"),
    ],
    ids=["no-face", "two-faces", "too-small", "a-video", "missing"],
)
def test_a_reference_without_one_usable_face_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    reference = make(tmp_path)
    assert cli.main(["analyze", str(_clip(ASTRONAUT)), "--reference", str(reference)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"hadir: --reference {reference}: "), captured.err
    assert message in captured.err


def _use_store(monkeypatch: pytest.MonkeyPatch, config: Config) -> None:
    """The CLI's configuration: the app's data dir and database, nothing else."""
    for name in [n for n in os.environ if n.startswith("HADIR_") or n == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HADIR_STORAGE_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("HADIR_STORAGE_DATABASE_URL", config.database_url)


async def test_enrolled_faces_are_read_from_the_database_with_the_data_dirs_key(
    client: TestClient[Any, Any],
    links: Links,
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # staff1 is enrolled as a staff member would be, through the API and the server's
    # descriptor process; staff2 is not.
    await _identity_on(client.app[ENGINE])
    writer = bearer(await new_key(config.database_url, "roster:write"))
    body = {"consent": True, "images": [_b64(_rgb(ASTRONAUT_PHOTO))]}
    assert (await _put(client, "/api/v1/staff/staff1/face", writer, body))[0] == 201
    _use_store(monkeypatch, config)
    clip = str(await asyncio.to_thread(_clip, ASTRONAUT))

    def analyze(*argv: str) -> int:  # the CLI runs its own event loop: in a thread
        return int(cli.main(["analyze", clip, *argv]))

    assert await asyncio.to_thread(analyze, "--enrolled", "staff1", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    identity = out["criteria"]["identity"]
    assert identity["verdict"] == "pass" and identity["scores"]["matches"] == 1, identity
    assert identity["scores"]["distance_max"] <= C.accept_max
    _scores_agree(identity)

    assert await asyncio.to_thread(analyze, "--enrolled", "staff2", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["criteria"]["identity"] == {
        "verdict": "inconclusive",
        "reasons": ["not_enrolled"],
        "ok": "",  # as in a call: no code to show for a pass that cannot come
        "scores": {},
    }
    assert out["verdict"] == "inconclusive" and "not_enrolled" in out["reasons"]
    assert await asyncio.to_thread(analyze, "--enrolled", "staff2") == 0
    assert "identity inconclusive not_enrolled" in capsys.readouterr().out

    assert await asyncio.to_thread(analyze, "--enrolled", "nobody") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--enrolled: no staff member 'nobody'" in captured.err


def test_enrolled_needs_the_data_dirs_key_and_excludes_reference(
    config: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_store(monkeypatch, config)
    clip = str(_clip(ASTRONAUT))
    both = ["analyze", clip, "--reference", str(ASTRONAUT_PHOTO), "--enrolled", "staff1"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(both)
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    # A data dir no server ever ran in has no key: nothing enrolled can be opened, and
    # no key is made there.
    assert cli.main(["analyze", clip, "--enrolled", "staff1"]) == 2
    assert f"no face key {FACE_KEY_FILE} in {config.data_dir}" in capsys.readouterr().err
    assert not (config.data_dir / FACE_KEY_FILE).exists()
