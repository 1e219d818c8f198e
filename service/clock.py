"""The one source of "now" for the service: always an aware UTC instant."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
