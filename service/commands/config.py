"""``hadir config check|reference``: validate a configuration, or list every setting."""

from __future__ import annotations

import argparse

from service.config import reference
from service.context import config_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="check the configuration or list every setting")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("check", help="load and validate; exit 2 naming a bad key").set_defaults(
        handler=handle_check
    )
    actions.add_parser("reference", help="print every setting as a Markdown table").set_defaults(
        handler=handle_reference
    )


def handle_check(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    print(
        f"configuration valid; database {config.database_url.split('@')[-1]}, "
        f"public URL {config.public_url}"
    )
    return 0


def handle_reference(args: argparse.Namespace) -> int:
    print("| key | environment variable | default | meaning |")
    print("|---|---|---|---|")
    for key, env, default, help_text in reference():
        print(f"| `{key}` | `{env}` | `{default}` | {help_text} |")
    return 0
