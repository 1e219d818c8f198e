"""Reading a roster file (CSV or JSON) of units, supervisors and staff.

Pure parsing and validation: every bad row is reported with its line number and the
reason, and the caller writes nothing unless the whole file is valid. The import
itself (all or nothing, in one transaction) is ``service.org.import_roster``.

CSV: one file, a ``kind`` column saying ``unit``, ``supervisor`` or ``staff`` and the
columns ``id,name,unit,supervisor,email,home_lat,home_lon,home_radius_m,wfh_days,active``
(unused columns left empty). JSON: ``{"units": [...], "supervisors": [...],
"staff": [...]}`` with the same field names, each of its JSON type: a value of another
type is refused, never converted. An import adds and updates, it never deletes (a file
may cover one unit): a staff member leaves with ``active`` false.
"""

from __future__ import annotations

import csv
import io
import json
import json.decoder
import json.scanner
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.policy import PolicyError, parse_weekdays
from service.validation import CONTROL_OR_SURROGATE, Schema

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CSV_COLUMNS = (
    "kind",
    "id",
    "name",
    "unit",
    "supervisor",
    "email",
    "home_lat",
    "home_lon",
    "home_radius_m",
    "wfh_days",
    "active",
)
MAX_FILE_BYTES = 20 * 1024 * 1024
BOOL_WORDS = {"true": True, "yes": True, "ya": True, "1": True}
BOOL_WORDS |= {"false": False, "no": False, "tidak": False, "0": False}


def _entry(properties: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
    }


_TEXT = {"type": "string"}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_OPTIONAL_NUMBER = {"type": ["number", "null"]}
# The JSON roster's shape, also the API's and the OpenAPI document's: types only; ids,
# ranges and references are checked row by row below, each error with its line.
ROSTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "units": {"type": "array", "items": _entry({"id": _TEXT, "name": _TEXT}, ("id", "name"))},
        "supervisors": {
            "type": "array",
            "items": _entry(
                {"id": _TEXT, "name": _TEXT, "unit": _TEXT, "email": _OPTIONAL_TEXT},
                ("id", "name", "unit"),
            ),
        },
        "staff": {
            "type": "array",
            "items": _entry(
                {
                    "id": _TEXT,
                    "name": _TEXT,
                    "unit": _TEXT,
                    "supervisor": _TEXT,
                    "home_lat": _OPTIONAL_NUMBER,
                    "home_lon": _OPTIONAL_NUMBER,
                    "home_radius_m": _OPTIONAL_NUMBER,
                    "wfh_days": {
                        "type": ["string", "array", "null"],
                        "items": {"type": ["string", "integer"]},
                        "description": 'Weekdays: ["mon", "wed"], "sen,rab" or ISO 1..7.',
                    },
                    "active": {
                        "type": "boolean",
                        "description": "false takes the member off the roster (default true)",
                    },
                },
                ("id", "name", "unit", "supervisor"),
            ),
        },
    },
}
_ROSTER = Schema(ROSTER_SCHEMA)


@dataclass(frozen=True)
class Unit:
    id: str
    name: str


@dataclass(frozen=True)
class Supervisor:
    id: str
    name: str
    unit_id: str
    email: str | None = None


@dataclass(frozen=True)
class StaffMember:
    id: str
    name: str
    unit_id: str
    supervisor_id: str
    wfh_days: tuple[int, ...]
    home_lat: float | None = None
    home_lon: float | None = None
    home_radius_m: float | None = None
    active: bool = True


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Roster:
    units: list[Unit] = field(default_factory=list)
    supervisors: list[Supervisor] = field(default_factory=list)
    staff: list[StaffMember] = field(default_factory=list)


