"""``hadir serve``: run the service."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from functools import partial

from aiohttp import web

from service.checks import JoinLinks
from service.config import load_config
from service.context import config_file
from service.demo import load_demo
from service.logs import setup_logging
from service.server import run_server
from service.state import CONFIG, ENGINE, LINK_SECRET
from service.workers import check_workers, default_workers, run_workers


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the service (HTTPS unless --http)")
    p.add_argument(
        "--http",
        action="store_true",
        default=None,
        help="serve plain HTTP (localhost, or behind a TLS proxy)",
    )
    p.add_argument("--host", help="listen address (server.host)")
    p.add_argument("--port", type=int, help="listen port (server.port)")
    p.add_argument(
        "--workers",
        type=int,
        help="processes sharing the port (default: the cores when PostgreSQL and Redis "
        "are configured, else 1; more than 1 needs both)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="load the demo organisation and print its people's links",
    )
    p.set_defaults(handler=handle)


async def _print_urls(app: web.Application, *, demo: bool) -> None:
    config = app[CONFIG]
    lines = [
        "",
        f"Hadir is running at {config.public_url}",
        f"  health:     {config.public_url}/healthz",
    ]
    if demo:
        ttl = timedelta(hours=config.security.link_ttl_hours)
        join = JoinLinks(app[LINK_SECRET], config.public_url)
        links = await load_demo(app[ENGINE], join, ttl)
        lines.append(f"  supervisor {links.supervisor.name}: {links.supervisor.url}")
        lines += [f"  staff {p.name} ({p.id}): {p.url}" for p in links.staff]
        lines.append(
            f"  ({links.spot_checks} demo spot checks are open: open the supervisor link "
            f"and start a call; today's regular checks made now: {links.regular_checks})"
        )
    if not config.server.http:
        lines.append(
            "  (self-signed certificate unless server.tls_cert is set: "
            "accept the browser warning once)"
        )
    print("\n".join(lines) + "\n", flush=True)


def handle(args: argparse.Namespace) -> int:
    overrides = {
        "server": {
            k: v
            for k, v in (("http", args.http), ("host", args.host), ("port", args.port))
            if v is not None
        }
    }
    config = load_config(config_file(args), overrides=overrides)
    setup_logging(config.log.level, config.log.format)
    workers = default_workers(config) if args.workers is None else args.workers
    check_workers(config, workers)
    ready = partial(_print_urls, demo=args.demo)
    if workers == 1:
        asyncio.run(run_server(config, on_ready=ready))
        return 0
    # The first worker prints the URLs (and loads the demo) once.
    return run_workers(config, workers, lambda i: ready if i == 0 else None)
