"""Which API key scope it takes to receive an event.

A webhook hands its receiver what the API would: ``check.scheduled`` carries the staff
member's join link (whoever holds it opens the call page as that person), so it needs
``links:read``; every other event carries a record or a check (``check.cancelled``),
so it needs ``records:read``, exactly as ``GET /records`` and ``GET /checks`` do. The
rule is checked when an endpoint subscribes or changes, when it replays, and again when
each delivery is sent (a key may have been revoked meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable

LINK_EVENTS = frozenset({"check.scheduled"})


def required_scope(event_type: str) -> str:
    return "links:read" if event_type in LINK_EVENTS else "records:read"


def may_receive(scopes: Iterable[str], event_type: str) -> bool:
    """``admin`` holds every scope."""
    held = set(scopes)
    return "admin" in held or required_scope(event_type) in held
