"""A call's verdict, live and final, and the record it becomes (signaling.verdict,
signaling.record, service.records): one fold, the same answer on every side."""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import utcnow
from service.record_writer import RecordWriter
from service.records import canonical, chain_hash, iso
from service.schema import calls
from signaling.analysis import AnalyzerPool
from signaling.auth import CallTarget
from signaling.location import LocationResult
from signaling.messages import Location
from signaling.record import close_call, interrupt_call, mark_answered, open_call
from signaling.rooms import Room
from signaling.session import CallOutcome, CallSession, CallSettings
from signaling.verdict import CallVerdict, CameraTimeline, judge
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.call_helpers import HOME, add_check, seed_org
from tests.conftest import StoreTarget
from tests.test_vision_units import _sample, _window
from vision.config import DEFAULT_CONFIG
from vision.verdict import CheckVerdict, Verdict

KEY = Ed25519PrivateKey.generate()
AT_HOME = LocationResult(Verdict.PASS, "at_home", 12.5)
ON = CameraTimeline(1.0)


def _passing() -> CheckVerdict:
    return _window([_sample(float(i)) for i in range(6)]).verdict()


def _both(
    vision: CheckVerdict | None, timeline: CameraTimeline, location: LocationResult | None
) -> tuple[CallVerdict, CallVerdict]:
    return (
        judge(vision, timeline, location, final=False, min_camera_on=0.9),
        judge(vision, timeline, location, final=True, min_camera_on=0.9),
    )


def test_vision_verdict_stands_when_the_call_agrees() -> None:
    vision = _passing()
    live, final = _both(vision, ON, AT_HOME)
    assert live.status_fields() == final.status_fields()
    assert final.state == "pass" and final.reasons == ()
    assert final.face.scores == vision.face.scores and final.version == vision.version
    assert final.colour_seen == vision.uniform.colour and final.distance_m == 12.5
    assert final.location.indicator() == {"state": "pass", "reason": "at_home"}


def test_camera_off_for_too_long_fails_live_and_final_alike() -> None:
    live, final = _both(_passing(), CameraTimeline(0.5), AT_HOME)
    for v in (live, final):
        assert v.state == "fail" and v.reasons == ("camera_off",)
        assert v.camera.indicator() == {"state": "fail", "reason": "camera_off"}
    # Still off at the end: the cause leads, vision's own reasons follow.
    covered = judge(
        replace(_passing(), camera=replace(_passing().camera, verdict=Verdict.INCONCLUSIVE)),
        CameraTimeline(0.4, frozenset({"camera_covered", "page_hidden"})),
        AT_HOME,
        min_camera_on=0.9,
        final=True,
    )
    assert (covered.camera.verdict, covered.camera.reasons) == (Verdict.FAIL, ("camera_covered",))


def test_pictures_that_stop_arriving_are_no_evidence_of_a_camera_off() -> None:
    # Half the call without pictures and nothing else: a network, a browser or a busy
    # server as much as a camera. INCONCLUSIVE, live and final alike.
    silent = CameraTimeline(0.5, frozenset({"no_frames"}), shown_on=1.0)
    for v in _both(_passing(), silent, AT_HOME):
        assert v.verdict is Verdict.INCONCLUSIVE and v.reasons == ("no_frames",)
        assert v.camera.indicator() == {"state": "inconclusive", "reason": "no_frames"}
    # The page said its track was muted for long enough: that is evidence, and it leads.
    muted = CameraTimeline(0.3, frozenset({"muted", "no_frames"}), shown_on=0.6)
    for v in _both(_passing(), muted, AT_HOME):
        assert v.state == "fail" and v.camera.reasons == ("muted",)
    # Shown off for too long, then back on with only a gap in the pictures since.
    back = CameraTimeline(0.4, frozenset({"no_frames"}), shown_on=0.7)
    assert _both(_passing(), back, AT_HOME)[1].camera.reasons == ("camera_off",)


def test_a_camera_off_now_is_pending_live_while_its_share_is_enough() -> None:
    hidden = CameraTimeline(0.95, frozenset({"page_hidden"}))
    live, final = _both(_passing(), hidden, AT_HOME)
    assert live.camera.indicator() == {"state": "pending", "reason": "page_hidden"}
    assert live.state == "pending" and live.verdict is Verdict.PASS  # what the record would say
    assert final.state == "pass" and final.camera.indicator() == {
        "state": "pass",
        "reason": "camera_ok",
    }


