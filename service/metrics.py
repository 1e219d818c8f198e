"""Every Prometheus series Hadir exports, declared once (docs/metrics.md lists them).

Modules count by importing a series from here; ``/metrics`` renders them
(``render``) for an API key with the ``metrics:read`` scope. Labels take a few fixed
values (outcomes, statuses), never a person, a call, a token or an address.

One process counts in prometheus_client's default registry. Several processes on one
machine (``hadir serve --workers N``) share their counts through its multiprocess mode:
the parent sets ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before any worker
imports prometheus_client (it is read then), each worker writes its values there, and a
scrape of any worker sums them (``MultiProcessCollector``); a worker that exits is
passed to ``prometheus_client.multiprocess.mark_process_dead(pid)`` so that its live
gauges leave the sum. Each gauge says how workers' values combine
(``multiprocess_mode``).
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.schema import deliveries
from service.store import read_only

SCOPE = "metrics:read"
# The text format every Prometheus reads (``generate_latest`` writes it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

RING_OUTCOMES = (
    "answered",
    "declined",
    "not_answered",
    "cancelled",
    "window_ended",
    "disconnected",
    "server_shutdown",
)
# A delivery's status after an attempt (service.webhooks.queue.decide) → its outcome.
DELIVERY_OUTCOMES = {
    "delivered": "delivered",
    "pending": "retry",
    "failed": "dead",
    "disabled": "dead",  # 410 Gone: the endpoint is disabled, no retry
}
PUSH_OUTCOMES = ("sent", "gone", "failed")
SELF_CHECK_OUTCOMES = ("judged", "busy", "bad_image")

# No ``*_created`` series beside each counter and histogram: they would double the text.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream

CALLS_LIVE = Gauge(
    "hadir_calls_live",
    "Calls ringing or in progress now.",
    multiprocess_mode="livesum",
)
"""Calls from ``call`` until they end, ringing or answered; summed over live workers."""

RINGS = Counter("hadir_rings", "Rings by how they ended.", ["outcome"])
"""Every call rings first; its ring ends ``answered``, or the call ends while still
ringing: ``declined`` by the staff member, ``not_answered`` in time, ``cancelled`` by the
supervisor, ``window_ended``, ``disconnected`` (a page went away), ``server_shutdown``."""

ANALYSIS_LEGS = Counter(
    "hadir_analysis_legs", "Analysis legs offered by staff pages, by admission.", ["result"]
)
"""``admitted`` into the analyzer pool, or ``refused`` because it was full (its threads
at capacity, ``signaling.admission``, or ``calls.max_analysis_calls`` in): that call goes
on unwatched and offers its leg again a few seconds later; what was not watched is
INCONCLUSIVE."""

ANALYSIS_CAPACITY = Gauge(
    "hadir_analysis_capacity_calls",
    "Calls the analysis threads hold at the measured cost per sample.",
    multiprocess_mode="livesum",
)
"""Each process's admission estimate (``signaling.admission``) summed over the live
workers: admitted calls beyond it would be sampled below 90 % of their rate."""

SAMPLE_LAG = Histogram(
    "hadir_sample_lag_seconds",
    "From a frame's arrival to its analysed sample.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
"""What the live status shows as ``sample_lag_s``: waiting for a thread plus analysis."""

SAMPLES = Counter("hadir_samples", "Frames of calls analysed into samples.")
"""Samples taken by calls; ``rate()`` of it is the samples analysed per second."""

SAMPLE_CPU = Histogram(
    "hadir_sample_cpu_seconds",
    "CPU time of the analysing thread per sample.",
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
)
"""The thread's own CPU time for one frame (converting and analysing), so waiting for
the GIL or the core is not in it; compare with the lag to see the machine's load."""
CHALLENGE_FRAME_CPU = Histogram(
    "hadir_challenge_frame_cpu_seconds",
    "CPU time of the analysing thread per still measured during a liveness challenge.",
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
)
"""Decoding the still and reading its head pose (FaceMesh): every still of a challenge,
about 4 a second for its 8 seconds, beside the call's samples."""
FACE_ENROLMENTS = Counter(
    "hadir_face_enrolments_total",
    "Faces enrolled for the identity match, by source (self, admin).",
    ["source"],
)
IDENTITY_MATCH_SECONDS = Histogram(
    "hadir_identity_match_seconds",
    "Time to describe one face (identity match or enrolment still): alignment, then the "
    "ResNet in the descriptor process.",
    buckets=(0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0),
)
"""A few per call when the policy checks identity (vision.identity); the analysing
thread waits for it without holding the GIL. The first includes starting the process
and loading the model (about 1 s)."""

