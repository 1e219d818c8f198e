"""The bus between hubs: what is live and crosses processes (docs/scale-out.md).

One interface, two implementations:

- ``LocalBus``, the embedded default: one process, nothing to reach; every look-up
  answers "not elsewhere", so the hub behaves exactly as when it was alone.
- ``RedisBus``: Redis pub/sub for messages, Redis keys with a TTL for what is live
  (which node holds a staff member's page, which node holds a call). The truth (checks,
  calls, records) stays in the SQL store; nothing here outlives its TTL.

Channels: ``<prefix>:node:<node>`` (messages for one process: a page it holds, a call it
holds), ``<prefix>:page:<role>:<person>`` (every page of one person, on any node) and
``<prefix>:all`` (every node: revoked links).
Keys: ``<prefix>:online:<staff>`` (the nodes holding a page of theirs: a sorted set
scored by when each node's claim expires),
``<prefix>:call:<call>`` (the node holding the call) and ``<prefix>:staffcall:<staff>``
(the live call of a staff member: its node and its description for a ``welcome``;
claimed with NX, so one staff member is in one call across nodes).

Every message is one JSON object ``{"v": 1, "t": <type>, ...}`` (docs/protocol.md,
"Between processes"); ``decode`` refuses any other version or shape.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service import metrics
from signaling.auth import Identity

log = logging.getLogger("hadir.bus")

VERSION = 1
TTL_S = 30
"""Live keys expire this long after their node last renewed them (every heartbeat)."""


class BusError(ValueError):
    """A message from the bus that is not version 1 of a known type."""


@dataclass(frozen=True)
class PageRef:
    """One open page on one node."""

    node: str
    conn: str


@dataclass(frozen=True)
class Deliver:
    """Text for every page of one person (channel ``page:<role>:<person>``)."""

    origin: str  # the node that sent it delivers to its own pages itself
    role: str
    person: str
    text: str


@dataclass(frozen=True)
class ToPage:
    """Text for one page (an answer to a relayed message: an error, a pong)."""

    conn: str
    text: str


@dataclass(frozen=True)
class ClosePage:
    """Close one page (its link was found revoked by the node holding the call)."""

    conn: str
    code: int
    reason: str


@dataclass(frozen=True)
class Relay:
    """A client message about a call another node holds, from the page that sent it."""

    who: Identity
    page: PageRef
    text: str


@dataclass(frozen=True)
class RelayStill:
    """A still of the staff camera for a call another node holds (``signaling.stills``'s
    wire bytes, as the page sent them; base64 on the bus): its analysis is there."""

    who: Identity
    page: PageRef
    data: bytes


@dataclass(frozen=True)
class StaffJoined:
    """A staff member's page joined on another node while their call lives here."""

    who: Identity
    node: str  # the page's node


@dataclass(frozen=True)
class StaffLeft:
    """The last page of a staff member on another node closed."""

    who: Identity


@dataclass(frozen=True)
class Revoked:
    """These links were revoked (channel ``all``, to every node, the sender's too): close
    their pages now. Sent after the revocation is committed, by whichever process made
    it (a server's API, a command); a lost one is caught by the nodes' link check."""

    links: tuple[str, ...]  # token ids


BusMessage = Deliver | ToPage | ClosePage | Relay | RelayStill | StaffJoined | StaffLeft | Revoked
Handler = Callable[[BusMessage], Awaitable[None]]

