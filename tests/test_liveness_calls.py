"""The liveness challenge in live calls (signaling.challenge): the protocol, the rules of
the ``liveness`` criterion, and calls over a real socket whose staff page sends real
JPEG stills, measured by the real pool and FaceMesh, into the record."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse
from aiohttp.test_utils import TestClient

from fixtures.generate import frames
from service.commands.policy import describe
from service.org import load_policy, save_policy
from service.policy import Policy, PolicyError
from service.records import get_record
from service.state import ENGINE
from service.web.i18n import MESSAGES
from signaling import challenge as ch
from signaling.challenge import CallChallenges, ChallengeRecord, auto_delay
from signaling.messages import AskChallenge, ProtocolError, parse
from signaling.rooms import RoomError
from signaling.server import HUB
from signaling.snapshot import CallSnapshot
from signaling.stills import encode_header
from signaling.verdict import CallVerdict, CameraTimeline, LivenessEvidence, judge
from tests.call_helpers import Links, add_check, still_of
from tests.test_signaling_server import answered, client, joined, links, recv  # noqa: F401
from tests.test_stills import photo  # noqa: F401
from vision.liveness import (
    Action,
    Finding,
    HeadPose,
    LivenessConfig,
    Observation,
    Outcome,
    issue,
)
from vision.verdict import Verdict

CONFIG = LivenessConfig()
ANSWER_S = CONFIG.answer_s + ch.MEASURE_GRACE_S


# -- the protocol ---------------------------------------------------------------------------


def test_the_challenge_message_is_parsed_and_bad_ones_are_refused() -> None:
    assert parse(json.dumps({"type": "challenge", "call": "call_1"})) == AskChallenge("call_1")
    for bad in (
        {"type": "challenge"},
        {"type": "challenge", "call": ""},
        {"type": "challenge", "call": "a/b"},
        {"type": "challenge", "call": 7},
        {"type": "challenge", "call": "c", "action": "turn_left"},  # the server chooses
        {"type": "challenge", "call": "c", "nonce": "0" * 16},
    ):
        with pytest.raises(ProtocolError) as caught:
            parse(json.dumps(bad))
        assert (caught.value.code, caught.value.ref) == ("invalid", "challenge"), bad


def test_every_action_and_finding_has_its_words() -> None:
    for lang in ("id", "en"):
        for action in Action:
            assert f"challenge.{action}" in MESSAGES[lang]
        for finding in (*Finding, ch.PAGE_AWAY, ch.CUT_SHORT):
            assert f"challenge.finding.{finding}" in MESSAGES[lang]
        for outcome in Outcome:
            assert f"challenge.outcome.{outcome}" in MESSAGES[lang]
        for code in ("liveness_ok", "liveness_failed", "liveness_inconclusive"):
            assert f"r.{code}" in MESSAGES[lang]


def test_the_policy_field_is_off_by_default_and_validated() -> None:
    assert Policy().liveness_check is False
    assert Policy.from_dict({"liveness_check": True}).liveness_check is True
    assert Policy.from_dict(Policy(liveness_check=True).to_dict()).liveness_check is True
    with pytest.raises(PolicyError, match="liveness_check"):
        Policy.from_dict({"liveness_check": "yes"})
    assert "liveness:        off" in describe(Policy())  # hadir policy show
    assert "one challenge per call" in describe(Policy(liveness_check=True))


# -- the rules, pure --------------------------------------------------------------------------


def _pose(yaw: float = 0.0, width: float = 0.3) -> HeadPose:
    return HeadPose(yaw, width, 0.3)


def test_one_challenge_at_a_time_and_a_few_per_call() -> None:
    challenges = CallChallenges(random.Random(1))
    first = challenges.issue(2.0)
    assert first == issue(random.Random(1), 2.0, CONFIG)  # vision.liveness chose it
    with pytest.raises(RoomError) as caught:
        challenges.issue(3.0)
    assert caught.value.code == "challenge_open"
    assert challenges.close(first.deadline) is not None and challenges.open is None
    for t in range(ch.MAX_PER_CALL - 1):
        challenges.close(challenges.issue(10.0 + t).deadline)
    with pytest.raises(RoomError) as caught:
        challenges.issue(30.0)
    assert caught.value.code == "challenge_limit"
    assert len(challenges.results) == ch.MAX_PER_CALL


def test_an_answer_closes_the_challenge_at_once_and_stale_measurements_are_dropped() -> None:
    challenges = CallChallenges(random.Random(3))
    asked = challenges.issue(0.0)
    sign = {"turn_left": 1, "turn_right": -1}.get(str(asked.action))
    moved = _pose(0.0, 0.45) if sign is None else _pose(sign * 30.0)
    assert challenges.observe(asked.nonce, Observation(0.2, _pose())) is None
    assert challenges.observe("somethingelse", Observation(0.3, moved)) is None
    for t in (1.0, 1.5, 2.0):
        result = challenges.observe(asked.nonce, Observation(t, moved))
        if result is not None:
            break
    assert result is not None and result.outcome is Outcome.PASSED
    assert result.finding == "answered" and challenges.open is None
    assert challenges.observe(asked.nonce, Observation(2.5, moved)) is None  # closed


def test_a_page_gone_or_a_call_ended_early_is_never_a_failure_even_after_frozen_stills() -> None:
    challenges = CallChallenges(random.Random(4))
    asked = challenges.issue(0.0)
    for i in range(6):
        challenges.observe(asked.nonce, Observation(0.1 + i * 0.25, _pose(), frozen=i > 0))
    away = challenges.abandon()
    assert away is not None and away.outcome is Outcome.INCONCLUSIVE
    assert away.finding == ch.PAGE_AWAY and away.frames == 6
    again = challenges.issue(5.0)  # the same frozen stills, judged at the deadline: failed
    for i in range(6):
        challenges.observe(again.nonce, Observation(5.1 + i * 0.25, _pose(), frozen=i > 0))
    closed = challenges.close(again.deadline)
    assert closed is not None and (closed.outcome, closed.finding) == (Outcome.FAILED, "frozen")
    # The same again, but the call ends at 2 s: its frozen second is not its whole time.
    early = challenges.issue(20.0)
    for i in range(6):
        challenges.observe(early.nonce, Observation(20.1 + i * 0.25, _pose(), frozen=i > 0))
    cut = challenges.close(22.0)
    assert cut is not None and (cut.outcome, cut.finding) == (Outcome.INCONCLUSIVE, ch.CUT_SHORT)


def _record(outcome: Outcome, finding: str) -> ChallengeRecord:
    return ChallengeRecord("turn_left", "ab" * 8, 6.0, 14.0, outcome, finding, 9, 2.5, ch.MODEL)


def _judge(evidence: LivenessEvidence | None, *, final: bool) -> CallVerdict:
    return judge(None, CameraTimeline(1.0), None, min_camera_on=0.9, final=final, liveness=evidence)


def test_the_liveness_criterion_fails_only_on_a_failed_challenge() -> None:
    passed, failed = _record(Outcome.PASSED, "answered"), _record(Outcome.FAILED, "frozen")
    unclear = _record(Outcome.INCONCLUSIVE, "no_response")
    cases = {
        (passed,): (Verdict.PASS, ()),
        (failed,): (Verdict.FAIL, ("liveness_failed",)),
        (unclear,): (Verdict.INCONCLUSIVE, ("liveness_inconclusive",)),
        (unclear, passed): (Verdict.PASS, ()),
        (passed, failed): (Verdict.FAIL, ("liveness_failed",)),
        (): (Verdict.INCONCLUSIVE, ("liveness_inconclusive",)),  # the policy's, not run
    }
    for results, (verdict, reasons) in cases.items():
        criterion = _judge(LivenessEvidence(True, results, False, ch.MODEL), final=True).liveness
        assert criterion is not None and (criterion.verdict, criterion.reasons) == (
            verdict,
            reasons,
        ), results
    none_run = _judge(LivenessEvidence(True, (), False, ch.MODEL), final=True)
    assert none_run.liveness is not None and none_run.liveness.scores["finding"] == ch.NOT_RUN
    assert none_run.verdict is not Verdict.FAIL
    # Live: pending while the policy's challenge is to come or one is open.
    live = _judge(LivenessEvidence(True, (), False, ch.MODEL), final=False)
    assert live.status_fields()["indicators"]["liveness"]["state"] == "pending"
    open_ = _judge(LivenessEvidence(False, (unclear,), True, ch.MODEL), final=False)
    assert open_.liveness is not None and open_.liveness.pending
    # Absent when the policy asks for none and none was run: calls read as before.
    off = _judge(None, final=True)
    assert off.liveness is None and "liveness" not in off.to_dict()
    assert "challenges" not in off.to_dict()


def test_the_challenges_are_kept_through_a_snapshot() -> None:
    results = (_record(Outcome.INCONCLUSIVE, "page_away"), _record(Outcome.FAILED, "frozen"))
    verdict = _judge(LivenessEvidence(False, results, False, ch.MODEL), final=False)
    snapshot = CallSnapshot.from_json(CallSnapshot(verdict, 20.0, 12).to_json())
    assert snapshot.verdict == verdict and snapshot.verdict.challenges == results
    assert snapshot.interrupted().challenges == results


def test_the_policy_challenge_comes_5_to_20_s_after_the_answer() -> None:
    delays = [auto_delay(random.Random(seed)) for seed in range(200)]
    assert all(ch.AUTO_AFTER_S[0] <= d <= ch.AUTO_AFTER_S[1] for d in delays)
    assert max(delays) - min(delays) > 10  # spread, not fixed


# -- calls over a real socket -----------------------------------------------------------------


async def _active(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
) -> tuple[ClientWebSocketResponse, ClientWebSocketResponse, str]:
    """``answered``, once the supervisor's page knows the call is active."""
    sup1, staff1, call = await answered(client, links)
    while (await recv(sup1, "state"))["state"] != "active":
        pass
    return sup1, staff1, call


