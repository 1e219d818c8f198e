"""What a push carries: the service worker shows ``title`` and ``body`` as they come (in
the person's language, so the worker holds no text) and opens ``url`` when tapped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from service.web.i18n import t

VERSION = 1
RING, REMINDER = "ring", "reminder"


@dataclass(frozen=True)
class PushMessage:
    kind: str  # ring | reminder
    title: str
    body: str
    url: str  # the staff page to open (a ring's carries ``#answer=<call>``)
    tag: str  # one notification per call or check: a later one replaces it
    urgency: str  # the Urgency header (RFC 8030 5.3): high wakes a phone at once
    ttl_s: int  # how long the push service may hold it for a phone that is offline
    data: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        body = {
            "v": VERSION,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "url": self.url,
            "tag": self.tag,
            **self.data,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def ring_message(
    lang: str, page_url: str, call_id: str, check_id: str, supervisor: str, ttl_s: int
) -> PushMessage:
    return PushMessage(
        RING,
        t(lang, "push.ring_title").format(supervisor=supervisor),
        t(lang, "push.ring_body"),
        f"{page_url}#answer={call_id}",
        f"hadir-call-{call_id}",
        "high",
        ttl_s,
        {"call": call_id, "check": check_id, "supervisor": supervisor},
    )


def reminder_message(
    lang: str, page_url: str, check_id: str, at: str, minutes: int, ttl_s: int
) -> PushMessage:
    """``at`` is the local time the check's window opens (HH:MM), ``minutes`` how soon."""
    return PushMessage(
        REMINDER,
        t(lang, "push.reminder_title").format(time=at, minutes=minutes),
        t(lang, "push.reminder_body"),
        page_url,
        f"hadir-check-{check_id}",
        "normal",
        ttl_s,
        {"check": check_id, "at": at, "minutes": minutes},
    )
