"""The access log: one structured line per request, with every link token redacted.

Personal links carry their token in the URL path (``/staff/<token>``); a log line is
read by more people, and kept longer, than the link should be. This is the one place
requests are logged, so the one place tokens are taken out.
"""

from __future__ import annotations

import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

REDACTED = "[redacted]"
# The page paths whose next segment is a token, and any token-shaped text elsewhere.
_PAGE_TOKEN = re.compile(r"(/(?:staff|supervisor)/)[^/?#\s]*")
_TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """``text`` with the token of a page path, and any other signed token, replaced."""
    return _TOKEN.sub(REDACTED, _PAGE_TOKEN.sub(rf"\g<1>{REDACTED}", text))


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        path = redact(request.raw_path)
        self.logger.info(
            "%s %s %s",
            request.method,
            path,
            response.status,
            extra={
                "fields": {
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "bytes": response.body_length,
                    "ms": round(time * 1000, 1),
                    "remote": request.remote,
                    "agent": request.headers.get("User-Agent", "")[:200],
                }
            },
        )
