"""Running ``hadir`` as a user would: a subprocess with its own environment."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
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


def loopback_http(port: int) -> tuple[str, ...]:
    """``hadir serve`` arguments for plain HTTP on loopback at ``port``."""
    return ("--http", "--host", "127.0.0.1", "--port", str(port))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``hadir serve`` in a subprocess. Both its streams are read as they come: stdout
    line by line for ``wait_for``, stderr (the logs) kept whole. A pipe nobody reads
    fills up (64 KiB) and then blocks the server in the middle of a log line."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self._stderr: list[str] = []
        out, err = self.proc.stdout, self.proc.stderr
        assert out is not None and err is not None

        def pump_lines() -> None:
            for ln in out:
                self.lines.put(ln)

        self._readers = [
            threading.Thread(target=pump_lines, daemon=True),
            threading.Thread(target=lambda: self._stderr.extend(err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def stderr(self) -> str:
        """What the process wrote to stderr so far (all of it once it has exited)."""
        return "".join(self._stderr)

    def wait_for(self, needle: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    self._readers[1].join(5)
                    raise AssertionError(
                        f"service exited {self.proc.returncode}: {self.stderr}"
                    ) from None
                continue
            self.stdout.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} not printed within {timeout}s: {self.stdout}")

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything written to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode, self.stderr
