"""What ``hadir bench load`` reads while a run goes on, and the figures over a window.

A ``Watch`` reads a process's CPU time and resident memory from ``/proc`` once a
second (and, for the naive pipeline, its frame counts), so any window of the run
(the steady part, a capacity step, a minute of a long call) is measured afterwards
from the same readings. Times are ``time.monotonic()``, the clock the generator's
processes stamp their status messages with.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WATCH_S = 1.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass(frozen=True)
class Reading:
    t: float
    cpu_s: float
    rss_mb: float
    frames: tuple[int, int] = (0, 0)  # the naive pipeline's frames received, analysed


@dataclass(frozen=True)
class Span:
    """A process over a window: the differences between two readings."""

    seconds: float
    cpu_s: float
    rss_mb: float  # at the window's end
    received: int
    analysed: int


class Watch:
    """Readings of one process until ``stop``; stops by itself if the process exits."""

    def __init__(
        self, pid: int, frames: Callable[[], Awaitable[tuple[int, int]]] | None = None
    ) -> None:
        self.pid, self.frames = pid, frames
        self.readings: list[Reading] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                counts = await self.frames() if self.frames is not None else (0, 0)
                self.readings.append(
                    Reading(time.monotonic(), cpu_seconds(self.pid), rss_mb(self.pid), counts)
                )
            except (OSError, RuntimeError):  # the process is gone
                return
            await asyncio.sleep(WATCH_S)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def span(readings: list[Reading], start: float, end: float) -> Span | None:
    """The first reading at or after ``start`` to the last at or before ``end``."""
    inside = [r for r in readings if start <= r.t <= end]
    if len(inside) < 2:
        return None
    a, b = inside[0], inside[-1]
    return Span(
        b.t - a.t,
        b.cpu_s - a.cpu_s,
        b.rss_mb,
        b.frames[0] - a.frames[0],
        b.frames[1] - a.frames[1],
    )


def sample_rate(points: list[tuple[float, int]], start: float, end: float) -> float | None:
    """Samples per second a stream got between ``start`` and ``end``: the least-squares
    slope of its status reports (time, samples so far). Reports come about once a
    second and samples too, so first-to-last would be off by up to one sample over the
    window (±0.1 Hz over 10 s); the slope over every report is not."""
    inside = [(t, n) for t, n in points if start <= t <= end]
    if len(inside) < 2:
        return None
    mean_t = sum(t for t, _ in inside) / len(inside)
    mean_n = sum(n for _, n in inside) / len(inside)
    spread = sum((t - mean_t) ** 2 for t, _ in inside)
    if spread == 0:
        return None
    return sum((t - mean_t) * (n - mean_n) for t, n in inside) / spread


def samples_between(points: list[tuple[float, int]], start: float, end: float) -> int:
    """Samples a stream got between its first and last report inside the window."""
    inside = [n for t, n in points if start <= t <= end]
    return inside[-1] - inside[0] if len(inside) >= 2 else 0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]
