"""The identity match (vision.identity, signaling.verdict) and enrolled faces
(service.enrolment, ``/api/v1/me/face``, ``/api/v1/staff/{id}/face``): real photographs of
the development set, the real app and database, a real aiortc call."""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import numpy.typing as npt
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from bench.loadgen.clients import HOME as STREAM_HOME
from bench.loadgen.clients import StreamSpec, one_stream
from service.clock import utcnow
from service.enrolment import call_identity, enrol, seal, unseal
from service.org import import_roster_text, load_policy, save_policy
from service.records import get_record
from service.schema import audit_log, face_enrolments, staff
from service.state import ENGINE, FACE_KEY, LINK_SECRET
from signaling.analysis import AnalyzerPool
from signaling.verdict import CallVerdict, CameraTimeline, IdentityEvidence, judge
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.call_helpers import ROSTER, Links, add_check, seed_org, still_of, stills_dir
from tests.test_analysis_pool import FakeCall, _camera
from vision.analyzer import FrameAnalyzer, prepare
from vision.config import DEFAULT_CONFIG
from vision.identity import (
    DEFAULT_IDENTITY,
    MODEL,
    CallIdentity,
    Descriptor,
    FaceAligner,
    FaceNet,
    judge_identity,
    usable,
)
from vision.verdict import Verdict

IMAGES = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "images"
# The live fixture's person (fixtures.generate: scikit-image's astronaut), and others.
ASTRONAUT = IMAGES / "pkg_skimage_astronaut.jpg"
HOPPER = IMAGES / "pkg_mpl_grace_hopper.jpg"  # closest to her of these: 0.71
OTHER = IMAGES / "cc0_iface_011.jpg"  # 0.79
NOBODY = IMAGES / "pkg_skimage_coffee.jpg"
ME = "/api/v1/me/face"
C = DEFAULT_IDENTITY


def _rgb(path: Path) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1])


def _b64(rgb: npt.NDArray[np.uint8], quality: int = 90) -> str:
    data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return base64.b64encode(bytes(data)).decode()


# -- the rules -------------------------------------------------------------------------


def test_fail_needs_several_matches_far_from_the_enrolled_face_and_none_near() -> None:
    far, near, between = C.reject_min + 0.1, C.accept_max - 0.1, (C.accept_max + C.reject_min) / 2
    assert judge_identity([near]).verdict is Verdict.PASS
    assert judge_identity([near, between]).verdict is Verdict.PASS
    assert judge_identity([far] * C.mismatch_matches).verdict is Verdict.FAIL
    assert judge_identity([far] * C.mismatch_matches).reasons[0] == "identity_mismatch"
    for weak in ([], [far] * (C.mismatch_matches - 1), [far] * 4 + [near], [between] * 5):
        judged = judge_identity(weak)
        assert judged.verdict is Verdict.INCONCLUSIVE, weak
        assert judged.reasons[0] == "identity_uncertain"
    scores = judge_identity([0.3, 0.9]).scores
    assert scores["matches"] == 2 and scores["distance_min"] == 0.3
    assert (scores["accept_max"], scores["reject_min"]) == (C.accept_max, C.reject_min)


def _judge(identity: IdentityEvidence | None, *, final: bool) -> CallVerdict:
    return judge(None, CameraTimeline(1.0), None, min_camera_on=0.9, final=final, identity=identity)


def test_not_enrolled_is_inconclusive_never_fail_and_absent_when_the_policy_is_off() -> None:
    far = judge_identity([C.reject_min + 0.2] * 5)
    for final in (False, True):
        verdict = _judge(IdentityEvidence(False, far, MODEL), final=final)
        assert verdict.identity is not None
        assert (verdict.identity.verdict, verdict.identity.reasons) == (
            Verdict.INCONCLUSIVE,
            ("not_enrolled",),
        )
        assert verdict.verdict is not Verdict.FAIL
        off = _judge(None, final=final)
        assert off.identity is None and "identity" not in off.criteria
        assert "identity" not in off.status_fields()["indicators"]
        assert "identity" not in off.to_dict()


