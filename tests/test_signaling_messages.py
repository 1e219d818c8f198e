"""Every client message is validated: hostile input is refused with a code, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling import messages as m
from signaling.messages import ProtocolError

VALID: dict[str, dict[str, Any]] = {
    "join": {"type": "join", "v": 1, "token": "v1.abc.def"},
    "ping": {"type": "ping"},
    "call": {"type": "call", "check": "chk_1"},
    "accept": {"type": "accept", "call": "call_1"},
    "hangup": {"type": "hangup", "call": "call_1"},
    "sdp": {"type": "sdp", "call": "call_1", "leg": "p2p", "kind": "offer", "sdp": "v=0\r\n"},
    "ice": {
        "type": "ice",
        "call": "call_1",
        "leg": "p2p",
        "candidate": "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    },
    "location": {"type": "location", "call": "c", "lat": -6.2, "lon": 106.8, "accuracy": 20},
    "visibility": {"type": "visibility", "call": "c", "hidden": True},
    "track": {"type": "track", "call": "c", "state": "muted"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_valid_message_parses(kind: str) -> None:
    assert type(m.parse(json.dumps(VALID[kind]))).__name__  # a dataclass, no exception


@given(st.text(max_size=2000))
def test_arbitrary_text_is_refused_with_a_code(text: str) -> None:
    try:
        m.parse(text)
    except ProtocolError as exc:
        assert exc.code in ("invalid", "too_large")


@given(json_values)
def test_arbitrary_json_is_refused_or_parsed(value: Any) -> None:
    try:
        m.parse(json.dumps(value))
    except ProtocolError as exc:
        assert exc.code in ("invalid", "too_large")


@settings(max_examples=300)
@given(st.sampled_from(sorted(VALID)), st.data())
def test_one_mutated_field_is_refused_or_well_typed(kind: str, data: st.DataObject) -> None:
    message = dict(VALID[kind])
    key = data.draw(st.sampled_from(sorted(message) + ["extra"]))
    message[key] = data.draw(json_values)
    try:
        parsed = m.parse(json.dumps(message))
    except ProtocolError as exc:
        assert exc.code in ("invalid", "too_large")
        return
    # Accepted only if the type did not change and every field kept its schema.
    assert key != "extra"
    for name, value in vars(parsed).items():
        if name in ("call", "check"):
            assert isinstance(value, str) and m.ID_RE.match(value)
        if name in ("lat", "lon", "accuracy") and value is not None:
            assert isinstance(value, float)


@given(st.integers(min_value=m.MAX_SDP_CHARS + 1, max_value=m.MAX_SDP_CHARS + 5000))
def test_an_oversized_sdp_is_too_large(size: int) -> None:
    with pytest.raises(ProtocolError) as exc:
        m.parse(json.dumps({**VALID["sdp"], "sdp": "a" * size}))
    assert exc.value.code == "too_large"


@pytest.mark.parametrize(
    "text, code",
    [
        ("x" * (m.MAX_MESSAGE_CHARS + 1), "too_large"),
        ('{"type":"location","call":"c","lat":NaN,"lon":1,"accuracy":1}', "invalid"),
        ('{"type":"location","call":"c","lat":1e999,"lon":1,"accuracy":1}', "invalid"),
        ("[" * 5000 + "]" * 5000, "invalid"),
        ('{"type":"join","v":true,"token":"t"}', "invalid"),
        ('{"type":"join","v":2,"token":"t"}', "invalid"),
        ('{"type":"call","check":"../../etc"}', "invalid"),
        ('{"type":"call","check":"a","check2":1}', "invalid"),
        ('{"type":"ice","call":"c","leg":"p2p","candidate":"a=candidate:x"}', "invalid"),
        ('{"type":"ice","call":"c","leg":"p2p","candidate":"candidate:\\u0000"}', "invalid"),
        ('{"type":"ice","call":"c","leg":"p2p","candidate":"","sdpMLineIndex":true}', "invalid"),
        ('{"type":"location","call":"c","error":"denied","lat":1}', "invalid"),
        ('{"type":"sdp","call":"c","leg":"sfu","kind":"offer","sdp":""}', "invalid"),
        ('{"type":"__proto__"}', "invalid"),
        ('"join"', "invalid"),
    ],
)
def test_hostile_examples(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as exc:
        m.parse(text)
    assert exc.value.code == code


def test_location_error_and_end_of_candidates_parse() -> None:
    loc = m.parse('{"type":"location","call":"c","error":"denied"}')
    assert isinstance(loc, m.Location) and loc.error == "denied" and loc.lat is None
    ice = m.parse('{"type":"ice","call":"c","leg":"p2p","candidate":""}')
    assert isinstance(ice, m.Ice) and ice.candidate == "" and ice.sdp_mid is None
