"""``hadir records verify``: walk the whole hash chain and name its first broken link."""

from __future__ import annotations

import argparse
import asyncio

from service.context import config_from_args, open_store
from service.errors import UsageError
from service.keys import SIGNING_KEY_FILE, load_or_create_signing_key
from service.records import ChainReport, verify_chain


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("records", help="verification records")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    v = actions.add_parser(
        "verify", help="check every entry's hash, link and signature; exit 1 if one is broken"
    )
    v.set_defaults(handler=handle_verify)


def describe(report: ChainReport) -> str:
    if report.ok:
        return f"chain intact: {report.checked} entries, head {report.head_hash}"
    return (
        f"chain broken at seq {report.broken_seq} (id {report.broken_id}): {report.problem}\n"
        f"{report.checked} entries intact before it, last good head seq {report.head_seq} "
        f"{report.head_hash}"
    )


def handle_verify(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    # Without the key every signature would fail: say so rather than make a new key.
    if not (config.data_dir / SIGNING_KEY_FILE).exists():
        raise UsageError(f"no signing key {SIGNING_KEY_FILE} in {config.data_dir}")
    public_key = load_or_create_signing_key(config.data_dir).public_key()

    async def run() -> ChainReport:
        async with open_store(config) as engine:
            return await verify_chain(engine, public_key)

    report = asyncio.run(run())
    print(describe(report))
    return 0 if report.ok else 1