def test_the_identity_criterion_is_pending_live_and_kept_through_a_snapshot() -> None:
    none_yet = IdentityEvidence(True, judge_identity([]), MODEL)
    live = _judge(none_yet, final=False)
    assert live.status_fields()["indicators"]["identity"] == {
        "state": "pending",
        "reason": "identity_uncertain",
    }
    final = _judge(none_yet, final=True)
    assert final.identity is not None and final.identity.state == "inconclusive"
    mismatch = _judge(IdentityEvidence(True, judge_identity([0.9, 0.95, 0.92]), MODEL), final=True)
    assert mismatch.verdict is Verdict.FAIL and "identity_mismatch" in mismatch.reasons
    assert mismatch.identity is not None and mismatch.identity.scores["model"] == MODEL
    assert CallVerdict.from_dict(mismatch.to_dict()) == mismatch
    older = {k: v for k, v in mismatch.to_dict().items() if k != "identity"}
    assert CallVerdict.from_dict(older).identity is None  # a snapshot saved before


# -- the match on real photographs -----------------------------------------------------------


@pytest.fixture(scope="module")
def describe() -> Any:
    analyzer, aligner, net = FrameAnalyzer(DEFAULT_CONFIG), FaceAligner(), FaceNet()

    def run(rgb: npt.NDArray[np.uint8]) -> Descriptor:
        frame = prepare(rgb, DEFAULT_CONFIG.max_side)
        box = usable(analyzer.analyze(frame, 0.0))
        assert box is not None
        return net.describe(aligner.chip(frame, box))

    yield run
    analyzer.close()


def test_the_same_person_matches_and_different_people_do_not(describe: Any) -> None:
    astronaut = describe(_rgb(ASTRONAUT))
    # The same photo as a call might show it: mirrored and recompressed.
    small = np.ascontiguousarray(_rgb(ASTRONAUT)[:, ::-1])
    bgr = cv2.imdecode(np.frombuffer(base64.b64decode(_b64(small, 40)), np.uint8), 1)
    again = describe(np.ascontiguousarray(bgr[:, :, ::-1]))
    assert float(np.linalg.norm(astronaut - again)) <= C.accept_max
    assert float(np.linalg.norm(astronaut - describe(_rgb(HOPPER)))) > C.accept_max
    assert float(np.linalg.norm(astronaut - describe(_rgb(OTHER)))) >= C.reject_min


def test_descriptors_are_sealed_for_one_person_under_one_key() -> None:
    key = AESGCM(AESGCM.generate_key(256))
    vectors = [np.linspace(-0.2, 0.2, 128, dtype=np.float32), np.ones(128, np.float32) / 12]
    sealed = seal(key, "staff1", vectors)
    plain = np.stack(vectors).astype("<f4").tobytes()
    assert plain not in sealed and plain[:64] not in sealed and len(sealed) == 12 + len(plain) + 16
    opened = unseal(key, "staff1", sealed)
    assert all(np.array_equal(a, b) for a, b in zip(opened, vectors, strict=True))
    with pytest.raises(ValueError):
        unseal(key, "staff2", sealed)  # a row moved to someone else
    with pytest.raises(ValueError):
        unseal(AESGCM(AESGCM.generate_key(256)), "staff1", sealed)  # another data dir's key


async def test_a_face_the_key_cannot_open_counts_as_not_enrolled(store: Any) -> None:
    await import_roster_text(store, json.dumps(ROSTER), "json", source="t", actor="test")
    vectors = [np.ones(128, np.float32) / 12]
    lost = AESGCM(AESGCM.generate_key(256))
    async with store.begin() as conn:
        await enrol(conn, lost, "staff1", vectors, source="admin", actor="t", now=utcnow())
        found = await call_identity(conn, AESGCM(AESGCM.generate_key(256)), "staff1")
        kept = await call_identity(conn, lost, "staff1")
    assert found.enrolled == () and len(kept.enrolled) == 1


# -- enrolment over the API -----------------------------------------------------------------


def _link(token: str) -> dict[str, str]:
    return {"Authorization": f"Link {token}"}


