"""Which calls' frames the analysis threads take next: one fair schedule for all streams.

Each analysed call wants a sample every ``interval_s`` (its first few faster, so the
supervisor sees a verdict soon). When the threads cannot keep up, the stream whose
sample is the longest overdue goes first, and a frame is only picked when a thread is
free to analyse it at once. So under load every stream's sample rate drops by the same
amount, and a frame never waits in a queue: the sample lag stays short and no stream
starves. A stream still taking its first samples goes before the rest, so a burst of
new calls gets its first verdicts in seconds; that head start is bounded (a few
samples per admitted call), so it slows the others down a little, never stops them.
Pure logic; ``signaling.analysis`` drives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True)
class Cadence:
    """How often one stream wants a sample."""

    interval_s: float
    first_interval_s: float  # until the stream has ``first_samples`` of them
    first_samples: int

    def after(self, started: float, samples: int) -> float:
        """When the next sample is due, given one started at ``started`` and ``samples``
        taken so far. Counted from the start, not from the last due time: an overdue
        stream does not bank samples to catch up with in a burst."""
        fast = samples < self.first_samples
        return started + (min(self.interval_s, self.first_interval_s) if fast else self.interval_s)


@dataclass
class StreamClock:
    """What the schedule knows of one stream."""

    due: float  # when it wants its next sample
    frame: int = 0  # number of its newest frame
    fresh_at: float = 0.0  # when the first frame since its last sample arrived
    seen: int = 0  # number of the frame it last had analysed
    samples: int = 0
    busy: bool = False  # a sample in a thread now

    @property
    def ready(self) -> bool:
        """A new frame to analyse, and no sample of this stream in flight."""
        return not self.busy and self.frame > self.seen


def next_up(
    clocks: Iterable[tuple[K, StreamClock]], now: float, free: int, first_samples: int = 0
) -> list[K]:
    """The streams to sample now, at most ``free`` (idle threads): those ready and due,
    those with fewer than ``first_samples`` first, then the longest overdue first (ties
    in the order given, i.e. the oldest stream)."""
    if free <= 0:
        return []
    due = [
        (clock.samples >= first_samples, clock.due, i, key)
        for i, (key, clock) in enumerate(clocks)
        if clock.ready and clock.due <= now
    ]
    return [key for *_, key in sorted(due)][:free]


def next_wake(clocks: Iterable[StreamClock], now: float, free: int) -> float | None:
    """Seconds the dispatcher may sleep: until the next sample falls due, or None (until
    woken) when no thread is free or nothing is waiting. A stream already due but with
    no new frame is left out: its frame's arrival wakes the dispatcher."""
    if free <= 0:
        return None
    dues = [clock.due for clock in clocks if clock.ready or (not clock.busy and clock.due > now)]
    return max(0.0, min(dues) - now) if dues else None
