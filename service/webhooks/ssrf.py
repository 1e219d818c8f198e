"""The SSRF guard: webhook URLs must name a public http(s) host, checked twice.

At registration the host is resolved and every address checked. At send time the
client's resolver (``GuardedResolver``) checks the addresses it actually connects to,
so a name that re-resolves to an internal address later (DNS rebinding) is refused too.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
# The accepted form, also published in the OpenAPI document: http(s), a host name or
# IPv4 literal (IPv6 literals are refused; names may resolve to IPv6), an optional
# port, no credentials, no fragment.
URL_PATTERN = (
    rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?"
    r"(?:[/?][^\u0000-\u0020\u007f#]*)?$"  # \u escapes: the same in Python and ECMA-262
)


class UnsafeURL(ValueError):
    """The URL may not receive webhooks; the message says why."""


class UnsafeAddress(OSError):
    """Raised inside the HTTP client when a host resolves to a refused address."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)  # the client shows the strerror


def is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def parse_url(url: str, *, allow_private: bool) -> URL:
    """Check the URL's form: http(s), a host, no credentials, and a public IP literal."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"url: give an http(s) URL of at most {MAX_URL_LENGTH} characters")
    if not re.match(URL_PATTERN, url):
        raise UnsafeURL("url: expected http(s)://host[:port][/path], without credentials")
    try:
        parsed = URL(url)
    except ValueError:
        raise UnsafeURL("url: not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURL("url: only http and https URLs are allowed")
    if not parsed.host:
        raise UnsafeURL("url: has no host")
    if parsed.user is not None or parsed.password is not None:
        raise UnsafeURL("url: must not carry credentials")
    if parsed.fragment:
        raise UnsafeURL("url: must not have a fragment")
    literal = _ip_literal(parsed.host)
    if literal is not None and not allow_private and not is_public(literal):
        raise UnsafeURL(f"url: {literal} is not public")
    return parsed


async def check_url(url: str, *, allow_private: bool) -> URL:
    """``parse_url``, then resolve the host and refuse it if any address is not public."""
    parsed = parse_url(url, allow_private=allow_private)
    if allow_private or _ip_literal(parsed.host or "") is not None:
        return parsed
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parsed.host, parsed.port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise UnsafeURL(f"url: cannot resolve {parsed.host}: {exc}") from None
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0])
        if not is_public(ip):
            raise UnsafeURL(f"url: {parsed.host} resolves to {ip}, which is not public")
    return parsed


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, but refuses non-public addresses."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for result in results:
                ip = ipaddress.ip_address(result["host"])
                if not is_public(ip):
                    raise UnsafeAddress(f"{host} resolves to {ip}, which is not public")
        return results

    async def close(self) -> None:
        await self._inner.close()


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
