"""What ``hadir bench load`` reads while a run goes on, and the figures over a window.

A ``Watch`` reads a process's CPU time and resident memory from ``/proc`` once a
second (for the server, summed over the process and its descendants: ``hadir serve
--workers N`` is a parent and N workers; for the naive pipeline, with its frame
counts), so any window of the run (the steady part, a capacity step, a minute of a
long call) is measured afterwards from the same readings. Times are
``time.monotonic()``, the clock the generator's processes stamp their status messages
with.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WATCH_S = 1.0


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` past the command's name: state, ppid, …"""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """The process's CPU time (utime + stime); with ``reaped``, plus that of its
    children that have exited and been waited for (cutime + cstime), where the kernel
    moves a child's time when its parent reaps it."""
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from each process's parent in ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # gone meanwhile
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, summed."""
    total = 0.0
    for each in descendants(pid):
        with contextlib.suppress(OSError, RuntimeError):  # gone meanwhile
            total += rss_mb(each)
    return total


@dataclass(frozen=True)
class Reading:
    t: float
    cpu_s: float  # summed over the processes watched
    rss_mb: float
    frames: tuple[int, int] = (0, 0)  # the naive pipeline's frames received, analysed
    cpu_by_pid: dict[int, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Span:
    """A process over a window: the differences between two readings."""

    seconds: float
    cpu_s: float
    rss_mb: float  # at the window's end
    received: int
    analysed: int
    cpu_by_pid: dict[int, float] = field(default_factory=dict, hash=False)


class Watch:
    """Readings of one process (with ``tree``, and its descendants, found anew at each
    reading) until ``stop``; stops by itself if the process exits. In a tree each
    process counts its reaped children too, so a worker that exits is not lost: its
    time moves to its parent's count (by process, a window shows it there)."""

    def __init__(
        self,
        pid: int,
        frames: Callable[[], Awaitable[tuple[int, int]]] | None = None,
        tree: bool = False,
    ) -> None:
        self.pid, self.frames, self.tree = pid, frames, tree
        self.readings: list[Reading] = []
        self._task = asyncio.create_task(self._run())

    def _read(self) -> Reading:
        cpu_seconds(self.pid)  # raises once the process is gone
        memory, by_pid = 0.0, {}
        for pid in descendants(self.pid) if self.tree else [self.pid]:
            with contextlib.suppress(OSError, RuntimeError):  # a descendant gone meanwhile
                by_pid[pid] = cpu_seconds(pid, reaped=self.tree)
                memory += rss_mb(pid)
        return Reading(time.monotonic(), sum(by_pid.values()), memory, cpu_by_pid=by_pid)

    async def _run(self) -> None:
        while True:
            try:
                counts = await self.frames() if self.frames is not None else (0, 0)
                reading = await asyncio.to_thread(self._read)
            except (OSError, RuntimeError):  # the process is gone
                return
            self.readings.append(
                Reading(reading.t, reading.cpu_s, reading.rss_mb, counts, reading.cpu_by_pid)
            )
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
        {pid: cpu - a.cpu_by_pid.get(pid, 0.0) for pid, cpu in b.cpu_by_pid.items()},
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
