"""Running ``hadir`` as a user would: a subprocess with its own environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def hadir_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADIR_")}
    env.pop("DATABASE_URL", None)
    env["HADIR_STORAGE_DATA_DIR"] = str(data_dir)
    env["HADIR_LOG_FORMAT"] = "json"
    if database_url:
        env["HADIR_STORAGE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def hadir(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``hadir serve`` in a subprocess; collects its stdout lines as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        import queue
        import threading

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        assert self.proc.stdout is not None
        stream = self.proc.stdout
        threading.Thread(target=lambda: [self.lines.put(ln) for ln in stream], daemon=True).start()

    def wait_for(self, needle: str, timeout: float = 90) -> str:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"service exited {self.proc.returncode}: "
                        f"{self.proc.stderr.read() if self.proc.stderr else ''}"
                    ) from None
                continue
            self.stdout.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} not printed within {timeout}s: {self.stdout}")

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err
