"""Argument types the commands share: they turn bad input into argparse's own clear
error (``usage: … error: argument --date: …``, exit 2)."""

from __future__ import annotations

import argparse
from datetime import date, datetime


def day_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def instant_arg(text: str) -> datetime:
    """An instant must say its offset: a bare local time is ambiguous across nodes."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (add +07:00 or Z)")
    return at