_TYPES: dict[str, type[BusMessage]] = {
    "deliver": Deliver,
    "to_page": ToPage,
    "close_page": ClosePage,
    "relay": Relay,
    "relay_still": RelayStill,
    "staff_joined": StaffJoined,
    "staff_left": StaffLeft,
    "revoked": Revoked,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def _identity_json(who: Identity) -> dict[str, Any]:
    return {
        "role": who.role,
        "id": who.id,
        "name": who.name,
        "link_id": who.link_id,
        "expires_at": who.expires_at.isoformat(),
        "supervisor_id": who.supervisor_id,
    }


def encode(msg: BusMessage) -> str:
    body: dict[str, Any] = {"v": VERSION, "t": _NAMES[type(msg)]}
    for name, value in msg.__dict__.items():
        if isinstance(value, Identity):
            value = _identity_json(value)
        elif isinstance(value, PageRef):
            value = {"node": value.node, "conn": value.conn}
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        elif isinstance(value, tuple):
            value = list(value)
        body[name] = value
    return json.dumps(body, separators=(",", ":"))


def decode(text: str | bytes) -> BusMessage:
    """The typed message, or ``BusError`` (another version, an unknown type, a bad field)."""
    try:
        body = json.loads(text)
        if not isinstance(body, dict) or body.pop("v", None) != VERSION:
            raise BusError(f"not a version {VERSION} bus message")
        cls = _TYPES[body.pop("t")]
        if "who" in body:
            who = dict(body["who"])
            who["expires_at"] = datetime.fromisoformat(who["expires_at"])
            body["who"] = Identity(**who)
        if "page" in body:
            body["page"] = PageRef(**body["page"])
        if cls is RelayStill:
            body["data"] = base64.b64decode(body["data"], validate=True)
        if cls is Revoked:
            links = body["links"]
            if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
                raise BusError("bad bus message: links")
            body["links"] = tuple(links)
        msg = cls(**body)
    except BusError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BusError(f"bad bus message: {exc}") from None
    for name, value in msg.__dict__.items():
        if name not in ("who", "page", "data", "links") and not isinstance(value, str | int):
            raise BusError(f"bad bus message: {name}")
    return msg


@dataclass(frozen=True)
class RemoteCall:
    """A staff member's live call held by another node."""

    node: str
    description: dict[str, Any]  # as ``welcome`` names it


class Bus(ABC):
    """What a hub asks of the other processes. ``node`` names this process."""

    node: str
    shared: bool  # False: this process is alone, every look-up is empty

    @abstractmethod
    async def start(self, handler: Handler) -> None:
        """Take messages for this node; ``handler`` is called with each, in order."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def listen(self, role: str, person: str) -> None:
        """This node holds a page of this person now: take the messages for them."""

    @abstractmethod
    async def unlisten(self, role: str, person: str) -> None: ...

    @abstractmethod
    async def deliver(self, role: str, person: str, text: str) -> None:
        """Text for this person's pages on the other nodes."""

    @abstractmethod
    async def send(self, node: str, msg: BusMessage) -> None:
        """A message for one node."""

    @abstractmethod
    async def broadcast(self, msg: BusMessage) -> None:
        """A message for every node, this one included."""

    async def revoked(self, link_ids: Collection[str]) -> None:
        """Tell every node these links are revoked, so they close their pages at once.
        Never raises: if the bus is away the nodes' link check finds them later."""
        if not link_ids:
            return
        try:
            await self.broadcast(Revoked(tuple(sorted(link_ids))))
        except Exception:
            log.exception("bus: revocation not sent; pages close at the next link check")

    @abstractmethod
    async def set_online(self, staff_ids: set[str]) -> None:
        """These staff members have a page here (renewed every heartbeat)."""

    @abstractmethod
    async def set_offline(self, staff_id: str) -> None:
        """This node's last page of the staff member closed."""

    @abstractmethod
    async def online(self, staff_ids: list[str]) -> set[str]:
        """Of ``staff_ids``, those with a page on some node."""

    @abstractmethod
    async def online_elsewhere(self, staff_id: str) -> bool:
        """Another node holds a page of this staff member."""

    @abstractmethod
    async def alive(self, nodes: set[str]) -> set[str]:
        """Of ``nodes``, those still connected to the bus (a killed process's connection
        closes with it, so this knows at once, unlike a TTL)."""

    @abstractmethod
    async def claim_call(self, call_id: str, staff_id: str, description: dict[str, Any]) -> bool:
        """Hold this call here; False if the staff member is in a call on another node."""

    @abstractmethod
    async def hold_calls(self, calls: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Renew (or describe anew) the calls held here: call id -> (staff id, description)."""

    @abstractmethod
    async def release_call(self, call_id: str, staff_id: str, node: str | None = None) -> None:
        """Forget the call held by ``node`` (this one by default; another that died)."""

    @abstractmethod
    async def call_node(self, call_id: str) -> str | None:
        """The node holding this call, if another one does."""

    @abstractmethod
    async def staff_call(self, staff_id: str) -> RemoteCall | None:
        """The staff member's live call, if another node holds it."""


class LocalBus(Bus):
    """The embedded default: one process, no Redis; nothing is ever elsewhere."""

    def __init__(self) -> None:
        self.node, self.shared = "local", False
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def close(self) -> None:
        pass

    async def listen(self, role: str, person: str) -> None:
        pass

    async def unlisten(self, role: str, person: str) -> None:
        pass

    async def deliver(self, role: str, person: str, text: str) -> None:
        pass

    async def send(self, node: str, msg: BusMessage) -> None:
        raise BusError(f"no node {node} on a local bus")

    async def broadcast(self, msg: BusMessage) -> None:
        if self._handler is not None:  # a command's bus has no hub: nobody to tell
            await self._handler(msg)

    async def set_online(self, staff_ids: set[str]) -> None:
        pass

    async def set_offline(self, staff_id: str) -> None:
        pass

    async def online(self, staff_ids: list[str]) -> set[str]:
        return set()

    async def online_elsewhere(self, staff_id: str) -> bool:
        return False

    async def alive(self, nodes: set[str]) -> set[str]:
        return set(nodes)

    async def claim_call(self, call_id: str, staff_id: str, description: dict[str, Any]) -> bool:
        return True  # the process's own rooms already refuse a second call

    async def hold_calls(self, calls: dict[str, tuple[str, dict[str, Any]]]) -> None:
        pass

    async def release_call(self, call_id: str, staff_id: str, node: str | None = None) -> None:
        pass

    async def call_node(self, call_id: str) -> str | None:
        return None

    async def staff_call(self, staff_id: str) -> RemoteCall | None:
        return None


# Deletes a key only while it still names this node (another node may have taken it).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"
_RELEASE_CALL = (
    "local v = redis.call('GET', KEYS[1]) "
    "if v and cjson.decode(v)['node'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end"
)


class RedisBus(Bus):
    """Redis pub/sub and keys with a TTL (redis-py's asyncio client).

    One connection subscribes (this node's channel, the pages it holds); the others
    publish and read keys. A message that cannot be decoded is logged and dropped: a
    node of another version never breaks this one."""

    def __init__(self, url: str, prefix: str = "hadir", node: str | None = None) -> None:
        from redis import asyncio as aioredis  # only deployments with Redis import it

        self.node = node or secrets.token_hex(6)
        self.shared = True
        self.prefix = prefix
        self.redis = aioredis.from_url(url, decode_responses=True)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None
        for name in _TYPES:  # exported at 0 from the start, so rate() sees the first
            metrics.BUS_MESSAGES.labels(name)

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _page_channel(self, role: str, person: str) -> str:
        return self._key("page", role, person)

    async def start(self, handler: Handler) -> None:
        await self.pubsub.subscribe(self._key("node", self.node), self._key("all"))
        self._reader = asyncio.create_task(self._read(handler))

    async def _read(self, handler: Handler) -> None:
        while True:
            try:
                raw = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: try again; live state is renewed when back
                log.exception("bus read failed")
                await asyncio.sleep(1.0)
                continue
            if raw is None or raw.get("type") != "message":
                continue
            try:
                msg = decode(raw["data"])
            except BusError as exc:
                log.warning("bus message dropped", extra={"fields": {"why": str(exc)}})
                continue
            if isinstance(msg, Deliver) and msg.origin == self.node:
                continue  # this node delivered it to its own pages already
            try:
                await handler(msg)
            except Exception:
                log.exception("bus message failed")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped upstream
        await self.redis.aclose()

    async def listen(self, role: str, person: str) -> None:
        await self.pubsub.subscribe(self._page_channel(role, person))

    async def unlisten(self, role: str, person: str) -> None:
        await self.pubsub.unsubscribe(self._page_channel(role, person))

    async def deliver(self, role: str, person: str, text: str) -> None:
        await self._publish(
            self._page_channel(role, person), Deliver(self.node, role, person, text)
        )

    async def send(self, node: str, msg: BusMessage) -> None:
        await self._publish(self._key("node", node), msg)

    async def _publish(self, channel: str, msg: BusMessage) -> None:
        """Shielded: redis-py can swallow a cancellation that lands while a command
        waits for its reply (redis/redis-py#2028), and a call's status loop, cancelled
        as the call ends while it publishes, would then never stop and hold the call's
        end (no ``ended``, no record). The caller is cancelled at once; the message
        still goes."""
        await asyncio.shield(self.redis.publish(channel, encode(msg)))
        metrics.BUS_MESSAGES.labels(_NAMES[type(msg)]).inc()

    async def broadcast(self, msg: BusMessage) -> None:
        await self.redis.publish(self._key("all"), encode(msg))

    async def set_online(self, staff_ids: set[str]) -> None:
        if not staff_ids:
            return
        until = time.time() + TTL_S
        async with self.redis.pipeline(transaction=False) as pipe:
            for staff_id in staff_ids:
                key = self._key("online", staff_id)
                pipe.zadd(key, {self.node: until})
                pipe.expire(key, TTL_S)
            await pipe.execute()

    async def set_offline(self, staff_id: str) -> None:
        await self.redis.zrem(self._key("online", staff_id), self.node)

    async def _nodes_online(self, staff_ids: list[str]) -> list[list[str]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for staff_id in staff_ids:
                pipe.zrangebyscore(self._key("online", staff_id), time.time(), "+inf")
            return list(await pipe.execute())

    async def online(self, staff_ids: list[str]) -> set[str]:
        if not staff_ids:
            return set()
        nodes = await self._nodes_online(staff_ids)
        return {s for s, held in zip(staff_ids, nodes, strict=True) if held}

    async def online_elsewhere(self, staff_id: str) -> bool:
        [held] = await self._nodes_online([staff_id])
        return any(node != self.node for node in held)

    async def alive(self, nodes: set[str]) -> set[str]:
        if not nodes:
            return set()
        listeners = await self.redis.pubsub_numsub(*(self._key("node", n) for n in nodes))
        node_of = {self._key("node", n): n for n in nodes}
        return {node_of[str(channel)] for channel, count in listeners if count}

    def _call_value(self, description: dict[str, Any]) -> str:
        return json.dumps({"node": self.node, "call": description}, separators=(",", ":"))

    async def claim_call(self, call_id: str, staff_id: str, description: dict[str, Any]) -> bool:
        key = self._key("staffcall", staff_id)
        if not await self.redis.set(key, self._call_value(description), ex=TTL_S, nx=True):
            return False
        await self.redis.set(self._key("call", call_id), self.node, ex=TTL_S)
        return True

    async def hold_calls(self, calls: dict[str, tuple[str, dict[str, Any]]]) -> None:
        if not calls:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id, (staff_id, description) in calls.items():
                value = self._call_value(description)
                pipe.set(self._key("staffcall", staff_id), value, ex=TTL_S)
                pipe.set(self._key("call", call_id), self.node, ex=TTL_S)
            await pipe.execute()

    async def release_call(self, call_id: str, staff_id: str, node: str | None = None) -> None:
        holder = node or self.node
        await self.redis.eval(_RELEASE, 1, self._key("call", call_id), holder)
        await self.redis.eval(_RELEASE_CALL, 1, self._key("staffcall", staff_id), holder)

    async def call_node(self, call_id: str) -> str | None:
        node = await self.redis.get(self._key("call", call_id))
        return node if isinstance(node, str) and node and node != self.node else None

    async def staff_call(self, staff_id: str) -> RemoteCall | None:
        value = await self.redis.get(self._key("staffcall", staff_id))
        if not value:
            return None
        held = json.loads(value)
        return None if held["node"] == self.node else RemoteCall(held["node"], held["call"])


def bus_for(url: str, prefix: str) -> Bus:
    """The bus a process's configuration asks for: Redis when a URL is set."""
    return RedisBus(url, prefix) if url else LocalBus()