async def _put(client: TestClient[Any, Any], url: str, headers: dict[str, str], body: Any) -> Any:
    async with client.put(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def _identity_on(engine: Any) -> None:
    async with engine.begin() as conn:
        policy = replace(await load_policy(conn), identity_check=True)
        await save_policy(conn, policy, actor="test")


async def test_a_staff_member_enrols_with_consent_again_and_deletes(
    client: TestClient[Any, Any], links: Links
) -> None:
    engine, me = client.app[ENGINE], _link(links.tokens["staff1"])
    photo = _b64(_rgb(ASTRONAUT))
    # Nothing is collected while the policy does not check identity.
    status, answer = await _put(client, ME, me, {"consent": True, "images": [photo]})
    assert (status, answer["error"]["code"]) == (409, "identity_check_off")
    await _identity_on(engine)
    refused = {
        "no consent": ({"images": [photo]}, 400),
        "consent false": ({"consent": False, "images": [photo]}, 400),
        "no images": ({"consent": True, "images": []}, 400),
        "not base64": ({"consent": True, "images": ["%%%%"]}, 400),
        "not a JPEG": (
            {"consent": True, "images": [base64.b64encode(b"GIF89a" * 9).decode()]},
            400,
        ),
        "nobody": ({"consent": True, "images": [_b64(_rgb(NOBODY))] * 2}, 422),
        "two people": ({"consent": True, "images": [photo, _b64(_rgb(OTHER))]}, 422),
    }
    for name, (body, expected) in refused.items():
        status, answer = await _put(client, ME, me, body)
        assert status == expected, (name, answer)
    async with engine.connect() as conn:
        assert (await conn.execute(select(face_enrolments))).first() is None

    # A still without a usable face is left out and named; the others enrol.
    nobody = _b64(_rgb(NOBODY))
    status, enrolled = await _put(client, ME, me, {"consent": True, "images": [nobody, photo]})
    assert status == 201, enrolled
    assert enrolled["enrolled"] and enrolled["stills"] == 1 and enrolled["source"] == "self"
    assert enrolled["skipped"] == [{"image": 0, "reason": "no_face"}]
    assert MODEL in enrolled["model"]
    mirrored = _b64(np.ascontiguousarray(_rgb(ASTRONAUT)[:, ::-1]))
    status, again = await _put(client, ME, me, {"consent": True, "images": [photo, mirrored]})
    assert status == 201 and again["stills"] == 2 and again["skipped"] == []
    async with client.get(ME, headers=me) as r:
        assert r.status == 200 and (await r.json())["stills"] == 2
    async with engine.connect() as conn:
        rows = (await conn.execute(select(face_enrolments))).all()
        actions = list((await conn.execute(select(audit_log.c.action))).scalars())
    assert len(rows) == 1 and rows[0].staff_id == "staff1" and rows[0].count == 2
    # At rest the descriptors are ciphertext, not float vectors; the app's key opens them.
    vectors = unseal(client.app[FACE_KEY], "staff1", rows[0].descriptors)
    assert (
        len(vectors) == 2 and np.stack(vectors).astype("<f4").tobytes() not in rows[0].descriptors
    )
    assert float(np.linalg.norm(vectors[0] - vectors[1])) < C.accept_max
    assert actions.count("face.enrolled") == 2

    # A supervisor has no face to enrol here.
    status, _ = await _put(
        client, ME, _link(links.tokens["sup1"]), {"consent": True, "images": [photo]}
    )
    assert status == 403
    async with client.delete(ME, headers=me) as r:
        assert r.status == 204
    async with client.get(ME, headers=me) as r:
        assert (await r.json()) == {"staff_id": "staff1", "enrolled": False}
    async with engine.connect() as conn:
        assert (await conn.execute(select(face_enrolments))).first() is None


async def test_an_admin_imports_and_deletes_and_a_roster_that_lets_someone_go_deletes_theirs(
    client: TestClient[Any, Any], links: Links, config: Any
) -> None:
    engine = client.app[ENGINE]
    await _identity_on(engine)
    writer = bearer(await new_key(config.database_url, "roster:write"))
    reader = bearer(await new_key(config.database_url, "records:read"))
    body = {"consent": True, "images": [_b64(_rgb(ASTRONAUT))]}
    assert (await _put(client, "/api/v1/staff/staff1/face", reader, body))[0] == 403
    assert (await _put(client, "/api/v1/staff/nobody/face", writer, body))[0] == 404
    status, enrolled = await _put(client, "/api/v1/staff/staff2/face", writer, body)
    assert status == 201 and enrolled["source"] == "admin"
    async with client.delete("/api/v1/staff/staff2/face", headers=writer) as r:
        assert r.status == 204
    assert (await _put(client, "/api/v1/staff/staff1/face", writer, body))[0] == 201

    gone = json.loads(json.dumps(ROSTER))
    gone["staff"][0]["active"] = False  # staff1 leaves
    await import_roster_text(engine, json.dumps(gone), "json", source="t", actor="test")
    async with engine.connect() as conn:
        assert (await conn.execute(select(face_enrolments))).first() is None


# -- a call with identity on ----------------------------------------------------------------


async def _call(tmp_path: Path, enrol: Path | None) -> tuple[Any, dict[str, Any]]:
    """A real call of staff1 with the policy checking identity, staff1 enrolled from
    ``enrol`` (or not at all); the record's identity criterion and the record."""
    config = api_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
    media = await asyncio.to_thread(stills_dir, tmp_path / "stills")
    async with api_client(config) as client:
        engine = client.app[ENGINE]
        links = await seed_org(engine, tmp_path, client.app[LINK_SECRET])
        async with engine.begin() as conn:
            home = {"home_lat": STREAM_HOME[0], "home_lon": STREAM_HOME[1]}
            await conn.execute(staff.update().where(staff.c.id == "staff1").values(**home))
        await _identity_on(engine)
        if enrol is not None:
            writer = bearer(await new_key(config.database_url, "roster:write"))
            body = {"consent": True, "images": [_b64(_rgb(enrol))]}
            assert (await _put(client, "/api/v1/staff/staff1/face", writer, body))[0] == 201
        check = await add_check(engine, "staff1")
        spec = StreamSpec(links.tokens["sup1"], links.tokens["staff1"], check)
        async with aiohttp.ClientSession() as session:
            result = await one_stream(session, str(client.make_url("/ws")), spec, str(media), 5.0)
        assert result.error is None and result.record is not None, result
        async with engine.connect() as conn:
            record = await get_record(conn, result.record)
    assert record is not None
    return record, record.body["criteria"]["identity"]


async def test_a_call_with_identity_on_matches_the_enrolled_face_into_the_record(
    tmp_path: Path,
) -> None:
    record, identity = await _call(tmp_path, ASTRONAUT)
    assert identity["verdict"] == "pass" and identity["reasons"] == [], identity
    scores = identity["scores"]
    assert 1 <= scores["matches"] <= C.max_matches and scores["distance_min"] <= C.accept_max
    assert scores["accept_max"] == C.accept_max and MODEL in scores["model"]
    assert "descriptor" not in json.dumps(record.body)


async def test_a_call_of_someone_not_enrolled_is_inconclusive_not_failed(tmp_path: Path) -> None:
    record, identity = await _call(tmp_path, None)
    assert identity == {"verdict": "inconclusive", "reasons": ["not_enrolled"], "scores": {}}
    assert record.status == "inconclusive" and "not_enrolled" in record.body["reasons"]


async def test_a_dead_descriptor_process_costs_a_match_never_a_sample(
    describe: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The pool's one thread matches every usable sample (no interval, no cap) of a call
    # showing the astronaut; the descriptor process is killed midway: the samples go on,
    # and the matches resume in a new process.
    pool = AnalyzerPool(1, 1, replace(DEFAULT_CONFIG, sample_interval_s=0.2))
    await pool.warm()
    try:
        every = replace(C, interval_s=0.0, max_matches=1000)
        identity = CallIdentity((describe(_rgb(ASTRONAUT)),), every)
        small = np.asarray(cv2.resize(_rgb(ASTRONAUT), (480, 480)), dtype=np.uint8)
        picture = still_of(small)  # a still is ≤ 640×480
        call = FakeCall(pool, picture=picture, identity=identity)
        assert pool.admit(call)
        async with asyncio.timeout(60):
            while not identity.distances:
                await _camera([call], 0.5)
        for child in multiprocessing.active_children():  # the descriptor process
            child.kill()
        matched, taken = len(identity.distances), len(call.taken)
        async with asyncio.timeout(60):
            while len(identity.distances) == matched:
                await _camera([call], 0.5)
        assert len(call.taken) > taken
        assert all(d <= C.accept_max for d in identity.distances)
        assert "identity match failed" in caplog.messages  # the one match lost
    finally:
        pool.close()
