from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.org import counts, find_person, import_roster
from service.roster import RosterError, parse_roster
from service.schema import staff

CSV_HEADER = "kind,id,name,unit,supervisor,email,home_lat,home_lon,home_radius_m,wfh_days\n"
GOOD_CSV = CSV_HEADER + (
    "unit,u1,Dinas Satu,,,,,,,\n"
    "supervisor,s1,Budi,u1,,budi@example.go.id,,,,\n"
    'staff,p1,Siti,u1,s1,,-6.2,106.8,150,"mon,wed,fri"\n'
    "staff,p2,Andi,u1,s1,,,,,sen\n"
)


def test_csv_parses_people_and_weekdays() -> None:
    roster = parse_roster(GOOD_CSV, fmt="csv")
    assert [u.id for u in roster.units] == ["u1"]
    assert roster.supervisors[0].email == "budi@example.go.id"
    siti, andi = roster.staff
    assert siti.wfh_days == (1, 3, 5) and siti.home_radius_m == 150
    assert andi.wfh_days == (1,) and andi.home_lat is None


@pytest.mark.parametrize(
    ("row", "line", "reason"),
    [
        ("staff,p3,X,u1,s9,,,,,mon", 6, "unknown supervisor 's9'"),
        ("staff,p3,X,u9,s1,,,,,mon", 6, "unknown unit 'u9'"),
        ("staff,p3,X,u1,s1,,-95,106,,mon", 6, "home_lat: must be between -90 and 90"),
        ("staff,p3,X,u1,s1,,-6.2,,,mon", 6, "give both or neither"),
        ("staff,p3,X,u1,s1,,,,,someday", 6, "wfh_days"),
        ("staff,p1,Dup,u1,s1,,,,,mon", 6, "already given on line 4"),
        ("manager,m1,X,u1,,,,,,", 6, "kind: expected unit, supervisor or staff"),
        ("staff,bad id!,X,u1,s1,,,,,mon", 6, "id: invalid value"),
        ("supervisor,s2,X,u1,,not-an-email,,,,", 6, "email: invalid value"),
        ("staff,p3,,u1,s1,,,,,mon", 6, "name: required"),
    ],
)
def test_bad_rows_are_reported_with_line_and_reason(row: str, line: int, reason: str) -> None:
    with pytest.raises(RosterError) as info:
        parse_roster(GOOD_CSV + row + "\n", fmt="csv")
    assert any(e.line == line and reason in e.message for e in info.value.errors), info.value.errors


def test_every_bad_row_is_reported_not_just_the_first() -> None:
    text = GOOD_CSV + "staff,p3,X,u9,s1,,,,,mon\nstaff,p4,Y,u1,s9,,,,,mon\n"
    with pytest.raises(RosterError) as info:
        parse_roster(text, fmt="csv")
    assert [e.line for e in info.value.errors] == [6, 7]


def test_bad_header_is_reported() -> None:
    with pytest.raises(RosterError, match="unknown column"):
        parse_roster("kind,id,name,colour\nunit,u1,X,red\n", fmt="csv")


def test_json_errors_carry_the_line_of_the_object() -> None:
    doc = {
        "units": [{"id": "u1", "name": "U"}],
        "supervisors": [{"id": "s1", "name": "S", "unit": "u1"}],
        "staff": [
            {"id": "p1", "name": "P", "unit": "u1", "supervisor": "s1", "wfh_days": ["mon"]},
            {"id": "p2", "name": "Q", "unit": "u1", "supervisor": "nobody", "wfh_days": ["tue"]},
        ],
    }
    text = json.dumps(doc, indent=2)
    expected_line = (
        text.splitlines().index(next(ln for ln in text.splitlines() if '"p2"' in ln)) + 1 - 1
    )  # object opens above id
    with pytest.raises(RosterError) as info:
        parse_roster(text, fmt="json")
    (error,) = info.value.errors
    assert error.line == expected_line and "unknown supervisor" in error.message


def test_invalid_json_names_the_line() -> None:
    with pytest.raises(RosterError) as info:
        parse_roster('{"units": [\n{"id": "u1",,}]}', fmt="json")
    assert info.value.errors[0].line == 2


