"""The ``hadir`` command line.

Each module in ``service.commands`` adds its own sub-command through a
``register(subparsers)`` function, so a feature brings its command with it and this
file never changes. A handler returns the exit code; ``UsageError`` and
``ConfigError`` become a one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from service import commands
from service.config import ConfigError
from service.errors import UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hadir",
        description="Hadir: video-call presence checks for staff working from home.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="TOML configuration file (default: $HADIR_CONFIG if set)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"hadir: configuration error: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"hadir: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
