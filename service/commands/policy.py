"""``hadir policy show|set``: the organisation's work-from-home policy."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from service.checks import GenerateSummary, JoinLinks, reconcile_checks
from service.commands.checks import reconciled_text
from service.context import config_from_args, open_store
from service.errors import UsageError
from service.org import load_policy, save_policy
from service.policy import WEEKDAYS, Policy, PolicyError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="show or set the work-from-home policy")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the policy in force")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=handle_show)
    put = actions.add_parser(
        "set", help="replace the policy with a JSON file (fields left out keep their defaults)"
    )
    put.add_argument("file", type=Path)
    put.set_defaults(handler=handle_set)


def describe(policy: Policy) -> str:
    """The policy as a person reads it."""
    days = ", ".join(WEEKDAYS[d - 1] for d in policy.work_days)
    lines = [
        f"organisation:    {policy.organisation}",
        f"time zone:       {policy.timezone}",
        f"working hours:   {policy.work_start:%H:%M}–{policy.work_end:%H:%M} ({days})",
        f"checks at:       {', '.join(f'{t:%H:%M}' for t in policy.check_times)}"
        f" (window ±{policy.check_window_minutes} min"
        + (
            f", random offset up to {policy.random_offset_minutes} min)"
            if policy.random_offset_minutes
            else ")"
        ),
        "uniform of the day:",
        *(f"  {day}: {rule.label} [{rule.policy}]" for day, rule in policy.uniforms.items()),
        f"home radius:     {policy.location_radius_m:g} m",
        f"holidays:        Indonesia ({', '.join(policy.holiday_categories)})",
        f"evidence stills: {'kept' if policy.evidence_stills else 'not kept'}"
        + (
            f", deleted after {policy.evidence_retention_days} days"
            if policy.evidence_stills
            else ""
        ),
        f"identity match:  {'on (enrolled faces)' if policy.identity_check else 'off'}",
        f"liveness:        {'one challenge per call' if policy.liveness_check else 'off'}"
        " (a supervisor may always ask for one)",
    ]
    return "\n".join(lines)


def handle_show(args: argparse.Namespace) -> int:
    config = config_from_args(args)

    async def run() -> Policy:
        async with open_store(config) as engine, engine.connect() as conn:
            return await load_policy(conn)

    policy = asyncio.run(run())
    print(
        json.dumps(policy.to_dict(), indent=2, ensure_ascii=False)
        if args.json
        else describe(policy)
    )
    return 0


def handle_set(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    try:
        policy = Policy.from_dict(json.loads(args.file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UsageError(f"{args.file}: file not found") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.file}: invalid JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{args.file}: invalid JSON: nested too deeply") from None
    except PolicyError as exc:
        raise UsageError(f"{args.file}: {exc}") from None

    async def run() -> list[GenerateSummary]:
        async with open_store(config) as engine:
            async with engine.begin() as conn:
                await save_policy(conn, policy, actor="cli")
            return await reconcile_checks(engine, links=JoinLinks.from_config(config))

    done = reconciled_text(asyncio.run(run()))
    print(describe(policy))
    if done:
        print(done)
    return 0
