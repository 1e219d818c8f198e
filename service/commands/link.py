"""``hadir link``: print or revoke a person's signed, expiring page link."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from service.context import config_from_args, open_store, tell_revoked
from service.errors import UsageError
from service.keys import LINK_SECRET_FILE, load_or_create_secret
from service.links import issue_link, revoke


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("link", help="print or revoke a personal link")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for role in ("supervisor", "staff"):
        a = actions.add_parser(role, help=f"print a new link for a {role}")
        a.add_argument("id")
        a.add_argument(
            "--ttl-hours",
            type=float,
            default=None,
            help="validity (default: security.link_ttl_hours)",
        )
        a.set_defaults(handler=handle_issue, role=role)
    r = actions.add_parser("revoke", help="revoke one token, or every link of a person")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--token-id", help="the token id (printed with each link)")
    g.add_argument("--supervisor", metavar="ID")
    g.add_argument("--staff", metavar="ID")
    r.set_defaults(handler=handle_revoke)


def handle_issue(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    hours = config.security.link_ttl_hours if args.ttl_hours is None else args.ttl_hours
    if hours <= 0:
        raise UsageError("--ttl-hours must be positive")
    secret = load_or_create_secret(config.data_dir, LINK_SECRET_FILE)

    async def run() -> None:
        async with open_store(config) as engine, engine.begin() as conn:
            try:
                url, claims = await issue_link(
                    conn,
                    secret,
                    config.public_url,
                    args.role,
                    args.id,
                    timedelta(hours=hours),
                    actor="cli",
                )
            except LookupError as exc:
                raise UsageError(exc.args[0]) from None
        print(url)
        print(f"# token id {claims.jti}, valid until {claims.expires_at.isoformat()}")

    asyncio.run(run())
    return 0


def handle_revoke(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    role = "supervisor" if args.supervisor else "staff" if args.staff else None

    async def run() -> int:
        async with open_store(config) as engine, engine.begin() as conn:
            ids = await revoke(
                conn,
                actor="cli",
                jti=args.token_id,
                role=role,
                subject=args.supervisor or args.staff,
            )
        await tell_revoked(config, ids)  # committed: the servers close the pages now
        return len(ids)

    count = asyncio.run(run())
    print(f"revoked {count} link(s)")
    return 0 if count else 1
