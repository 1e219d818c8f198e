"""The organisation's work-from-home policy: hours, check times and the uniform of the day.

The default is Jakarta's 2023 rules (SE Sekda 34/2023 and Pergub 183/2017): work
07:30–16:00 Monday to Friday, video checks at 10:00, 14:00 and 16:00 WIB, and the
weekday uniform table. Pure values and validation; persistence is in ``service.org``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vision.uniform import parse_uniform_policy

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_ALIASES = {
    **{name: i + 1 for i, name in enumerate(WEEKDAYS)},
    # Bahasa Indonesia: Senin, Selasa, Rabu, Kamis, Jumat, Sabtu, Minggu.
    **{name: i + 1 for i, name in enumerate(("sen", "sel", "rab", "kam", "jum", "sab", "min"))},
}
HOLIDAY_CATEGORIES = ("public", "government")
MAX_RANDOM_OFFSET = 120  # minutes


class PolicyError(ValueError):
    """A policy value is invalid; the message names the field."""


@dataclass(frozen=True)
class UniformRule:
    """What staff wear on one weekday: a vision uniform policy and a human label."""

    policy: str
    label: str


def _jakarta_uniforms() -> dict[str, UniformRule]:
    return {
        "mon": UniformRule("solid:khaki", "PDH khaki"),
        "tue": UniformRule("solid:khaki", "PDH khaki"),
        "wed": UniformRule("solid:white", "Kemeja putih"),
        "thu": UniformRule("patterned", "Batik"),
        "fri": UniformRule("any", "Pakaian adat Betawi (sadariah/kebaya)"),
    }


@dataclass(frozen=True)
class Policy:
    organisation: str = "Pemerintah Provinsi DKI Jakarta"
    timezone: str = "Asia/Jakarta"
    work_start: time = time(7, 30)
    work_end: time = time(16, 0)
    work_days: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays
    check_times: tuple[time, ...] = (time(10, 0), time(14, 0), time(16, 0))
    check_window_minutes: int = 15
    # Spot checks: each check moves by a random amount up to this many minutes.
    random_offset_minutes: int = 0
    uniforms: dict[str, UniformRule] = field(default_factory=_jakarta_uniforms)
    location_radius_m: float = 200.0
    evidence_stills: bool = False
    evidence_retention_days: int = 30
    holiday_categories: tuple[str, ...] = HOLIDAY_CATEGORIES
    # Calls match the staff member's face against their enrolled one (criterion
    # ``identity``, docs/privacy.md); off: the criterion is absent from calls and records.
    identity_check: bool = False
    # Every call has one liveness challenge at a random moment (criterion ``liveness``,
    # signaling.challenge); off: only the challenges a supervisor asks for.
    liveness_check: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def uniform_for(self, day: date) -> UniformRule | None:
        return self.uniforms.get(WEEKDAYS[day.isoweekday() - 1])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["work_start"] = self.work_start.strftime("%H:%M")
        out["work_end"] = self.work_end.strftime("%H:%M")
        out["work_days"] = [WEEKDAYS[d - 1] for d in self.work_days]
        out["check_times"] = [t.strftime("%H:%M") for t in self.check_times]
        out["holiday_categories"] = list(self.holiday_categories)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Build and validate a policy; unknown keys and bad values raise PolicyError."""
        if not isinstance(data, dict):
            raise PolicyError("policy: expected an object")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise PolicyError(f"{key}: unknown policy field")
        base = cls()
        values: dict[str, Any] = {}
        for key, raw in data.items():
            values[key] = _PARSERS[key](key, raw)
        policy = replace(base, **values)
        if policy.work_start >= policy.work_end:
            raise PolicyError("work_end: must be after work_start")
        return policy


def parse_hhmm(key: str, raw: Any) -> time:
    if isinstance(raw, str):
        try:
            hh, mm = raw.split(":")
            return time(int(hh), int(mm))
        except ValueError:
            pass
    raise PolicyError(f"{key}: expected a time as HH:MM, got {raw!r}")


def parse_weekday(key: str, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 7:
        return raw
    if isinstance(raw, str) and raw.strip().lower()[:3] in WEEKDAY_ALIASES:
        return WEEKDAY_ALIASES[raw.strip().lower()[:3]]
    raise PolicyError(f"{key}: expected a weekday (mon..sun, sen..min or 1..7), got {raw!r}")


def parse_weekdays(key: str, raw: Any) -> tuple[int, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise PolicyError(f"{key}: expected a list of weekdays, got {raw!r}")
    days = sorted(
        {
            parse_weekday(key, d.strip() if isinstance(d, str) else d)
            for d in items
            if not (isinstance(d, str) and not d.strip())
        }
    )
    return tuple(days)


def _str(key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise PolicyError(f"{key}: expected a non-empty string, got {raw!r}")
    return raw.strip()


def _timezone(key: str, raw: Any) -> str:
    name = _str(key, raw)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{key}: unknown time zone {name!r}") from None
    return name


def _int_range(lo: int, hi: int) -> Any:
    def parse(key: str, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
            raise PolicyError(f"{key}: expected a whole number from {lo} to {hi}, got {raw!r}")
        return raw

    return parse


def _positive_float(key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise PolicyError(f"{key}: expected a positive number, got {raw!r}")
    return float(raw)


def _bool(key: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise PolicyError(f"{key}: expected true or false, got {raw!r}")
    return raw


def _check_times(key: str, raw: Any) -> tuple[time, ...]:
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{key}: expected a non-empty list of HH:MM times")
    return tuple(sorted({parse_hhmm(key, t) for t in raw}))


def _uniforms(key: str, raw: Any) -> dict[str, UniformRule]:
    if not isinstance(raw, dict):
        raise PolicyError(f"{key}: expected an object of weekday to uniform")
    out: dict[str, UniformRule] = {}
    for day, rule in raw.items():
        name = WEEKDAYS[parse_weekday(f"{key}.{day}", day) - 1]
        if isinstance(rule, str):
            rule = {"policy": rule, "label": rule}
        if not isinstance(rule, dict) or set(rule) - {"policy", "label"} or "policy" not in rule:
            raise PolicyError(f"{key}.{day}: expected {{'policy': ..., 'label': ...}}")
        try:
            parsed = parse_uniform_policy(str(rule["policy"]))
        except ValueError as exc:
            raise PolicyError(f"{key}.{day}.policy: {exc}") from None
        out[name] = UniformRule(
            str(parsed), _str(f"{key}.{day}.label", rule.get("label", str(parsed)))
        )
    return out


def _categories(key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or any(c not in HOLIDAY_CATEGORIES for c in raw):
        raise PolicyError(f"{key}: expected a list drawn from {', '.join(HOLIDAY_CATEGORIES)}")
    return tuple(raw)


_PARSERS: dict[str, Any] = {
    "organisation": _str,
    "timezone": _timezone,
    "work_start": parse_hhmm,
    "work_end": parse_hhmm,
    "work_days": parse_weekdays,
    "check_times": _check_times,
    "check_window_minutes": _int_range(1, 240),
    "random_offset_minutes": _int_range(0, MAX_RANDOM_OFFSET),
    "uniforms": _uniforms,
    "location_radius_m": _positive_float,
    "evidence_stills": _bool,
    "evidence_retention_days": _int_range(1, 3650),
    "holiday_categories": _categories,
    "identity_check": _bool,
    "liveness_check": _bool,
}
