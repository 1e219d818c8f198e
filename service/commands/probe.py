"""``hadir probe PATH``: GET a path of the local service; exit 0 on 2xx (Docker healthcheck)."""

from __future__ import annotations

import argparse
import ssl
import urllib.error
import urllib.request

from service.context import config_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("probe", help="GET a path of the running service (for healthchecks)")
    p.add_argument("path", nargs="?", default="/healthz")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    scheme = "http" if config.server.http else "https"
    host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::", "") else config.server.host
    url = f"{scheme}://{host}:{config.server.port}{args.path}"
    # The probe talks to this very host, often through a self-signed certificate.
    context = None if config.server.http else ssl._create_unverified_context()  # noqa: S323
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as response:
            print(response.read().decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"{url}: HTTP {exc.code}")
    except OSError as exc:
        print(f"{url}: {exc}")
    return 1