def test_short_of_evidence_is_pending_live_and_inconclusive_final() -> None:
    live, final = _both(None, CameraTimeline(None), None)
    assert {n: c.state for n, c in live.criteria.items()} == dict.fromkeys(live.criteria, "pending")
    assert live.state == "pending" and live.location.reason == "waiting"
    # Answered, but not one picture ever arrived: nothing showed the camera off either.
    assert final.state == "inconclusive"
    assert final.reasons == ("too_few_samples", "no_frames", "not_sent")
    assert final.camera.indicator() == {"state": "inconclusive", "reason": "no_frames"}
    _, on = _both(None, ON, None)
    assert on.verdict is Verdict.INCONCLUSIVE and on.location.indicator() == {
        "state": "inconclusive",
        "reason": "not_sent",
    }


def test_an_unwatched_call_is_inconclusive_never_failed() -> None:
    final = judge(
        None, CameraTimeline(None), AT_HOME, min_camera_on=0.9, final=True, analysed=False
    )
    assert final.verdict is Verdict.INCONCLUSIVE
    assert final.reasons == ("analysis_unavailable",)


def test_reason_codes_pass_through_whatever_vision_names_them() -> None:
    vision = _passing()
    odd = replace(vision.face, verdict=Verdict.INCONCLUSIVE, reasons=("person_not_face",))  # type: ignore[arg-type]
    final = judge(replace(vision, face=odd), ON, AT_HOME, min_camera_on=0.9, final=True)
    assert final.reasons == ("person_not_face",) and final.face.reason == "person_not_face"


# --- the real path: a call's session → close_call → record writer → store → API ----------

LOCK = (5.0, 18.0)  # the phone locked for 13 s: page hidden, no frames
END = 30.0


def _session(room: Room, check: str) -> CallSession:
    target = CallTarget(
        check, "staff1", "Siti", "sup1", room.created_at, room.window_end, "solid:khaki", HOME, 200
    )
    settings = CallSettings(sample_interval_s=1.0, min_camera_on=0.9)

    async def publish(_: dict[str, Any]) -> None:
        return None

    return CallSession(room, target, settings, AnalyzerPool(1, 1), publish)


def _phone_lock(session: CallSession) -> None:
    """A 30 s call: frames five times a second and a sample a second, except while
    the phone is locked; the page reports itself hidden for that time."""
    for tick in range(int(END * 5) + 1):
        t = tick / 5
        if LOCK[0] < t < LOCK[1]:
            continue
        if t == LOCK[1]:
            session.watch.set("page_hidden", False, t)
        session.watch.frame(t)
        if t == int(t):
            session.take(_sample(t), 0.05)
        if t == LOCK[0]:
            session.watch.set("page_hidden", True, t)