RECORDS_WRITTEN = Counter(
    "hadir_records_written", "Chain entries committed, by kind and status.", ["kind", "status"]
)
"""Each entry counted once, after its transaction committed: ``verification`` (a call's
result, or the sweep's MISSED and INCONCLUSIVE ``interrupted``), ``review``,
``objection``; ``status`` is the entry's (passed, failed, inconclusive, missed)."""

WEBHOOK_DELIVERIES = Counter(
    "hadir_webhook_deliveries", "Webhook delivery attempts recorded, by outcome.", ["outcome"]
)
"""``delivered`` (2xx), ``retry`` (failed, another attempt is scheduled), ``dead`` (the
retries are spent, or the receiver answered 410 Gone and its endpoint is disabled)."""

WEBHOOK_BACKLOG = Gauge(
    "hadir_webhook_deliveries_pending",
    "Webhook deliveries waiting to be sent or retried (read at scrape time).",
    multiprocess_mode="mostrecent",
)
"""Counted in the database at each scrape, so every worker and node sees the same."""

BUS_MESSAGES = Counter(
    "hadir_bus_messages", "Messages published to other processes over Redis, by type.", ["type"]
)
"""Each message this process published on the bus (docs/protocol.md, "Between processes"):
``relay_still`` is a staff camera still whose page landed on another process than its
call (about 40 KB each), ``deliver`` a message for a person's pages elsewhere, ``relay``
a page's message about a call held elsewhere. Only a process with Redis counts any."""

PUSHES = Counter("hadir_push_notifications", "Web Push messages, by outcome.", ["outcome"])
"""``sent`` (the push service took it), ``gone`` (404/410: the subscription is deleted),
``failed`` (any other answer, or none)."""

SELF_CHECKS = Counter("hadir_self_checks", "Staff camera self-checks, by outcome.", ["outcome"])
"""``judged``, ``busy`` (every analysis thread was taken by calls: 503), ``bad_image``."""


def _zero(counter: Counter, names: Iterable[str]) -> None:
    """Export each known label value from the start, so ``rate()`` sees its first count."""
    for name in names:
        counter.labels(name)


_zero(RINGS, RING_OUTCOMES)
_zero(ANALYSIS_LEGS, ("admitted", "refused"))
_zero(WEBHOOK_DELIVERIES, dict.fromkeys(DELIVERY_OUTCOMES.values()))
_zero(PUSHES, PUSH_OUTCOMES)
_zero(SELF_CHECKS, SELF_CHECK_OUTCOMES)


def records_committed(conn: AsyncConnection, entries: Iterable[tuple[str, str]]) -> None:
    """Count chain ``entries`` (kind, status) when ``conn``'s transaction commits, and
    never if it rolls back: a group commit that fails and is retried one by one counts
    each entry once. (SQLAlchemy announces the commit just before the driver makes it.)"""
    tally = Tally(entries)
    sync = conn.sync_connection
    assert sync is not None  # an open connection

    def committed(_: Any) -> None:
        event.remove(sync, "rollback", rolled_back)
        for (kind, status), n in tally.items():
            RECORDS_WRITTEN.labels(kind, status).inc(n)

    def rolled_back(_: Any) -> None:
        event.remove(sync, "commit", committed)

    event.listen(sync, "commit", committed, once=True)
    event.listen(sync, "rollback", rolled_back, once=True)


def delivery_recorded(status: str) -> None:
    """A webhook attempt's outcome was written, the delivery left in ``status``."""
    WEBHOOK_DELIVERIES.labels(DELIVERY_OUTCOMES[status]).inc()


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files in multiprocess mode, else this
    process's default registry."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    shared = CollectorRegistry()
    MultiProcessCollector(shared)  # type: ignore[no-untyped-call]  # untyped upstream
    return shared


async def render(engine: AsyncEngine) -> bytes:
    """The exposition text, with the gauges read from the database brought up to date."""
    async with read_only(engine).connect() as conn:
        pending = select(func.count()).where(deliveries.c.status == "pending")
        WEBHOOK_BACKLOG.set((await conn.execute(pending)).scalar_one())
    return generate_latest(registry())
