"""``hadir apikey create|list|revoke``: keys for the REST API."""

from __future__ import annotations

import argparse
import asyncio

from service.apikeys import SCOPES, create_key, list_keys, revoke_key
from service.context import config_from_args, open_store
from service.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("apikey", help="create, list or revoke REST API keys")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = actions.add_parser("create", help="print a new key (shown once; stored hashed)")
    c.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=SCOPES,
        help="a scope the key grants; repeat for several",
    )
    c.add_argument("--name", default="", help="what the key is for")
    c.set_defaults(handler=handle_create)
    actions.add_parser("list", help="list keys (never their values)").set_defaults(
        handler=handle_list
    )
    r = actions.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("id")
    r.set_defaults(handler=handle_revoke)


def handle_create(args: argparse.Namespace) -> int:
    config = config_from_args(args)

    async def run() -> None:
        async with open_store(config) as engine, engine.begin() as conn:
            key, record = await create_key(conn, args.name, args.scope, actor="cli")
        print(key)
        print(f"# key id {record.id}, scopes {' '.join(record.scopes)}")

    asyncio.run(run())
    return 0


def handle_list(args: argparse.Namespace) -> int:
    config = config_from_args(args)

    async def run() -> None:
        async with open_store(config) as engine, engine.connect() as conn:
            keys = await list_keys(conn)
        for k in keys:
            state = f"revoked {k.revoked_at.isoformat()}" if k.revoked_at else "active"
            print(f"{k.id}\t{' '.join(k.scopes)}\t{state}\t{k.name}")

    asyncio.run(run())
    return 0


def handle_revoke(args: argparse.Namespace) -> int:
    config = config_from_args(args)

    async def run() -> bool:
        async with open_store(config) as engine, engine.begin() as conn:
            return await revoke_key(conn, args.id, actor="cli")

    if not asyncio.run(run()):
        raise UsageError(f"no active API key with id {args.id!r}")
    print(f"revoked {args.id}")
    return 0
