"""Debian's nginx as the load balancer in front of several ``hadir serve`` processes:
a generated configuration, one process on a loopback port, stopped afterwards.

The configuration is the one docs/scale-out.md describes (HTTP and WebSocket proxied,
``Upgrade`` passed on, long read timeouts for sockets that stay open), plus a test-only
route: a ``hadir_node`` cookie of ``N`` pins a browser to process N, with the others as
backups, so a test can put the supervisor on one process and the staff page on another
and see the staff page fail over when its process dies.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.cli_helpers import free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COOKIE = "hadir_node"


def nginx_config(listen: int, backends: list[int], workdir: Path) -> str:
    """Round robin over ``backends``; cookie ``hadir_node=N`` (1-based) pins to one."""
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in backends)
    pinned = ""
    routes = ""
    for n, port in enumerate(backends, start=1):
        backups = "".join(f"    server 127.0.0.1:{p} backup;\n" for p in backends if p != port)
        pinned += (
            f"  upstream hadir_{n} {{\n    server 127.0.0.1:{port} max_fails=1;\n{backups}  }}\n"
        )
        routes += f'    "{n}" hadir_{n};\n'
    temp = "\n".join(
        f"  {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""worker_processes 1;
daemon off;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
{temp}
  map $http_upgrade $connection_upgrade {{
    default upgrade;
    "" close;
  }}
  map $cookie_{COOKIE} $hadir_upstream {{
    default hadir;
{routes}  }}
  upstream hadir {{
{servers}  }}
{pinned}  server {{
    listen 127.0.0.1:{listen};
    location / {{
      proxy_pass http://$hadir_upstream;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }}
  }}
}}
"""


@dataclass
class Nginx:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def errors(self) -> str:
        log = self.workdir / "error.log"
        return log.read_text() if log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def start_nginx(workdir: Path, backends: list[int]) -> Nginx:
    """nginx on a free loopback port, once it answers (a backend's ``/healthz``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_config(port, backends, workdir))
    proc = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nginx = Nginx(port, proc, workdir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited {proc.returncode}: {nginx.errors()}")
        try:
            with urllib.request.urlopen(f"{nginx.url}/healthz", timeout=2):
                return nginx
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    nginx.stop()
    raise AssertionError(f"nginx did not answer: {nginx.errors()}")