async def test_a_phone_lock_reads_the_same_live_at_the_end_and_in_every_field_of_the_record(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    await seed_org(store, tmp_path, secrets.token_bytes(32))
    now = utcnow().replace(microsecond=0)
    check = await add_check(store, "staff1", uniform="solid:khaki", now=now)
    room = Room("call_lock", check, "staff1", "sup1", now + timedelta(minutes=10), now)
    await open_call(store, room)
    room.accept(now + timedelta(seconds=5))
    session = _session(room, check)
    _phone_lock(session)
    near = Location(room.id, HOME[0] + 0.0003, HOME[1], 10)
    assert session.set_location(near).state is Verdict.PASS

    # Once the phone is back on, the share on (17 of 30 s) is below the minimum: the live
    # status already says what the record will say.
    live = session.verdict(END, final=False).status_fields()
    final = session.verdict(END, final=True)
    camera_off = {"state": "fail", "reason": "camera_off"}
    assert live == final.status_fields()
    assert live["verdict"] == "fail" and live["indicators"]["camera"] == camera_off
    assert live["camera_on"] == pytest.approx(17 / 30, abs=1e-3)

    assert room.answered_at is not None
    room.end("hangup", room.answered_at + timedelta(seconds=END), "staff")
    writer = RecordWriter(store, KEY)
    try:
        record = await close_call(writer, room, CallOutcome(room, END, final, None))
    finally:
        await writer.close()
    assert record is not None and record.status == "failed"

    config = api_config(tmp_path, store_target.url)
    key = await new_key(store_target.url, "records:read")
    async with api_client(config) as client:
        r = await client.get(f"/api/v1/records/{record.id}", headers=bearer(key))
        assert r.status == 200
        got = await r.json()

    vision = session.vision
    assert vision is not None and vision.uniform.colour is not None
    assert vision.camera.scores["samples"] == 19 and vision.verdict is Verdict.PASS

    def scores(criterion: Any) -> dict[str, Any]:
        return {k: v for k, v in criterion.scores.items() if not isinstance(v, dict | list)}

    assert got["body"] == {
        "v": 1,
        "seq": record.seq,
        "id": record.id,
        "kind": "verification",
        "check_id": check,
        "staff_id": "staff1",
        "unit_id": "u1",
        "status": "failed",
        "created_at": iso(record.created_at),
        "supervisor_id": "sup1",
        "scheduled": {
            "due_at": iso(now - timedelta(minutes=5)),
            "window_start": iso(now - timedelta(minutes=5)),
            "window_end": iso(now + timedelta(minutes=10)),
        },
        "call": {
            "id": "call_lock",
            "started_at": iso(now + timedelta(seconds=5)),
            "ended_at": iso(now + timedelta(seconds=35)),
            "end": "hung_up_by_staff",
        },
        "reasons": ["camera_off"],
        "criteria": {
            "face": {"verdict": "pass", "reasons": [], "scores": scores(vision.face)},
            "camera": {
                "verdict": "fail",
                "reasons": ["camera_off"],
                "scores": scores(vision.camera),
            },
            "uniform": {"verdict": "pass", "reasons": [], "scores": scores(vision.uniform)},
        },
        "camera_on_fraction": 0.567,
        "location": {
            "distance_m": pytest.approx(33.4, abs=0.1),
            "result": "inside",
            "reason": "at_home",
        },
        "uniform": {
            "expected": "solid:khaki",
            "seen": {"name": vision.uniform.colour["name"], "hex": vision.uniform.colour["hex"]},
        },
        "vision_version": DEFAULT_CONFIG.version,
        "evidence": None,
        "review_state": "unreviewed",
    }
    assert got["body"]["uniform"]["seen"]["name"] == "khaki"
    assert got["body"]["criteria"]["uniform"]["scores"]["policy"] == "solid:khaki"
    # The API's copy is the signed one.
    assert got["hash"] == chain_hash(got["prev_hash"], canonical(got["body"])) == record.hash
    KEY.public_key().verify(base64.b64decode(got["signature"]), bytes.fromhex(got["hash"]))
    async with store.connect() as conn:
        row = (await conn.execute(select(calls).where(calls.c.id == room.id))).one()
    assert (row.status, row.location_result, row.camera_on_fraction) == ("hangup", "inside", 0.567)
    assert row.location_distance_m == pytest.approx(33.4, abs=0.1)


async def test_an_answer_stored_after_the_end_keeps_the_end(
    store: AsyncEngine, tmp_path: Path
) -> None:
    # The staff page answers; the supervisor's page closes while the answer's write waits
    # for the database: the end is stored first, and the answer must not undo it.
    await seed_org(store, tmp_path, secrets.token_bytes(32))
    now = utcnow().replace(microsecond=0)
    check = await add_check(store, "staff1", now=now)
    room = Room("call_race", check, "staff1", "sup1", now + timedelta(minutes=10), now)
    await open_call(store, room)
    room.accept(now + timedelta(seconds=5))
    room.end("disconnected", now + timedelta(seconds=6), "supervisor")
    await interrupt_call(store, room, None, "supervisor_dropped")
    await mark_answered(store, room)
    async with store.connect() as conn:
        row = (await conn.execute(select(calls.c.status, calls.c.answered_at))).one()
    assert row.status == "supervisor_dropped"
    assert row.answered_at is not None
    # In the usual order the answer makes a ringing row active.
    other = Room("call_usual", check, "staff1", "sup1", now + timedelta(minutes=10), now)
    await open_call(store, other)
    other.accept(now + timedelta(seconds=5))
    await mark_answered(store, other)
    async with store.connect() as conn:
        status = (
            await conn.execute(select(calls.c.status).where(calls.c.id == other.id))
        ).scalar_one()
    assert status == "active"
