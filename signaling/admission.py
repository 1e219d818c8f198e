"""Whether the analysis threads can take one more call without slowing the others down.

Capacity is what the benchmark calls it (``docs/performance.md``): every admitted call
sampled at no less than ``min_rate_share`` of the rate it asks for. A static limit
(``calls.max_analysis_calls``) cannot know that: what one sample costs depends on the
machine, on what else runs on it and on the pictures. So the pool tells ``Admission``
what each sample cost and how long a ready frame waited for a thread, and a new call is
admitted only while

- the calls admitted, plus this one, would keep the threads below ``max_load`` of
  their time at the measured cost per sample (a burst of new calls is judged on the
  calls, not on load that has not arrived yet), and
- ready frames are not already waiting longer than ``wait_share`` of what the capacity
  allows
  (the threads or the event loop are slower than the cost says: another process on the
  machine, a stalled loop).

A call refused here goes on peer to peer and offers its leg again later
(``signaling.session``); what was not analysed is never evidence (``server_busy``,
``analysis_unavailable``). Pure: the pool passes in every measurement.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdmissionPolicy:
    interval_s: float
    """The rate each call asks for: a sample every ``interval_s``."""
    threads: int
    min_rate_share: float = 0.9
    """Capacity: every admitted call sampled at this share of its rate or more."""
    max_load: float = 0.8
    """Share of the threads' time the admitted calls may be expected to take: the rest
    of the core is the event loop's (stills received, status sent). At 0.9, one core
    admitted 75 calls and sampled them at 0.86 Hz; 70 held 1 Hz (docs/performance.md)."""
    wait_share: float = 0.75
    """Share of ``wait_budget_s`` the mean wait may reach before new calls are refused.
    At half, a server sharing its cores with the load generator refused a leg at 50
    streams whose calls were all still sampled at 0.99 Hz (docs/performance.md)."""
    prior_sample_s: float = 0.03
    """The cost of a sample before one was measured (vision 10-20 ms CPU, the JPEG
    decode, some contention): admits ``threads * 30`` calls at 1 Hz until measured."""
    smoothing: float = 0.1
    """Weight of the newest measurement in the running means (about the last 10-20)."""

    @property
    def wait_budget_s(self) -> float:
        """The longest mean wait of a ready frame at which calls still get their
        ``min_rate_share`` of samples."""
        return self.interval_s * (1 / self.min_rate_share - 1)


class Admission:
    """Running means of the pool's measurements, and the admission decision."""

    def __init__(self, policy: AdmissionPolicy) -> None:
        self.policy = policy
        self.sample_s = policy.prior_sample_s
        self.wait_s = 0.0
        self._measured = False

    def sampled(self, seconds: float, waited_s: float) -> None:
        """One sample took ``seconds`` of a thread, after its frame had been ready and
        due for ``waited_s``."""
        a = self.policy.smoothing
        if not self._measured:
            self.sample_s, self._measured = seconds, True
        else:
            self.sample_s += a * (seconds - self.sample_s)
        self.wait_s += a * (max(0.0, waited_s) - self.wait_s)

    def load(self, calls: int) -> float:
        """The expected share of the threads' time ``calls`` take at the measured cost."""
        p = self.policy
        return calls * self.sample_s / (p.interval_s * p.threads)

    def admits(self, calls: int) -> bool:
        """Whether one more call may join the ``calls`` admitted (the first always may:
        there is nobody to slow down, and no wait measured now is still true)."""
        p = self.policy
        if calls == 0:
            return True
        return self.load(calls + 1) <= p.max_load and self.wait_s <= p.wait_share * p.wait_budget_s

    def capacity(self) -> int:
        """Calls the threads hold at the measured cost (for the metrics and the logs)."""
        p = self.policy
        return int(p.max_load * p.interval_s * p.threads / self.sample_s)
