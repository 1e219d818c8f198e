"""``hadir calendar``: the admin's days off and extra working days, and what a day is.

Holidays and collective leave come from the ``holidays`` package; dates of years not
yet decreed are estimates, so an admin adds or removes days here.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import MAXYEAR, MINYEAR, date

from service.calendar import Override, day_status
from service.checks import GenerateSummary, JoinLinks, reconcile_checks
from service.commands._args import day_arg
from service.commands.checks import reconciled_text
from service.context import config_from_args, open_store
from service.org import load_policy
from service.overrides import get_override, list_overrides, remove_override, set_override

NOTE_MAX = 200  # the width of calendar_overrides.note


def _note(text: str) -> str:
    note = text.strip()
    if len(note) > NOTE_MAX:
        raise argparse.ArgumentTypeError(f"at most {NOTE_MAX} characters ({len(note)} given)")
    return note


def _year(text: str) -> int:
    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}") from None
    if not MINYEAR <= year <= MAXYEAR:
        raise argparse.ArgumentTypeError(f"not a year between {MINYEAR} and {MAXYEAR}: {year}")
    return year


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("calendar", help="days off and extra working days")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help="make a day a day off, or a working day")
    a.add_argument("date", type=day_arg)
    kind = a.add_mutually_exclusive_group(required=True)
    kind.add_argument("--off", action="store_false", dest="workday", help="no checks that day")
    kind.add_argument("--workday", action="store_true", dest="workday", help="checks that day")
    a.add_argument("--note", type=_note, default="", help="why, e.g. 'Cuti bersama Natal'")
    a.set_defaults(handler=handle_add)
    r = actions.add_parser("remove", help="forget the override of a day")
    r.add_argument("date", type=day_arg)
    r.set_defaults(handler=handle_remove)
    s = actions.add_parser("show", help="whether a day has checks, and why")
    s.add_argument("date", type=day_arg)
    s.set_defaults(handler=handle_show)
    ls = actions.add_parser("list", help="the overrides of a year")
    ls.add_argument("--year", type=_year, default=None)
    ls.set_defaults(handler=handle_list)


def handle_add(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    links = JoinLinks.from_config(config)
    override = Override(args.date, args.workday, args.note)

    async def run() -> list[GenerateSummary]:
        async with open_store(config) as engine:
            async with engine.begin() as conn:
                await set_override(conn, override, actor="cli")
            return await reconcile_checks(engine, links=links, day=args.date)

    done = reconciled_text(asyncio.run(run()))
    print(
        f"{args.date}: {'working day' if args.workday else 'day off'}"
        + (f"; {done}" if done else "")
    )
    return 0


def handle_remove(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    links = JoinLinks.from_config(config)

    async def run() -> tuple[bool, list[GenerateSummary]]:
        async with open_store(config) as engine:
            async with engine.begin() as conn:
                removed = await remove_override(conn, args.date, actor="cli")
            return removed, await reconcile_checks(engine, links=links, day=args.date)

    removed, summaries = asyncio.run(run())
    done = reconciled_text(summaries)
    print(
        (f"{args.date}: override removed" if removed else f"{args.date}: no override")
        + (f"; {done}" if done else "")
    )
    return 0 if removed else 1


def handle_show(args: argparse.Namespace) -> int:
    config = config_from_args(args)

    async def run() -> str:
        async with open_store(config) as engine, engine.connect() as conn:
            status = day_status(
                args.date, await load_policy(conn), await get_override(conn, args.date)
            )
        return f"{args.date}: {'checks' if status.working else 'no checks'} ({status.reason})"

    print(asyncio.run(run()))
    return 0


def handle_list(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    year = args.year
    start, end = (date(year, 1, 1), date(year, 12, 31)) if year else (None, None)

    async def run() -> list[Override]:
        async with open_store(config) as engine, engine.connect() as conn:
            return await list_overrides(conn, start, end)

    for o in asyncio.run(run()):
        kind = "working day" if o.is_workday else "day off"
        print(f"{o.day}  {kind}" + (f"  {o.note}" if o.note else ""))
    return 0
