"""Validation of every client message of protocol v1 (``docs/protocol.md``).

Pure: text in, a frozen dataclass out, or ``ProtocolError`` with a code the client
gets back. Nothing a client sends reaches a room before passing through ``parse``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

VERSION = 1
MAX_MESSAGE_CHARS = 48 * 1024
MAX_SDP_CHARS = 32 * 1024
MAX_CANDIDATE_CHARS = 1024
MAX_MID_CHARS = 64
MAX_TOKEN_CHARS = 512
ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
# RFC 8839 candidate-attribute, loosely: foundation, component, transport, priority...
CANDIDATE_RE = re.compile(r"^candidate:[ -~]+$")

LEGS = ("p2p",)  # the analysis leg is the page's stills (``signaling.stills``)
SDP_KINDS = ("offer", "answer")
TRACK_STATES = ("live", "muted", "ended")
LOCATION_ERRORS = ("denied", "unavailable", "timeout", "unsupported")


class ProtocolError(ValueError):
    """A message was refused; ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref


@dataclass(frozen=True)
class Join:
    token: str


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class StartCall:
    check: str


@dataclass(frozen=True)
class Accept:
    call: str


@dataclass(frozen=True)
class Decline:
    """The staff member refuses a ringing call."""

    call: str


@dataclass(frozen=True)
class Hangup:
    call: str


@dataclass(frozen=True)
class Sdp:
    call: str
    leg: str
    kind: str
    sdp: str


@dataclass(frozen=True)
class Ice:
    call: str
    leg: str
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class Location:
    """Either a position (``lat``, ``lon``, ``accuracy``) or an ``error``."""

    call: str
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Visibility:
    call: str
    hidden: bool


@dataclass(frozen=True)
class Track:
    call: str
    state: str


@dataclass(frozen=True)
class AskChallenge:
    """The supervisor asks for a liveness challenge now (``signaling.challenge``)."""

    call: str


Message = (
    Join
    | Ping
    | StartCall
    | Accept
    | Decline
    | Hangup
    | Sdp
    | Ice
    | Location
    | Visibility
    | Track
    | AskChallenge
)


class _Fields:
    """Typed access to a message's fields that refuses anything unexpected."""

    def __init__(self, data: dict[str, Any], kind: str, allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed - {"type"})
        if unknown:
            raise ProtocolError("invalid", f"unknown field {unknown[0][:40]!r}", kind)
        self.data = data
        self.kind = kind

    def _bad(self, name: str, what: str) -> ProtocolError:
        return ProtocolError("invalid", f"{name}: expected {what}", self.kind)

    def text(self, name: str, max_chars: int, pattern: re.Pattern[str] | None = None) -> str:
        value = self.data.get(name)
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        if len(value) > max_chars:
            raise ProtocolError("too_large", f"{name}: longer than {max_chars}", self.kind)
        if pattern is not None and not pattern.match(value):
            raise self._bad(name, "a valid value")
        return value

    def id(self, name: str) -> str:
        return self.text(name, 40, ID_RE)

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.data.get(name)
        if value not in choices:
            raise self._bad(name, "one of " + ", ".join(choices))
        assert isinstance(value, str)
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name)
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def number(self, name: str, low: float, high: float) -> float:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(name, "a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise self._bad(name, f"a number from {low} to {high}")
        return float(value)

    def optional_str(self, name: str, max_chars: int) -> str | None:
        return None if self.data.get(name) is None else self.text(name, max_chars)

    def optional_index(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
            raise self._bad(name, "an integer from 0 to 64")
        return value


def _join(f: _Fields) -> Join:
    if f.data.get("v") != VERSION or isinstance(f.data.get("v"), bool):
        raise ProtocolError("invalid", f"v: this server speaks version {VERSION}", f.kind)
    return Join(f.text("token", MAX_TOKEN_CHARS))


def _sdp(f: _Fields) -> Sdp:
    return Sdp(
        f.id("call"),
        f.choice("leg", LEGS),
        f.choice("kind", SDP_KINDS),
        f.text("sdp", MAX_SDP_CHARS),
    )


def _ice(f: _Fields) -> Ice:
    candidate = f.text("candidate", MAX_CANDIDATE_CHARS)
    if candidate and not CANDIDATE_RE.match(candidate):
        raise ProtocolError("invalid", "candidate: expected 'candidate:...'", f.kind)
    return Ice(
        f.id("call"),
        f.choice("leg", LEGS),
        candidate,
        f.optional_str("sdpMid", MAX_MID_CHARS),
        f.optional_index("sdpMLineIndex"),
    )


def _location(f: _Fields) -> Location:
    if "error" in f.data:
        if {"lat", "lon", "accuracy"} & set(f.data):
            raise ProtocolError("invalid", "location: a position or an error, not both", f.kind)
        return Location(f.id("call"), error=f.choice("error", LOCATION_ERRORS))
    return Location(
        f.id("call"),
        lat=f.number("lat", -90, 90),
        lon=f.number("lon", -180, 180),
        accuracy=f.number("accuracy", 0, 1e7),
    )


_PARSERS: dict[str, tuple[set[str], Any]] = {
    "join": ({"v", "token"}, _join),
    "ping": (set(), lambda f: Ping()),
    "call": ({"check"}, lambda f: StartCall(f.id("check"))),
    "accept": ({"call"}, lambda f: Accept(f.id("call"))),
    "decline": ({"call"}, lambda f: Decline(f.id("call"))),
    "hangup": ({"call"}, lambda f: Hangup(f.id("call"))),
    "sdp": ({"call", "leg", "kind", "sdp"}, _sdp),
    "ice": ({"call", "leg", "candidate", "sdpMid", "sdpMLineIndex"}, _ice),
    "location": ({"call", "lat", "lon", "accuracy", "error"}, _location),
    "visibility": ({"call", "hidden"}, lambda f: Visibility(f.id("call"), f.flag("hidden"))),
    "track": ({"call", "state"}, lambda f: Track(f.id("call"), f.choice("state", TRACK_STATES))),
    "challenge": ({"call"}, lambda f: AskChallenge(f.id("call"))),
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(text: str) -> Message:
    """Validate one WebSocket text frame; raise ``ProtocolError`` saying what is wrong."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError("too_large", f"message longer than {MAX_MESSAGE_CHARS} characters")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ProtocolError("invalid", "not a JSON object") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid", "not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _PARSERS:
        raise ProtocolError("invalid", "unknown type")
    allowed, build = _PARSERS[kind]
    message: Message = build(_Fields(data, kind, allowed))
    return message


def encode(kind: str, /, **fields: Any) -> str:
    """One server message as compact JSON."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"), allow_nan=False)


def error(code: str, message: str, ref: str | None = None) -> str:
    return encode("error", code=code, message=message, ref=ref)
