"""Which remote ICE candidates the analysis peer may send STUN checks to (pure).

The server's peer sends connectivity checks to every address a page offers, so a page
could aim it at the server's own loopback services or at multicast groups. Loopback,
link-local, multicast, unspecified and reserved addresses are refused, as are names
other than the ``.local`` (mDNS) names browsers hide host addresses behind; a call
offers at most ``MAX_CANDIDATES`` candidates. Private LAN addresses stay allowed: the
service may run inside the office network.
"""

from __future__ import annotations

import ipaddress

MAX_CANDIDATES = 32


def refusal(address: str) -> str | None:
    """Why the peer must not send to ``address``; None if it may."""
    if address.endswith(".local"):
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"candidate address {address!r} is not an IP address or an mDNS name"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for refused, kind in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
    ):
        if refused:
            return f"candidate address {address} refused: {kind}"
    return None


def offered_candidates(sdp: str) -> list[str]:
    """The ``candidate:…`` values of an SDP's ``a=candidate`` lines."""
    return [line[2:] for line in sdp.splitlines() if line.startswith("a=candidate:")]
