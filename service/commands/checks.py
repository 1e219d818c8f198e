"""``hadir checks generate|sweep``: make a day's checks now; close ended ones as MISSED.

The server's jobs do both on their own; these commands are for an admin catching up
after downtime, or preparing a day ahead. Both are idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from service.checks import GenerateSummary, JoinLinks, generate_checks, sweep
from service.clock import utcnow
from service.commands._args import day_arg, instant_arg
from service.context import config_from_args, open_store
from service.errors import UsageError
from service.keys import load_or_create_signing_key
from service.org import load_policy

# Checks carry join links valid until their window ends, and holidays of later years
# are estimates: a day further ahead is almost surely a typo.
MAX_DAYS_AHEAD = 31


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("checks", help="make or close scheduled checks")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    g = actions.add_parser("generate", help="make the checks of a day (default: today)")
    g.add_argument("--date", type=day_arg, help="YYYY-MM-DD, in the policy's time zone")
    g.set_defaults(handler=handle_generate)
    s = actions.add_parser("sweep", help="close checks whose window ended as MISSED")
    s.add_argument(
        "--at",
        type=instant_arg,
        help="ISO instant with its offset, e.g. 2026-11-24T16:30:00+07:00 (default: now)",
    )
    s.set_defaults(handler=handle_sweep)


def cancelled_text(summary: GenerateSummary) -> str:
    return f", {summary.cancelled} cancelled" if summary.cancelled else ""


def reconciled_text(summaries: list[GenerateSummary]) -> str:
    """What reconciling after a change did, in one line (empty when nothing)."""
    made = sum(s.created for s in summaries)
    cancelled = sum(s.cancelled for s in summaries)
    if not made and not cancelled:
        return ""
    return f"checks: {cancelled} cancelled, {made} made"


def handle_generate(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    links = JoinLinks.from_config(config)

    async def run() -> str:
        async with open_store(config) as engine:
            async with engine.connect() as conn:
                today = utcnow().astimezone((await load_policy(conn)).zone).date()
            day = args.date or today
            if day > today + timedelta(days=MAX_DAYS_AHEAD):
                raise UsageError(
                    f"--date {day} is more than {MAX_DAYS_AHEAD} days ahead: the join links "
                    "sent with its checks would stay valid until then"
                )
            summary = await generate_checks(engine, day, links=links)
        status = summary.day
        if not status.working:
            return f"{day}: no checks ({status.reason})" + cancelled_text(summary)
        return (
            f"{day} ({status.reason}): {summary.created} check(s) made, "
            f"{summary.existing} already there, {summary.past} skipped (window already over)"
            + cancelled_text(summary)
        )

    print(asyncio.run(run()))
    return 0


def handle_sweep(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    at = args.at or utcnow()
    if at > utcnow():
        raise UsageError("--at is in the future: checks can only be closed once their window ended")
    key = load_or_create_signing_key(config.data_dir)

    async def run() -> int:
        async with open_store(config) as engine:
            return await sweep(engine, at, key=key, lease=timedelta(seconds=config.calls.lease_s))

    closed = asyncio.run(run())
    print(
        f"{closed} check(s) closed as missed or, where a call was answered or cut short, "
        f"as interrupted (windows ended before {at.isoformat()})"
    )
    return 0
