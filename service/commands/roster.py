"""``hadir roster import FILE``: load units, supervisors and staff (all or nothing)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from service.checks import JoinLinks, reconcile_checks
from service.commands.checks import reconciled_text
from service.context import config_from_args, open_store, tell_revoked
from service.errors import UsageError
from service.org import import_roster
from service.roster import RosterError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("roster", help="manage the roster of units, supervisors and staff")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="import a CSV or JSON roster file")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=handle_import)


def handle_import(args: argparse.Namespace) -> int:
    config = config_from_args(args)

    async def run() -> None:
        async with open_store(config) as engine:
            summary = await import_roster(engine, args.file, actor="cli")
            await tell_revoked(config, summary.revoked)  # staff made inactive
            done = reconciled_text(
                await reconcile_checks(engine, links=JoinLinks.from_config(config))
            )
        print(
            f"imported {summary.units} unit(s), {summary.supervisors} supervisor(s), "
            f"{summary.staff} staff from {args.file}"
        )
        if done:
            print(done)

    try:
        asyncio.run(run())
    except RosterError as exc:
        raise UsageError(str(exc)) from None
    return 0