async def _send_stills(
    ws: ClientWebSocketResponse, call: str, jpegs: list[bytes], start: int, every_s: float
) -> int:
    """Send the stills ``every_s`` apart, as the page does; the next sequence number."""
    for i, jpeg in enumerate(jpegs):
        await ws.send_bytes(encode_header(call, start + i, 0.0) + jpeg)
        await asyncio.sleep(every_s)
    return start + len(jpegs)


async def _challenge_result(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    jpegs: list[bytes],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A call whose supervisor asks for a challenge while the staff page sends ``jpegs``
    four a second: the ``challenge`` and ``challenge_result`` both pages got, the
    ``ended`` message and the record's body."""
    await client.app[HUB].pool.warm()
    sup1, staff1, call = await _active(client, links)
    sequence = await _send_stills(staff1, call, jpegs[:3], 0, 0.5)
    await sup1.send_json({"type": "challenge", "call": call})
    asked = await recv(staff1, "challenge")
    assert asked == await recv(sup1, "challenge")
    assert asked["deadline_s"] == CONFIG.answer_s and asked["by"] == "supervisor"
    assert asked["left"] == ch.MAX_PER_CALL - 1
    sending = asyncio.ensure_future(_send_stills(staff1, call, jpegs[3:], sequence, 0.25))
    result = await recv(staff1, "challenge_result", wait_s=ANSWER_S + 5)
    assert result == await recv(sup1, "challenge_result", wait_s=1)
    sending.cancel()
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    async with client.app[ENGINE].connect() as conn:
        record = await get_record(conn, ended["record"])
    assert record is not None
    return asked, result, ended, record.body


def _live_stills(n: int) -> list[bytes]:
    """A person who moves a little and does not answer: the live clip, 4 stills a second."""
    clip = list(frames("live"))
    return [still_of(clip[(i * 4) % len(clip)]).jpeg for i in range(n)]


async def test_a_frozen_picture_fails_the_challenge_into_the_record(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,  # noqa: F811
) -> None:
    asked, result, ended, body = await _challenge_result(client, links, [photo] * 40)
    assert (result["outcome"], result["finding"]) == ("failed", "frozen"), result
    assert result["nonce"] == asked["nonce"] and result["frames"] >= CONFIG.min_frames
    assert ended["indicators"]["liveness"] == {"state": "fail", "reason": "liveness_failed"}
    assert body["criteria"]["liveness"]["verdict"] == "fail"
    assert "liveness_failed" in body["reasons"]
    [kept] = body["challenges"]
    assert set(kept) == {
        "action",
        "nonce",
        "issued_s",
        "deadline_s",
        "outcome",
        "finding",
        "frames",
        "change",
        "model",
    }
    assert (kept["action"], kept["nonce"], kept["outcome"]) == (
        asked["action"],
        asked["nonce"],
        "failed",
    )
    assert kept["deadline_s"] - kept["issued_s"] == pytest.approx(CONFIG.answer_s, abs=0.02)
    assert "mediapipe" in kept["model"] and "landmark" not in json.dumps(body)


async def test_a_person_who_does_not_answer_is_inconclusive_never_failed(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
) -> None:
    client.app[HUB].rng = random.Random(11)
    _, result, ended, body = await _challenge_result(client, links, _live_stills(40))
    assert result["outcome"] == "inconclusive", result
    assert result["finding"] in ("no_response", "wrong_direction"), result
    assert result["frames"] >= CONFIG.min_frames
    assert ended["indicators"]["liveness"]["state"] == "inconclusive"
    assert body["criteria"]["liveness"]["verdict"] == "inconclusive"
    assert body["challenges"][0]["finding"] == result["finding"]


async def test_refusals_are_clear_protocol_errors(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
) -> None:
    check = await add_check(client.app[ENGINE], "staff1")
    sup1 = await joined(client, links.tokens["sup1"])
    staff1 = await joined(client, links.tokens["staff1"])
    await sup1.send_json({"type": "call", "check": check})
    call = (await recv(staff1, "ring"))["call"]
    await sup1.send_json({"type": "challenge", "call": call})
    assert (await recv(sup1, "error"))["code"] == "bad_state"  # still ringing
    await staff1.send_json({"type": "accept", "call": call})
    await staff1.send_json({"type": "challenge", "call": call})
    assert (await recv(staff1, "error"))["code"] == "forbidden"  # the staff page cannot
    sup2 = await joined(client, links.tokens["sup2"])
    await sup2.send_json({"type": "challenge", "call": call})
    assert (await recv(sup2, "error"))["code"] == "forbidden"  # not their call
    for left in range(ch.MAX_PER_CALL - 1, -1, -1):
        await sup1.send_json({"type": "challenge", "call": call})
        assert (await recv(sup1, "challenge"))["left"] == left
        await sup1.send_json({"type": "challenge", "call": call})
        assert (await recv(sup1, "error"))["code"] == "challenge_open"
        # Sooner than its deadline: the staff page reloads, which ends the challenge.
        await staff1.close()
        assert (await recv(sup1, "challenge_result"))["finding"] == ch.PAGE_AWAY
        await sup1.send_json({"type": "challenge", "call": call})
        assert (await recv(sup1, "error"))["code"] == "bad_state"  # nobody to ask
        staff1 = await joined(client, links.tokens["staff1"])
        await recv(sup1, "state")  # reconnected
    await sup1.send_json({"type": "challenge", "call": call})
    assert (await recv(sup1, "error"))["code"] == "challenge_limit"


async def test_the_still_rate_is_raised_only_while_a_challenge_is_open(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,  # noqa: F811
) -> None:
    sup1, staff1, call = await _active(client, links)

    async def limited(start: int, every_s: float, n: int) -> int:
        await _send_stills(staff1, call, [photo] * n, start, every_s)
        count = 0
        with pytest.raises(TimeoutError):
            while True:
                error = await recv(staff1, "error", wait_s=0.5)
                count += error["code"] == "rate_limited"
        return count

    assert await limited(0, 0.25, 16) >= 4  # 4 a second without a challenge: refused
    await sup1.send_json({"type": "challenge", "call": call})
    await recv(staff1, "challenge")
    assert await limited(100, 0.25, 16) == 0  # the page's 4 a second during one
    await recv(staff1, "challenge_result", wait_s=ANSWER_S)
    assert await limited(200, 0.25, 16) >= 4  # and back after it
    await sup1.send_json({"type": "hangup", "call": call})


async def test_a_page_that_goes_away_during_the_challenge_never_fails_liveness(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
    photo: bytes,  # noqa: F811
) -> None:
    """Frozen stills, then the staff page's socket closes: the challenge is INCONCLUSIVE
    ``page_away`` (a dropped network accuses nobody), and it stays so when the page
    comes back and the call is recorded."""
    await client.app[HUB].pool.warm()
    sup1, staff1, call = await _active(client, links)
    await sup1.send_json({"type": "challenge", "call": call})
    await recv(staff1, "challenge")
    await _send_stills(staff1, call, [photo] * 12, 0, 0.25)
    await staff1.close()
    result = await recv(sup1, "challenge_result")
    assert (result["outcome"], result["finding"]) == ("inconclusive", ch.PAGE_AWAY), result
    staff1 = await joined(client, links.tokens["staff1"])  # back within the grace
    await recv(sup1, "state")
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["indicators"]["liveness"]["state"] == "inconclusive"
    async with client.app[ENGINE].connect() as conn:
        record = await get_record(conn, ended["record"])
    assert record is not None and record.body["criteria"]["liveness"]["verdict"] == "inconclusive"
    assert record.body["challenges"][0]["finding"] == ch.PAGE_AWAY


async def _liveness_on(client: TestClient[Any, Any]) -> None:  # noqa: F811
    async with client.app[ENGINE].begin() as conn:
        policy = replace(await load_policy(conn), liveness_check=True)
        await save_policy(conn, policy, actor="test")


async def test_the_policy_issues_one_challenge_at_a_moment_the_rng_chose(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
) -> None:
    await _liveness_on(client)
    seed = next(s for s in range(100) if auto_delay(random.Random(s)) < 6.5)  # a short test
    client.app[HUB].rng = random.Random(seed)
    replay = random.Random(seed)
    delay = auto_delay(replay)
    expected = issue(replay, delay, CONFIG)
    sup1, staff1, call = await _active(client, links)
    status = await recv(sup1, "status")
    assert status["indicators"]["liveness"] == {
        "state": "pending",
        "reason": "liveness_inconclusive",
    }
    asked = await recv(sup1, "challenge", wait_s=delay + 2)
    assert asked == await recv(staff1, "challenge")
    assert (asked["action"], asked["nonce"], asked["by"]) == (
        str(expected.action),
        expected.nonce,
        "policy",
    )
    assert asked["issued_s"] == pytest.approx(delay, abs=0.5)
    result = await recv(sup1, "challenge_result", wait_s=ANSWER_S + 2)
    assert (result["outcome"], result["finding"]) == ("inconclusive", "too_few_frames")
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["indicators"]["liveness"]["state"] == "inconclusive"


async def test_a_call_too_short_for_the_policys_challenge_is_inconclusive(
    client: TestClient[Any, Any],  # noqa: F811
    links: Links,  # noqa: F811
) -> None:
    await _liveness_on(client)
    sup1, _, call = await _active(client, links)
    await recv(sup1, "status")
    await sup1.send_json({"type": "hangup", "call": call})
    ended = await recv(sup1, "ended")
    assert ended["indicators"]["liveness"] == {
        "state": "inconclusive",
        "reason": "liveness_inconclusive",
    }
    async with client.app[ENGINE].connect() as conn:
        record = await get_record(conn, ended["record"])
    assert record is not None and record.status != "failed"
    liveness = record.body["criteria"]["liveness"]
    assert liveness["verdict"] == "inconclusive" and liveness["scores"]["finding"] == ch.NOT_RUN
    assert record.body["challenges"] == []
