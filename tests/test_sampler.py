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


def test_a_stream_still_taking_its_first_samples_goes_before_the_overdue_ones() -> None:
    clocks = [
        ("overdue", StreamClock(due=1.0, frame=9, samples=8)),
        ("new", StreamClock(due=4.0, frame=1, samples=0)),
        ("warming", StreamClock(due=3.0, frame=3, samples=2)),
    ]
    assert next_up(clocks, now=5.0, free=3, first_samples=3) == ["warming", "new", "overdue"]
    assert next_up(clocks, now=5.0, free=3) == ["overdue", "warming", "new"]


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


def _simulate(
    streams: int, threads: int, cost_s: float, seconds: float, joins: dict[int, float] | None = None
) -> list[list[float]]:
    """Every stream sends 5 frames a second from its join time (0 unless in ``joins``);
    each sample keeps a thread ``cost_s``. The times each stream was sampled, driven as
    ``signaling.analysis`` drives the schedule."""
    joins = joins or {}
    clocks: list[tuple[int, StreamClock]] = []
    taken: list[list[float]] = [[] for _ in range(streams)]
    finishing: list[tuple[float, StreamClock]] = []
    now, step = 0.0, 0.01
    while now < seconds:
        for i in range(streams):
            if len(clocks) == i and joins.get(i, 0.0) <= now:
                clocks.append((i, StreamClock(due=now)))
        for i, clock in clocks:
            clock.frame = int((now - joins.get(i, 0.0)) * 5) + 1
        for end, clock in [f for f in finishing if f[0] <= now]:
            clock.busy = False
            finishing.remove((end, clock))
        for i in next_up(clocks, now, threads - len(finishing), CADENCE.first_samples):
            clock = clocks[i][1]
            clock.busy, clock.seen, clock.samples = True, clock.frame, clock.samples + 1
            clock.due = CADENCE.after(now, clock.samples)
            finishing.append((now + cost_s, clock))
            taken[i].append(now)
        now = round(now + step, 2)
    return taken


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_under_capacity_every_stream_keeps_its_interval() -> None:
    taken = _simulate(streams=4, threads=2, cost_s=0.05, seconds=20)
    for times in taken:
        assert max(_gaps(times[3:])) <= 1.05 and len(times) >= 19


def test_overloaded_every_stream_slows_down_alike_and_none_starves() -> None:
    # 30 streams wanting 1 sample/s of 0.1 s each on 2 threads: 1.5× the capacity.
    taken = _simulate(streams=30, threads=2, cost_s=0.1, seconds=60)
    counts = [len(times) for times in taken]
    assert max(counts) - min(counts) <= 1
    assert 35 <= min(counts) <= 41  # 2 threads / 0.1 s / 30 streams ≈ 0.67 samples/s
    # One round of the others and never more (each sample ends on the next 10 ms step).
    assert max(gap for times in taken for gap in _gaps(times)) <= 30 * (0.1 + 0.01) / 2


def test_a_burst_of_new_calls_gets_its_first_samples_fast_and_the_rest_go_on() -> None:
    # 24 calls saturate the threads; at 30 s, 12 more join within 3 s.
    joins = {24 + k: 30.0 + k / 4 for k in range(12)}
    taken = _simulate(streams=36, threads=2, cost_s=0.1, seconds=60, joins=joins)
    for i, joined in joins.items():
        assert taken[i][CADENCE.first_samples - 1] - joined <= 1.5  # enough for a verdict
    # The others wait at most one round of everyone plus the newcomers' first samples.
    bound = (36 + 12 * CADENCE.first_samples) * 0.11 / 2
    for times in taken[:24]:
        assert max(_gaps([t for t in times if t > 20])) <= bound