class RosterError(ValueError):
    """The file is not valid; ``errors`` lists every bad row."""

    def __init__(self, path: str, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  … and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(
            f"{path}: {len(errors)} invalid row(s); nothing was imported\n{shown}{more}"
        )


class _Row:
    """One input row with its line number; field readers record their own errors.

    A CSV row is all text; a JSON row has passed ``ROSTER_SCHEMA``, so each of its fields
    already is of its JSON type."""

    def __init__(self, data: dict[str, Any], line: int, errors: list[RowError]) -> None:
        self.data, self.line, self.errors = data, line, errors
        self.ok = True

    def fail(self, message: str) -> None:
        self.ok = False
        self.errors.append(RowError(self.line, message))

    def text(
        self,
        key: str,
        *,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
        max_len: int = 200,
    ) -> str | None:
        raw = self.data.get(key)
        value = "" if raw is None else str(raw).strip()
        if not value:
            if required:
                self.fail(f"{key}: required")
            return None
        if len(value) > max_len:
            self.fail(f"{key}: longer than {max_len} characters")
        elif CONTROL_OR_SURROGATE.search(value):
            self.fail(f"{key}: holds a control character or a lone surrogate")
        elif pattern is not None and not pattern.match(value):
            self.fail(f"{key}: invalid value {value!r}")
        return value

    def number(self, key: str, lo: float, hi: float) -> float | None:
        raw = self.data.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        try:
            value = float(raw)
        except (TypeError, ValueError):
            self.fail(f"{key}: expected a number, got {raw!r}")
            return None
        if not lo <= value <= hi:
            self.fail(f"{key}: must be between {lo:g} and {hi:g}, got {value:g}")
            return None
        return value

    def flag(self, key: str, default: bool) -> bool:
        raw = self.data.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return default
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in BOOL_WORDS:
            return BOOL_WORDS[raw.strip().lower()]
        self.fail(f"{key}: expected true or false, got {raw!r}")
        return default

    def weekdays(self, key: str) -> tuple[int, ...]:
        raw = self.data.get(key)
        if raw in (None, ""):
            return ()
        try:
            return parse_weekdays(key, raw)
        except PolicyError as exc:
            self.fail(str(exc))
            return ()


def _unit(row: _Row) -> Unit | None:
    uid, name = row.text("id", pattern=ID_RE), row.text("name")
    return Unit(uid, name) if row.ok and uid and name else None


def _supervisor(row: _Row) -> Supervisor | None:
    sid, name = row.text("id", pattern=ID_RE), row.text("name")
    unit = row.text("unit", pattern=ID_RE)
    email = row.text("email", required=False, pattern=EMAIL_RE, max_len=254)
    if row.ok and sid and name and unit:
        return Supervisor(sid, name, unit, email)
    return None


def _staff(row: _Row) -> StaffMember | None:
    sid, name = row.text("id", pattern=ID_RE), row.text("name")
    unit = row.text("unit", pattern=ID_RE)
    supervisor = row.text("supervisor", pattern=ID_RE)
    lat = row.number("home_lat", -90, 90)
    lon = row.number("home_lon", -180, 180)
    radius = row.number("home_radius_m", 1, 100_000)
    if (lat is None) != (lon is None):
        row.fail("home_lat and home_lon: give both or neither")
    if radius is not None and lat is None:
        row.fail("home_radius_m: given without home_lat and home_lon")
    days = row.weekdays("wfh_days")
    active = row.flag("active", True)
    if row.ok and sid and name and unit and supervisor:
        return StaffMember(sid, name, unit, supervisor, days, lat, lon, radius, active)
    return None


_BUILDERS = {"unit": _unit, "supervisor": _supervisor, "staff": _staff}


class _Located(dict[str, Any]):
    line = 0


class _LineDecoder(json.JSONDecoder):
    """A JSON decoder that remembers the line on which each object starts."""

    def __init__(self) -> None:
        super().__init__()

        def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[_Located, int]:
            s, end = s_and_end
            obj, new_end = json.decoder.JSONObject(s_and_end, *args)  # type: ignore[attr-defined]
            located = _Located(obj)
            located.line = s.count("\n", 0, end) + 1
            return located, new_end

        self.parse_object = parse_object
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]


