"""The pure parts of a call: rate limit, rooms, camera timeline, location, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signaling.camera_watch import CameraWatch, OffPeriod
from signaling.location import LocationResult, haversine_m, judge_error, judge_position
from signaling.ratelimit import TokenBucket
from signaling.rooms import ACTIVE, ENDED, RoomError, Rooms
from signaling.snapshot import CallSnapshot
from signaling.verdict import NAMES, CameraTimeline, judge
from vision.verdict import CheckVerdict, CriterionVerdict, Reason, Verdict

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert all(bucket.take(0.0) for _ in range(5))
    assert not bucket.take(0.0)
    assert bucket.take(0.1)  # one token back after 1/rate
    assert not bucket.take(0.1)


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=300))
def test_token_bucket_never_exceeds_burst_plus_rate(times: list[float]) -> None:
    bucket = TokenBucket(rate=2, burst=3)
    times = sorted(times)
    passed = sum(bucket.take(t) for t in times)
    span = times[-1] - times[0] if times else 0
    assert passed <= 3 + 2 * span + 1e-9


def test_room_state_machine() -> None:
    rooms = Rooms()
    room = rooms.open("chk", "staff1", "sup1", NOW + timedelta(minutes=5), NOW)
    with pytest.raises(RoomError) as busy:
        rooms.open("chk2", "staff1", "sup1", NOW, NOW)
    assert busy.value.code == "busy"
    room.accept(NOW)
    assert room.state == ACTIVE
    with pytest.raises(RoomError):
        room.accept(NOW)
    assert room.end("hangup", NOW, "supervisor") and not room.end("hangup", NOW, "staff")
    assert room.state == ENDED and rooms.for_staff("staff1") is None
    assert room.how_ended == "hung_up_by_supervisor"
    rooms.open("chk3", "staff1", "sup1", NOW, NOW)  # a new call once the old one ended


def test_camera_watch_counts_gaps_mute_and_hidden() -> None:
    watch = CameraWatch(max_gap_s=2.0, connect_grace_s=10.0)
    for i in range(10):  # frames every 0.2 s from t=1 to t=2.8
        watch.frame(1 + i * 0.2)
    watch.tick(6.8)  # quiet since 2.8: off from 4.8
    watch.frame(6.8)
    watch.set("page_hidden", True, 8.0)
    watch.set("page_hidden", False, 9.0)
    watch.frame(9.0)
    watch.frame(11.0)
    periods = watch.off_periods(11.0)
    assert [(p.start, p.end, p.causes) for p in periods] == [
        (pytest.approx(4.8), 6.8, ("no_frames",)),
        (8.0, 9.0, ("page_hidden",)),
    ]
    assert watch.on_fraction(11.0) == pytest.approx(1 - 3.0 / 10.0)


def test_time_away_is_not_measured_until_the_camera_is_back() -> None:
    def frames(watch: CameraWatch, start: float, end: float) -> None:
        for i in range(int((end - start) / 0.5) + 1):
            watch.frame(start + i * 0.5)

    back = CameraWatch(max_gap_s=2.0, connect_grace_s=5.0)
    frames(back, 0, 10)
    back.away(10.0)
    back.tick(20.0)
    back.frame(15.0)  # a late frame of the leg that went away: not a return
    back.back(30.0)
    frames(back, 31, 40)  # the new leg's first frame ends the time away
    assert back.on_fraction(40.0) == pytest.approx(1.0)

    silent = CameraWatch(max_gap_s=2.0, connect_grace_s=5.0)
    frames(silent, 0, 10)
    silent.away(10.0)
    silent.back(30.0)  # rejoined, but no camera: measured again from 35, and off
    assert silent.on_fraction(40.0) == pytest.approx(1 - 5 / 15)


def test_camera_watch_without_any_frame_is_off_after_the_grace() -> None:
    watch = CameraWatch(connect_grace_s=5.0)
    assert watch.on_fraction(3.0) is None
    assert watch.on_fraction(15.0) == 0.0


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=60),
            st.sampled_from(["frame", "muted", "page_hidden", "camera_black", "tick"]),
            st.booleans(),
        ),
        max_size=60,
    )
)
def test_camera_on_fraction_is_a_fraction(events: list[tuple[float, str, bool]]) -> None:
    watch = CameraWatch()
    for t, kind, on in sorted(events):
        if kind == "frame":
            watch.frame(t)
        elif kind == "tick":
            watch.tick(t)
        else:
            watch.set(kind, on, t)
    fraction = watch.on_fraction(61.0)
    assert fraction is None or 0.0 <= fraction <= 1.0
    for p in watch.off_periods(61.0):
        assert p.start <= p.end


def test_location_distance_and_verdicts() -> None:
    home = (-6.2088, 106.8456)
    assert haversine_m(*home, *home) == 0
    # One degree of latitude is about 111.2 km.
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)
    assert judge_position(-6.2089, 106.8456, 15, home, 200).state == "pass"
    far = judge_position(-6.30, 106.8456, 15, home, 200)
    assert (far.state, far.reason) == ("fail", "outside_home") and far.distance_m
    assert judge_position(-6.2110, 106.8456, 100, home, 200).reason == "inaccurate"
    assert judge_position(-6.2, 106.8, 10, None, 200).reason == "no_home"
    assert judge_error("denied").reason == "permission_denied"
    assert set(far.to_dict()) == {"result", "reason", "distance_m"}  # never coordinates


def test_indicators_pending_while_live_then_final() -> None:
    live = judge(None, CameraTimeline(None), None, min_camera_on=0.9, final=False)
    assert {k: v.state for k, v in live.criteria.items()} == dict.fromkeys(NAMES, "pending")
    assert live.status_fields()["verdict"] == "pending"
    final = judge(None, CameraTimeline(None), None, min_camera_on=0.9, final=True)
    assert final.face.state == "inconclusive" and final.camera.reason == "no_frames"

    def vision(camera: Verdict = Verdict.PASS, *reasons: Reason) -> CheckVerdict:
        ok = CriterionVerdict(Verdict.PASS, (), {}, ())
        return CheckVerdict(
            camera, ok, CriterionVerdict(camera, reasons, {}, ()), ok, reasons, (), "1", "any"
        )

    at_home = LocationResult(Verdict.PASS, "at_home", 12.0)
    on = CameraTimeline(1.0)
    ok = judge(vision(), on, at_home, min_camera_on=0.9, final=True)
    assert ok.state == "pass" and ok.face.reason == "face_ok"
    hidden = CameraTimeline(1.0, frozenset({"page_hidden"}))
    live = judge(vision(), hidden, at_home, min_camera_on=0.9, final=False)
    assert live.camera.indicator() == {"state": "pending", "reason": "page_hidden"}
    off = judge(vision(), CameraTimeline(0.5), at_home, min_camera_on=0.9, final=True)
    assert off.camera.indicator() == {"state": "fail", "reason": "camera_off"}
    covered = judge(
        vision(Verdict.FAIL, Reason.CAMERA_COVERED), on, at_home, min_camera_on=0.9, final=True
    )
    assert covered.camera.reason == "camera_covered" and covered.state == "fail"


@pytest.mark.parametrize(
    ("reason", "by", "how"),
    [
        ("cancelled", "staff", "hung_up_by_staff"),
        ("disconnected", "staff", "staff_dropped"),
        ("disconnected", "supervisor", "supervisor_dropped"),
        ("window_ended", None, "window_ended"),
        ("server_shutdown", None, "server_stopped"),
    ],
)
def test_a_room_says_how_it_ended(reason: str, by: str | None, how: str) -> None:
    room = Rooms().open("chk", "staff1", "sup1", NOW, NOW)
    room.end(reason, NOW, by)
    assert room.how_ended == how


def test_a_saved_snapshot_reads_back_and_an_interrupted_call_never_fails() -> None:
    vision = CheckVerdict(
        Verdict.FAIL,
        CriterionVerdict(Verdict.PASS, (), {"present": 1.0, "usable_samples": 9}, ()),
        CriterionVerdict(Verdict.FAIL, (Reason.CAMERA_COVERED,), {"samples": 9}, ()),
        CriterionVerdict(Verdict.PASS, (), {"median_solid_share": float("nan")}, ()),
        (Reason.CAMERA_COVERED,),
        (),
        "2",
        "any",
    )
    outside = LocationResult(Verdict.FAIL, "outside_home", 900.0)
    seen = judge(vision, CameraTimeline(0.4), outside, min_camera_on=0.9, final=False)
    assert seen.verdict is Verdict.FAIL
    snap = CallSnapshot(seen, 12.34, 9, (OffPeriod(1.0, 8.5, ("camera_covered",)),))
    back = CallSnapshot.from_json(snap.to_json())
    assert back.verdict.uniform.scores == {"median_solid_share": None}  # no NaN in JSON
    assert back.verdict.face == seen.face and back.verdict.location == seen.location
    assert (back.samples, back.elapsed_s, back.off_periods) == (9, 12.3, snap.off_periods)
    cut = back.interrupted()
    assert cut.verdict is Verdict.INCONCLUSIVE and cut.camera.verdict is Verdict.FAIL
    assert cut.reasons[0] == "interrupted" and "outside_home" in cut.reasons
    nothing = CallSnapshot.nothing_seen().interrupted()
    assert nothing.verdict is Verdict.INCONCLUSIVE
    assert all(c.verdict is not Verdict.FAIL for c in nothing.criteria.values())