async def test_import_is_all_or_nothing(store: AsyncEngine, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV)
    summary = await import_roster(store, good, actor="test")
    assert (summary.units, summary.supervisors, summary.staff) == (1, 1, 2)

    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEADER + "staff,p1,Renamed,u1,s1,,,,,mon\nstaff,p9,New,u1,nobody,,,,,mon\n")
    with pytest.raises(RosterError, match="line 3"):
        await import_roster(store, bad, actor="test")
    async with store.connect() as conn:
        assert await counts(conn) == {"units": 1, "supervisors": 1, "staff": 2}
        person = await find_person(conn, "staff", "p1")
        assert person is not None and person.name == "Siti"  # not "Renamed"


async def test_reimport_updates_in_place(store: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(GOOD_CSV)
    await import_roster(store, path, actor="test")
    path.write_text(CSV_HEADER + "staff,p2,Andi Pratama,u1,s1,,,,,tue\n")
    await import_roster(store, path, actor="test")
    async with store.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(staff))).scalar_one() == 2
        days = (await conn.execute(select(staff.c.wfh_days).where(staff.c.id == "p2"))).scalar_one()
    assert days == "2"


async def test_unreadable_files_are_refused(store: AsyncEngine, tmp_path: Path) -> None:
    for name, content in (("r.xlsx", b"PK"), ("r.csv", b"\xff\xfe\x00bad")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(RosterError):
            await import_roster(store, path, actor="test")
    with pytest.raises(RosterError, match="not found"):
        await import_roster(store, tmp_path / "missing.csv", actor="test")


def _json_roster(**member: object) -> str:
    person = {"id": "p1", "name": "P", "unit": "u1", "supervisor": "s1", "wfh_days": ["mon"]}
    return json.dumps(
        {
            "units": [{"id": "u1", "name": "U"}],
            "supervisors": [{"id": "s1", "name": "S", "unit": "u1"}],
            "staff": [person | member],
        }
    )


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ({"name": ["a"]}, "staff[0].name: expected string, got array"),
        ({"id": 7}, "staff[0].id: expected string, got integer"),
        ({"home_lat": "-6.2", "home_lon": 106.8}, "home_lat: expected number or null, got string"),
        ({"home_lat": True, "home_lon": 106.8}, "home_lat: expected number or null, got boolean"),
        ({"wfh_days": {"mon": 1}}, "wfh_days: expected string or array or null, got object"),
        ({"active": "no"}, "staff[0].active: expected boolean, got string"),
        ({"name": "Siti\x00"}, "name: holds a control character or a lone surrogate"),
        ({"name": "Siti\ud800"}, "name: holds a control character or a lone surrogate"),
    ],
)
def test_json_fields_of_the_wrong_type_are_refused_not_converted(
    member: dict[str, object], reason: str
) -> None:
    with pytest.raises(RosterError) as info:
        parse_roster(_json_roster(**member), fmt="json")
    assert reason in info.value.errors[0].message, info.value.errors


def test_deeply_nested_json_is_refused_with_a_reason() -> None:
    with pytest.raises(RosterError, match="nested too deeply"):
        parse_roster('{"units": ' + "[" * 100_000 + "]" * 100_000 + "}", fmt="json")


def test_a_nul_in_a_csv_name_is_refused() -> None:
    with pytest.raises(RosterError, match="name: holds a control character"):
        parse_roster(GOOD_CSV + "staff,p3,X\x00Y,u1,s1,,,,,mon\n", fmt="csv")


async def test_active_false_takes_a_member_off_the_roster_and_true_back(
    store: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "r.csv"
    for flag, stored in (("false", False), ("", True), ("tidak", False), ("ya", True)):
        path.write_text(
            CSV_HEADER.rstrip("\n") + ",active\n"
            "unit,u1,Dinas Satu,,,,,,,,\n"
            "supervisor,s1,Budi,u1,,,,,,,\n"
            f"staff,p1,Siti,u1,s1,,,,,mon,{flag}\n"
        )
        await import_roster(store, path, actor="test")
        async with store.connect() as conn:
            query = select(staff.c.active).where(staff.c.id == "p1")
            assert (await conn.execute(query)).scalar_one() is stored, flag