def _rows_from_csv(text: str, errors: list[RowError]) -> list[tuple[str, int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in ("kind", "id", "name") if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        detail = "; ".join(
            filter(
                None,
                [
                    f"missing column(s) {', '.join(missing)}" if missing else "",
                    f"unknown column(s) {', '.join(unknown)}" if unknown else "",
                ],
            )
        )
        errors.append(RowError(1, f"header: {detail} (expected {','.join(CSV_COLUMNS)})"))
        return []
    rows = []
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(RowError(line, "more values than columns"))
            continue
        if not any((v or "").strip() for v in record.values()):
            continue
        rows.append(((record.get("kind") or "").strip().lower(), line, dict(record)))
    return rows


def _rows_from_json(text: str, errors: list[RowError]) -> list[tuple[str, int, dict[str, Any]]]:
    try:
        doc = _LineDecoder().decode(text)
    except json.JSONDecodeError as exc:
        errors.append(RowError(exc.lineno, f"invalid JSON: {exc.msg}"))
        return []
    except RecursionError:
        errors.append(RowError(1, "invalid JSON: nested too deeply"))
        return []
    if not isinstance(doc, _Located):
        errors.append(RowError(1, 'expected an object with "units", "supervisors" and "staff"'))
        return []
    problems = [(_line_of(doc, p.path), str(p)) for p in _ROSTER.problems(doc)]
    if problems:
        errors.extend(RowError(line, message) for line, message in problems)
        return []
    return [
        (kind, item.line, dict(item))
        for section, kind in (("units", "unit"), ("supervisors", "supervisor"), ("staff", "staff"))
        for item in doc.get(section, [])
    ]


def _line_of(doc: _Located, path: tuple[str | int, ...]) -> int:
    """The line of the innermost object on ``path``."""
    value: Any
    line, value = doc.line, doc
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(value, _Located):
            line = value.line
    return line


def parse_roster(
    text: str,
    *,
    fmt: str,
    source: str = "roster",
    known_units: Collection[str] = (),
    known_supervisors: Collection[str] = (),
) -> Roster:
    """Parse and validate; ``known_*`` are ids already in the database."""
    errors: list[RowError] = []
    rows = _rows_from_csv(text, errors) if fmt == "csv" else _rows_from_json(text, errors)
    roster = Roster()
    seen: dict[tuple[str, str], int] = {}
    for kind, line, data in rows:
        row = _Row(data, line, errors)
        builder = _BUILDERS.get(kind)
        if builder is None:
            row.fail(f"kind: expected unit, supervisor or staff, got {kind!r}")
            continue
        item = builder(row)
        if item is None:
            continue
        key = (kind, item.id)
        if key in seen:
            row.fail(f"id: {kind} {item.id!r} already given on line {seen[key]}")
            continue
        seen[key] = line
        {"unit": roster.units, "supervisor": roster.supervisors, "staff": roster.staff}[
            kind
        ].append(item)  # type: ignore[attr-defined]
    units = set(known_units) | {u.id for u in roster.units}
    supervisors = set(known_supervisors) | {s.id for s in roster.supervisors}
    for sup in roster.supervisors:
        if sup.unit_id not in units:
            errors.append(
                RowError(seen["supervisor", sup.id], f"unit: unknown unit {sup.unit_id!r}")
            )
    for member in roster.staff:
        if member.unit_id not in units:
            errors.append(
                RowError(seen["staff", member.id], f"unit: unknown unit {member.unit_id!r}")
            )
        if member.supervisor_id not in supervisors:
            errors.append(
                RowError(
                    seen["staff", member.id],
                    f"supervisor: unknown supervisor {member.supervisor_id!r}",
                )
            )
    if not rows and not errors:
        errors.append(RowError(1, "the file holds no units, supervisors or staff"))
    if errors:
        raise RosterError(source, sorted(errors, key=lambda e: e.line))
    return roster


def read_roster_file(path: Path, **known: Collection[str]) -> Roster:
    """Read a .csv or .json roster file; the format follows the file name."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise RosterError(str(path), [RowError(0, "expected a .csv or .json file")])
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RosterError(str(path), [RowError(0, "file larger than 20 MiB")])
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(str(path), [RowError(0, "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise RosterError(str(path), [RowError(0, f"not UTF-8 text ({exc.reason})")]) from None
    return parse_roster(text, fmt=suffix[1:], source=str(path), **known)
