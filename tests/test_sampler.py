"""The fair sample schedule (pure): who is sampled next, and how load is shared."""

from __future__ import annotations

from signaling.sampler import Cadence, StreamClock, next_up, next_wake

CADENCE = Cadence(interval_s=1.0, first_interval_s=0.4, first_samples=3)


def test_the_longest_overdue_ready_streams_go_first_up_to_the_free_threads() -> None:
    clocks = {
        "late": StreamClock(due=1.0, frame=4),
        "later": StreamClock(due=0.5, frame=2),
        "not_due": StreamClock(due=9.0, frame=3),
        "no_new_frame": StreamClock(due=0.0, frame=5, seen=5),
        "in_flight": StreamClock(due=0.0, frame=6, busy=True),
        "on_time": StreamClock(due=2.0, frame=1),
    }
    assert next_up(clocks.items(), now=2.0, free=2) == ["later", "late"]
    assert next_up(clocks.items(), now=2.0, free=5) == ["later", "late", "on_time"]
    assert next_up(clocks.items(), now=2.0, free=0) == []


def test_equal_deadlines_go_to_the_oldest_stream() -> None:
    clocks = [(name, StreamClock(due=1.0, frame=1)) for name in ("first", "second", "third")]
    assert next_up(clocks, now=1.0, free=1) == ["first"]


def test_the_first_samples_come_faster_then_the_interval_counts_from_the_start() -> None:
    assert [CADENCE.after(10.0, n) for n in (1, 2, 3, 4)] == [10.4, 10.4, 11.0, 11.0]
    # An overdue stream is not owed a burst of catch-up samples.
    assert CADENCE.after(50.0, 20) == 51.0


def test_the_dispatcher_sleeps_until_a_sample_falls_due_or_it_is_woken() -> None:
    waiting_for_frame = StreamClock(due=0.0, frame=1, seen=1)
    assert next_wake([StreamClock(due=3.5), waiting_for_frame], now=3.0, free=1) == 0.5
    assert next_wake([StreamClock(due=1.0, frame=1)], now=3.0, free=1) == 0.0
    # No free thread, nothing due but frameless streams, no streams: wait to be woken.
    assert next_wake([StreamClock(due=1.0, frame=1)], now=3.0, free=0) is None
    assert next_wake([waiting_for_frame], now=3.0, free=2) is None
    assert next_wake([], now=3.0, free=2) is None
    assert next_wake([StreamClock(due=9.0, busy=True)], now=3.0, free=1) is None


def _simulate(streams: int, threads: int, cost_s: float, seconds: float) -> list[list[float]]:
    """Every stream sends 5 frames a second; each sample keeps a thread ``cost_s``. The
    times each stream was sampled, driven as ``signaling.analysis`` drives the schedule."""
    clocks = [(i, StreamClock(due=0.0)) for i in range(streams)]
    taken: list[list[float]] = [[] for _ in range(streams)]
    finishing: list[tuple[float, StreamClock]] = []
    now, step = 0.0, 0.01
    while now < seconds:
        for _, clock in clocks:
            clock.frame = int(now * 5) + 1
        for end, clock in [f for f in finishing if f[0] <= now]:
            clock.busy = False
            finishing.remove((end, clock))
        for i in next_up(clocks, now, threads - len(finishing)):
            clock = clocks[i][1]
            clock.busy, clock.seen, clock.samples = True, clock.frame, clock.samples + 1
            clock.due = CADENCE.after(now, clock.samples)
            finishing.append((now + cost_s, clock))
            taken[i].append(now)
        now = round(now + step, 2)
    return taken


def test_under_capacity_every_stream_keeps_its_interval() -> None:
    taken = _simulate(streams=4, threads=2, cost_s=0.05, seconds=20)
    for times in taken:
        gaps = [b - a for a, b in zip(times[3:], times[4:], strict=False)]
        assert max(gaps) <= 1.05 and len(times) >= 19


def test_overloaded_every_stream_slows_down_alike_and_none_starves() -> None:
    # 30 streams wanting 1 sample/s of 0.1 s each on 2 threads: 1.5× the capacity.
    taken = _simulate(streams=30, threads=2, cost_s=0.1, seconds=60)
    counts = [len(times) for times in taken]
    assert max(counts) - min(counts) <= 1
    assert 35 <= min(counts) <= 41  # 2 threads / 0.1 s / 30 streams ≈ 0.67 samples/s
    worst_gap = max(b - a for times in taken for a, b in zip(times, times[1:], strict=False))
    # One round of the others and never more (each sample ends on the next 10 ms step).
    assert worst_gap <= 30 * (0.1 + 0.01) / 2
