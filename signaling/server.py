"""The WebSocket endpoint and the hub that routes messages between pages, rooms and peers.

Every frame goes through the connection's rate limit and ``messages.parse`` before
anything else; a refused frame gets an ``error`` reply and changes nothing. Any
unexpected exception while handling one message is logged and answered with
``internal``: it never ends the connection, the room or the server.

Every ``heartbeat_s`` the hub renews the ``calls`` rows of its live calls with the
evidence so far (``signaling.record.save_evidence``): if this process dies, the sweep
of a surviving or restarted node sees the heartbeat stop and records the checks as
interrupted, never missed. On shutdown the hub stops its calls without writing
records (``interrupt_call``): the server, not the staff member, cut them short.

When the staff page of an answered call goes away (a reload, a network switch) the call
is kept for ``rejoin_grace_s``: the supervisor's page is told ``reconnecting``, and a
staff page that joins again in time gets the same call back (``reconnected``; the
evidence goes on). If none does, the call ends ``disconnected`` without a record, like
one the server cut short: the check stays open to be called again. So does an answered
call whose supervisor's page went away (the supervisor calls again).

A call rings for ``ring_timeout_s``; unanswered, it ends ``not_answered``, and a staff
page may ``decline`` it: neither writes a record (the check stays open, its window
decides whether it is missed). A call belongs to the supervisor's page that started it:
it ends when that page goes away, even if the supervisor's dashboard stays open.

Staff presence (``signaling.presence``): a supervisor's ``welcome`` says how each of
their staff can be reached, and ``presence`` follows whenever a staff page of theirs
opens (the first) or closes (the last); the last-seen instants are kept on the staff
rows.

A page that has not joined within ``join_timeout_s`` is closed. A page whose link is
revoked or expires is closed, which ends its calls like any page that goes away: at
once when the revocation is told on the bus (``Revoked``, from whichever process
revoked it), and by a check every ``link_check_s`` (expiry; revocation in the database,
which with a shared bus is only the safety net for a lost message, so it is asked every
``SHARED_REVOKED_CHECK_S`` only), and again before a call starts or is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import metrics
from service.clock import utcnow
from service.enrolment import call_identity
from service.links import revoked_among
from service.org import load_policy
from service.policy import Policy
from service.push.sender import Pusher
from service.record_writer import RecordWriter
from service.records import Record
from service.store import read_only
from service.web.dashboard import staff_of
from signaling import messages as m
from signaling.analysis import AnalyzerPool
from signaling.auth import AuthError, Identity, call_target, identify, require_member
from signaling.bus import (
    Bus,
    BusMessage,
    ClosePage,
    Deliver,
    LocalBus,
    PageRef,
    Relay,
    RelayStill,
    Revoked,
    StaffJoined,
    StaffLeft,
    ToPage,
)
from signaling.messages import ProtocolError
from signaling.presence import LastSeen, Presence, presence_of, push_reachable, stored_last_seen
from signaling.ratelimit import TokenBucket
from signaling.record import close_call, interrupt_call, mark_answered, open_call, save_evidence
from signaling.rooms import ACTIVE, RINGING, Room, RoomError, Rooms
from signaling.session import CallOutcome, CallSession, CallSettings
from signaling.stills import Still, parse_still
from vision.identity import CallIdentity

T = TypeVar("T")
log = logging.getLogger("hadir.signaling")

MAX_FRAME_BYTES = 256 * 1024
RATE_PER_S, RATE_BURST, MAX_DROPS = 20.0, 60.0, 200
CLOSE_UNAUTHORIZED, CLOSE_POLICY, CLOSE_RESTART = 4401, 1008, 1012
STAFF_NODE_CHECK_S = 0.5  # how often a call's node looks whether its staff page's node lives
# With a shared bus every revocation is told at once (``Revoked``); the database is asked
# this often, for a message lost while Redis was away, instead of every link check.
SHARED_REVOKED_CHECK_S = 60.0


@dataclass(eq=False)
class Connection:
    """One open page."""

    ws: web.WebSocketResponse
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(RATE_PER_S, RATE_BURST))
    who: Identity | None = None
    drops: int = 0
    id: str = field(default_factory=lambda: secrets.token_hex(8))  # names it on the bus

    async def send(self, text: str) -> None:
        # A page that went away must not break the sender (a broadcast, a status loop).
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_str(text)

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def close(self, code: int, message: bytes) -> None:
        await self.ws.close(code=code, message=message)


@dataclass(eq=False)
class RemotePage:
    """A page on another node, whose message about a call held here came by the bus:
    what is sent to it, and closing it, go back the same way."""

    bus: Bus
    ref: PageRef
    who: Identity | None

    async def send(self, text: str) -> None:
        try:
            await self.bus.send(self.ref.node, ToPage(self.ref.conn, text))
        except Exception:  # like a page that went away: never break the sender
            log.exception("bus: answer not sent")

    @property
    def closed(self) -> bool:
        return False  # its own node knows; closing twice is harmless

    async def close(self, code: int, message: bytes) -> None:
        await self.bus.send(self.ref.node, ClosePage(self.ref.conn, code, message.decode()))


Page = Connection | RemotePage


@dataclass
class Hub:
    engine: AsyncEngine
    secret: bytes
    writer: RecordWriter  # writes the records calls end in, group-committed
    settings: CallSettings
    pool: AnalyzerPool
    ice_servers_json: list[dict[str, Any]]
    join_timeout_s: float = 10.0
    link_check_s: float = 5.0
    heartbeat_s: float = 5.0
    rejoin_grace_s: float = 45.0
    ring_timeout_s: float = 60.0
    last_seen: LastSeen = field(default_factory=LastSeen)
    pusher: Pusher | None = None  # rings the staff member's phones too (service.push)
    face_key: AESGCM | None = None  # opens enrolled faces, for calls that check identity
    rng: random.Random = field(default_factory=random.SystemRandom)  # liveness challenges
    rooms: Rooms = field(default_factory=Rooms)
    bus: Bus = field(default_factory=LocalBus)  # the other processes (signaling.bus)
    draining: bool = False  # True: no new calls here (the node is stopping)
    pages: dict[str, Connection] = field(default_factory=dict)  # joined pages, by id
    sessions: dict[str, CallSession] = field(default_factory=dict)
    connections: dict[tuple[str, str], set[Connection]] = field(default_factory=dict)
    _timers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _away: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # rejoin timers
    _rings: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # ring timeouts
    _callers: dict[str, Page] = field(default_factory=dict)  # the page that called
    _background: set[asyncio.Future[Any]] = field(default_factory=set)
    _staff_nodes: dict[str, str] = field(default_factory=dict)  # call -> its staff page's node
    # Calls held elsewhere of staff pages here: call -> (its node, staff id).
    _remote_calls: dict[str, tuple[str, str]] = field(default_factory=dict)
    _no_calls: asyncio.Event = field(default_factory=asyncio.Event)  # set when none is left

    def start(self) -> None:
        """Begin watching the links of open pages, renewing live calls' rows and
        writing staff pages' last-seen instants."""
        self._spawn(self._watch_links())
        self._spawn(self._keep_alive())
        self._spawn(self._keep_last_seen())
        if self.bus.shared:
            self._spawn(self._watch_nodes())

    def _spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- delivery -------------------------------------------------------------------

    async def _to(self, role: str, person: str, text: str) -> None:
        """To every page of this person: here, and on the other nodes through the bus."""
        await self._to_local(role, person, text)
        if self.bus.shared:
            try:
                await self.bus.deliver(role, person, text)
            except Exception:  # Redis away: like a page that went away
                log.exception("bus: delivery not sent")

    async def _to_local(self, role: str, person: str, text: str) -> None:
        for conn in list(self.connections.get((role, person), ())):
            await conn.send(text)

    async def _to_room(self, room: Room, text: str) -> None:
        await self._to("supervisor", room.supervisor_id, text)
        await self._to("staff", room.staff_id, text)

    async def _other_side(self, who: Identity, room: Room, text: str) -> None:
        if who.role == "staff":
            await self._to("supervisor", room.supervisor_id, text)
        else:
            await self._to("staff", room.staff_id, text)

    # -- links --------------------------------------------------------------------

    async def _watch_links(self) -> None:
        asked = time.monotonic()
        while True:
            await asyncio.sleep(self.link_check_s)
            now = time.monotonic()
            ask = not self.bus.shared or now - asked >= SHARED_REVOKED_CHECK_S
            asked = now if ask else asked
            try:
                pages: list[Page] = [c for cs in self.connections.values() for c in cs]
                await self._drop_revoked(pages, ask_store=ask)
            except Exception:  # the database may be briefly away; look again later
                log.exception("checking links failed")

    async def _drop_revoked(self, conns: list[Page], ask_store: bool = True) -> set[Page]:
        """Close the pages whose link is expired, or revoked in the database (when
        ``ask_store``); return them."""
        joined = {c: c.who for c in conns if c.who is not None}
        if not joined:
            return set()
        revoked: set[str] = set()
        if ask_store:
            async with read_only(self.engine).connect() as db:
                revoked = await revoked_among(db, {who.link_id for who in joined.values()})
        now = utcnow()
        dropped = {
            c for c, who in joined.items() if who.link_id in revoked or who.expires_at <= now
        }
        await self._close_unauthorized(dropped)
        return dropped

    async def _close_unauthorized(self, dropped: Collection[Page]) -> None:
        """Tell these pages their link is revoked or expired, and close them."""
        for conn in dropped:
            if conn.closed:
                continue  # told already, closing
            await conn.send(m.error("unauthorized", "link revoked or expired"))
            # Closing waits for the page's answer: never hold up the caller for it.
            self._spawn(conn.close(CLOSE_UNAUTHORIZED, b"unauthorized"))

    # -- heartbeat ------------------------------------------------------------------

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.save_evidence()
            except Exception:  # the database may be briefly away; the lease allows for it
                log.exception("saving call evidence failed")
            try:
                await self._renew_bus()
            except Exception:  # Redis may be briefly away; the keys' TTL allows for it
                log.exception("renewing live state on the bus failed")

    async def _renew_bus(self) -> None:
        """Renew what this node holds on the bus: its staff pages and its calls; forget
        remote calls that ended or whose staff member has no page here any more."""
        for call_id, (_, staff_id) in list(self._remote_calls.items()):
            live = await self.bus.staff_call(staff_id)
            gone = ("staff", staff_id) not in self.connections
            if gone or live is None or live.description.get("call") != call_id:
                self._remote_calls.pop(call_id, None)
        await self.bus.set_online(self._online())
        held = {
            r.id: (r.staff_id, self._describe(r))
            for r in self.rooms.by_id.values()
            if r.live and r.id in self.sessions
        }
        await self.bus.hold_calls(held)

    async def save_evidence(self) -> None:
        """Renew every live call's row with its evidence so far."""
        now = utcnow()
        beats = [
            (room, now, self.sessions[room.id].snapshot())
            for room in self.rooms.by_id.values()
            if room.live and room.id in self.sessions
        ]
        await save_evidence(self.engine, beats)

    # -- presence -----------------------------------------------------------------

    def _online(self) -> set[str]:
        return {person for role, person in self.connections if role == "staff"}

    async def _keep_last_seen(self) -> None:
        while True:
            await asyncio.sleep(self.last_seen.flush_s)
            self.last_seen.still_open(self._online(), utcnow())
            try:
                await self.last_seen.flush(self.engine)
            except Exception:  # the database may be briefly away; written next time
                log.exception("saving last seen failed")

    async def presences(self, staff_ids: list[str]) -> list[Presence]:
        """How each of ``staff_ids`` can be reached now, as their supervisor sees it."""
        async with read_only(self.engine).connect() as db:
            pushable = await push_reachable(db, staff_ids) if self.pusher else set()
            seen = self.last_seen.merged(await stored_last_seen(db, staff_ids))
        online = self._online() | await self.bus.online(staff_ids)
        return [presence_of(s, s in online, s in pushable, seen.get(s)) for s in staff_ids]

    async def _staff_presence(self, who: Identity) -> None:
        """A staff member's first page opened or last page closed: tell their supervisor."""
        self.last_seen.saw(who.id, utcnow())
        if who.supervisor_id is None:
            return
        if not self.bus.shared and ("supervisor", who.supervisor_id) not in self.connections:
            return
        try:
            [now] = await self.presences([who.id])
        except Exception:  # presence is a hint: never let it break joining or leaving
            log.exception("presence not sent")
            return
        await self._to("supervisor", who.supervisor_id, _presence_message([now]))

    # -- one frame ----------------------------------------------------------------

    async def receive(self, conn: Connection, text: str) -> None:
        if not await self._allowed(conn):
            return
        await self._handle(conn, text)

    async def _handle(self, conn: Page, text: str) -> None:
        """One frame from a page here, or relayed from another node (rate-limited there)."""
        try:
            msg = m.parse(text)
            await self._dispatch(conn, msg, text)
        except ProtocolError as exc:
            await conn.send(m.error(exc.code, str(exc), exc.ref))
        except (AuthError, RoomError) as exc:
            await conn.send(m.error(exc.code, str(exc)))
        except Exception:
            log.exception("message failed")
            await conn.send(m.error("internal", "the server could not handle that message"))

    async def receive_still(self, conn: Connection, data: bytes) -> None:
        """One binary frame: a still of the staff camera for its call's analysis leg
        (``signaling.stills``), taken here or relayed to the node that holds the call;
        refused like a bad text message, never decoded here."""
        if not await self._allowed(conn):
            return
        try:
            if conn.who is None:
                raise ProtocolError("not_joined", "send join first", "still")
            still = parse_still(data)
            if self.rooms.get(still.call) is None:
                node = await self.bus.call_node(still.call)
                if node is not None:  # the call lives there: so does its analysis
                    page = PageRef(self.bus.node, conn.id)
                    await self.bus.send(node, RelayStill(conn.who, page, data))
                    return
            await self._take_still(conn, conn.who, still)
        except ProtocolError as exc:
            await conn.send(m.error(exc.code, str(exc), exc.ref))
        except (AuthError, RoomError) as exc:
            await conn.send(m.error(exc.code, str(exc), "still"))
        except Exception:
            log.exception("still failed")
            await conn.send(m.error("internal", "the server could not handle that still"))

    async def _allowed(self, conn: Connection) -> bool:
        """Spend a token of the connection's rate limit; refuse (and in the end close)
        a flood."""
        if conn.bucket.take(time.monotonic()):
            return True
        conn.drops += 1
        await conn.send(m.error("rate_limited", "too many messages"))
        if conn.drops >= MAX_DROPS:
            await conn.ws.close(code=CLOSE_POLICY, message=b"rate limit")
        return False

    async def _take_still(self, conn: Page, who: Identity, still: Still) -> None:
        room = self.rooms.get(still.call)
        if room is None or not room.live:
            raise RoomError("not_found", "no such call")
        require_member(who, room)
        if who.role != "staff":
            raise AuthError("forbidden", "only the staff page sends stills")
        self.sessions[room.id].take_still(still)

    async def _dispatch(self, conn: Page, msg: m.Message, text: str) -> None:
        if isinstance(msg, m.Ping):
            await conn.send(m.encode("pong"))
            return
        if isinstance(msg, m.Join):
            if isinstance(conn, RemotePage):
                raise ProtocolError("invalid", "join is not relayed", "join")
            await self._join(conn, msg)
            return
        who = conn.who
        if who is None:
            raise ProtocolError("not_joined", "send join first")
        if isinstance(msg, m.StartCall):
            await self._start(conn, who, msg.check)
            return
        room = self.rooms.get(msg.call)
        if room is None and isinstance(conn, Connection):
            node = await self.bus.call_node(msg.call)
            if node is not None and who.role == "staff":
                self._remote_calls[msg.call] = (node, who.id)
            if node is not None:  # the call lives there: its node answers this page
                await self.bus.send(node, Relay(who, PageRef(self.bus.node, conn.id), text))
                return
        if room is None or not room.live:
            raise RoomError("not_found", "no such call")
        require_member(who, room)
        session = self.sessions[room.id]
        if isinstance(msg, m.Decline):
            if who.role != "staff":
                raise AuthError("forbidden", "only the staff member declines")
            if room.state != RINGING:
                raise RoomError("bad_state", f"the call is {room.state}, not ringing")
            await self.end(room, "declined", by="staff")
        elif isinstance(msg, m.Accept):
            if who.role != "staff":
                raise AuthError("forbidden", "only the staff member answers")
            if await self._drop_revoked([conn]):
                return
            room.accept(utcnow())
            metrics.RINGS.labels("answered").inc()
            session.activate()
            try:
                await mark_answered(self.engine, room)
            except Exception:  # the next heartbeat's evidence says so too
                log.exception("marking the call answered failed")
            await self._to_room(
                room, m.encode("state", call=room.id, state=room.state, reason=None)
            )
            await self._hold_on_bus(room)
        elif isinstance(msg, m.Hangup):
            reason = "hangup" if room.state == "active" else "cancelled"
            await self.end(room, reason, by=who.role)
        elif isinstance(msg, m.Sdp | m.Ice):
            await self._relay(who, room, msg)
        elif isinstance(msg, m.AskChallenge):
            if who.role != "supervisor":
                raise AuthError("forbidden", "only the supervisor asks for a challenge")
            if room.state != ACTIVE:
                raise RoomError("bad_state", f"the call is {room.state}, not active")
            await session.ask_challenge("supervisor")
        else:
            if who.role != "staff":
                raise AuthError("forbidden", "only the staff page reports this")
            if isinstance(msg, m.Location):
                session.set_location(msg)
            elif isinstance(msg, m.Visibility):
                session.set_hidden(msg.hidden)
            elif isinstance(msg, m.Track):
                session.set_track(msg.state)

    async def _join(self, conn: Connection, msg: m.Join) -> None:
        if conn.who is not None:
            raise ProtocolError("invalid", "already joined", "join")
        async with read_only(self.engine).connect() as db:
            try:
                who = await identify(db, self.secret, msg.token)
            except AuthError as exc:
                await conn.send(m.error(exc.code, str(exc), "join"))
                await conn.ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")
                return
        conn.who = who
        first = (who.role, who.id) not in self.connections
        self.connections.setdefault((who.role, who.id), set()).add(conn)
        self.pages[conn.id] = conn
        if first:
            await self._listen(who)
        room = self.rooms.for_staff(who.id) if who.role == "staff" else None
        remote = await self.bus.staff_call(who.id) if who.role == "staff" and not room else None
        rejoined = room is not None and room.state == ACTIVE
        if room is not None:
            self._staff_nodes.pop(room.id, None)  # its page is here now
        if rejoined and room is not None and room.id not in self._away:
            # The page came back before its old socket was seen to close: the new one
            # takes the call over (the old one's legs are gone with it).
            await self._went_away(room)
        presence = None
        if who.role == "supervisor":
            room = next(
                (r for r in self.rooms.by_id.values() if r.supervisor_id == who.id and r.live),
                None,
            )
            async with read_only(self.engine).connect() as db:
                mine = list(await staff_of(db, who.id))
            presence = [p.to_json() for p in await self.presences(mine)]
        await conn.send(
            m.encode(
                "welcome",
                v=m.VERSION,
                role=who.role,
                name=who.name,
                ice_servers=self.ice_servers_json,
                call=self._describe(room) if room else remote and remote.description,
                presence=presence,
            )
        )
        if rejoined and room is not None:
            await self._rejoined(room)
        if remote is not None:  # its node takes the page back into the call
            self._remote_calls[remote.description["call"]] = (remote.node, who.id)
            await self.bus.send(remote.node, StaffJoined(who, self.bus.node))
        if who.role == "staff" and first:
            await self._staff_presence(who)

    def _describe(self, room: Room) -> dict[str, Any]:
        session = self.sessions[room.id]
        return {
            "call": room.id,
            "check": room.check_id,
            "state": room.state,
            "staff": session.target.staff_name,
            "supervisor": caller.name if (caller := self._callers[room.id].who) else None,
        }

    async def _listen(self, who: Identity) -> None:
        """This node holds a first page of this person: take their messages, show them
        online."""
        try:
            await self.bus.listen(who.role, who.id)
            if who.role == "staff":
                await self.bus.set_online({who.id})
        except Exception:  # Redis away: this node's own pages still work
            log.exception("bus: listening failed")

    async def _unlisten(self, who: Identity) -> None:
        try:
            await self.bus.unlisten(who.role, who.id)
            if who.role == "staff":
                await self.bus.set_offline(who.id)
        except Exception:
            log.exception("bus: unlistening failed")

    async def _watch_nodes(self) -> None:
        while True:
            await asyncio.sleep(STAFF_NODE_CHECK_S)
            try:
                await self.nodes_gone()
            except Exception:  # Redis away: looked at again next time
                log.exception("bus: other nodes not checked")

    async def nodes_gone(self) -> None:
        """Calls across nodes where the other node died (killed: it said nothing).

        Here the call, there its staff page: the call waits for the page as if it had
        closed, so the time until it comes back is not measured against the staff
        member. Here the staff page, there the call: the page is told the call ended
        (``server_shutdown``: the server cut it short, no record) and the call's live
        keys are dropped, so the staff member can be called again at once."""
        watched = dict(self._staff_nodes)
        remote = dict(self._remote_calls)
        if not watched and not remote:
            return
        alive = await self.bus.alive(set(watched.values()) | {n for n, _ in remote.values()})
        for call_id, (node, staff_id) in remote.items():
            if node in alive:
                continue
            self._remote_calls.pop(call_id, None)
            await self.bus.release_call(call_id, staff_id, node)
            text = m.encode("state", call=call_id, state="ended", reason="server_shutdown")
            await self._to_local("staff", staff_id, text)
        for call_id, node in watched.items():
            room = self.rooms.get(call_id)
            if node in alive or room is None or room.state != ACTIVE or call_id in self._away:
                continue
            if ("staff", room.staff_id) in self.connections:
                continue  # it came back here already
            self._staff_nodes.pop(call_id, None)
            await self._went_away(room)

    async def _online_elsewhere(self, staff_id: str) -> bool:
        try:
            return await self.bus.online_elsewhere(staff_id)
        except Exception:  # Redis away: as if alone
            log.exception("bus: presence not read")
            return False

    async def _hold_on_bus(self, room: Room) -> None:
        """Say on the bus that this node holds the call, as it is now."""
        if room.id not in self.sessions:
            return  # it ended meanwhile
        try:
            await self.bus.hold_calls({room.id: (room.staff_id, self._describe(room))})
        except Exception:
            log.exception("bus: call not renewed")

    async def from_bus(self, msg: BusMessage) -> None:
        """A message from another node (signaling.bus)."""
        if isinstance(msg, Deliver):
            await self._to_local(msg.role, msg.person, msg.text)
        elif isinstance(msg, ToPage | ClosePage):
            conn = self.pages.get(msg.conn)
            if conn is None:
                return  # gone meanwhile
            if isinstance(msg, ToPage):
                await conn.send(msg.text)
            else:
                await conn.send(m.error("unauthorized", "link revoked or expired"))
                self._spawn(conn.close(msg.code, msg.reason.encode()))
        elif isinstance(msg, Revoked):
            links = set(msg.links)
            pages = self.pages.values()
            await self._close_unauthorized({c for c in pages if c.who and c.who.link_id in links})
        elif isinstance(msg, Relay):
            if msg.who.role == "staff":
                room = self.rooms.for_staff(msg.who.id)
                if room is not None:
                    self._staff_nodes[room.id] = msg.page.node
            await self._handle(RemotePage(self.bus, msg.page, msg.who), msg.text)
        elif isinstance(msg, RelayStill):
            page = RemotePage(self.bus, msg.page, msg.who)
            try:
                await self._take_still(page, msg.who, parse_still(msg.data))
            except (ProtocolError, AuthError, RoomError) as exc:
                await page.send(m.error(exc.code, str(exc), "still"))
        elif isinstance(msg, StaffJoined):
            room = self.rooms.for_staff(msg.who.id)
            if room is not None:
                self._staff_nodes[room.id] = msg.node
            if room is not None and room.state == ACTIVE:
                if room.id not in self._away:
                    await self._went_away(room)  # a page there took the call over
                await self._rejoined(room)
        elif ("staff", msg.who.id) not in self.connections:  # StaffLeft
            await self._staff_gone(msg.who.id)

    async def _start(self, conn: Page, who: Identity, check_id: str) -> None:
        if self.draining:
            raise RoomError("busy", "this server is stopping: call again in a moment")
        if await self._drop_revoked([conn]):
            return
        now = utcnow()
        async with read_only(self.engine).connect() as db:
            target = await call_target(db, who, check_id, now)
            policy = await load_policy(db)
            identity = await self._identity(db, policy, target.staff_id)
        await self._drop_revoked(list(self.connections.get(("staff", target.staff_id), ())))
        room = self.rooms.open(target.check_id, target.staff_id, who.id, target.window_end, now)
        self.sessions[room.id] = CallSession(
            room,
            target,
            self.settings,
            self.pool,
            lambda body: self._to_room(room, _json(body)),
            identity,
            liveness=policy.liveness_check,
            rng=self.rng,
        )
        self._callers[room.id] = conn
        try:
            if not await self.bus.claim_call(room.id, room.staff_id, self._describe(room)):
                raise RoomError("busy", "the staff member is already in a call")
            await open_call(self.engine, room)
        except Exception:
            self.rooms.discard(room.id)
            self.sessions.pop(room.id)
            self._callers.pop(room.id)
            with contextlib.suppress(Exception):
                await self.bus.release_call(room.id, room.staff_id)
            raise
        metrics.CALLS_LIVE.inc()
        if identity is not None and identity.enrolled:
            self.pool.expect_identity()  # while it rings
        delay = (target.window_end - now).total_seconds()
        self._timers[room.id] = asyncio.create_task(self._window_timer(room, delay))
        self._rings[room.id] = asyncio.create_task(self._ring_timer(room))
        described = self._describe(room)
        await self._to_room(room, m.encode("state", call=room.id, state=room.state, reason=None))
        await self._to("staff", room.staff_id, m.encode("ring", **described))
        if self.pusher is not None:  # in the background: a push never holds up the call
            self._spawn(self.pusher.ring(room.staff_id, room.id, room.check_id, who.name))

    async def _identity(
        self, db: AsyncConnection, policy: Policy, staff_id: str
    ) -> CallIdentity | None:
        """The enrolled face a call matches, when the policy checks identity."""
        if self.face_key is None or not policy.identity_check:
            return None
        return await call_identity(db, self.face_key, staff_id)

    async def _window_timer(self, room: Room, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        await self.end(room, "window_ended")

    async def _ring_timer(self, room: Room) -> None:
        await asyncio.sleep(self.ring_timeout_s)
        if room.state == RINGING:
            await self.end(room, "not_answered")

    async def _relay(self, who: Identity, room: Room, msg: m.Sdp | m.Ice) -> None:
        """The peer-to-peer leg's offers, answers and candidates, to the other page."""
        if room.state != "active":
            raise RoomError("bad_state", "the call is not active")
        fields = dict(msg.__dict__)
        if isinstance(msg, m.Ice):
            fields["sdpMid"] = fields.pop("sdp_mid")
            fields["sdpMLineIndex"] = fields.pop("sdp_mline_index")
        kind = "sdp" if isinstance(msg, m.Sdp) else "ice"
        await self._other_side(who, room, m.encode(kind, **fields))

    # -- a staff page that went away ------------------------------------------------

    async def _went_away(self, room: Room) -> None:
        """Keep the answered call for ``rejoin_grace_s``; end it if nobody rejoins."""
        self._away[room.id] = asyncio.create_task(self._rejoin_timer(room))
        await self.sessions[room.id].away()  # marks it away before its first await
        text = m.encode("state", call=room.id, state="reconnecting", reason="staff_dropped")
        await self._to("supervisor", room.supervisor_id, text)

    async def _rejoin_timer(self, room: Room) -> None:
        await asyncio.sleep(self.rejoin_grace_s)
        await self.end(room, "disconnected", by="staff")

    async def _rejoined(self, room: Room) -> None:
        """The same call again: both pages make their legs anew, the evidence goes on."""
        self._away.pop(room.id).cancel()
        self.sessions[room.id].back()
        await self._to_room(
            room, m.encode("state", call=room.id, state=room.state, reason="reconnected")
        )

    # -- ending -------------------------------------------------------------------

    async def end(self, room: Room, reason: str, by: str | None = None) -> None:
        """End a call once: stop its media, write its record, then tell both pages.

        A call cut short (the server stops, or the staff page went away and did not
        come back) writes no record: its evidence is kept on its row and its check
        stays open (``interrupt_call``)."""
        if not room.end(reason, utcnow(), by):
            return
        metrics.CALLS_LIVE.dec()
        if room.answered_at is None:  # it ended ringing: that is how its ring ended
            metrics.RINGS.labels(reason).inc()
        self._callers.pop(room.id, None)
        self._staff_nodes.pop(room.id, None)
        for timers in (self._timers, self._away, self._rings):
            timer = timers.pop(room.id, None)
            if timer is not None and timer is not asyncio.current_task():
                timer.cancel()
        session = self.sessions.pop(room.id)
        # The rest in its own task: a closing page's handler, which may have called,
        # can be cancelled under it, and an end half done would keep the call in memory
        # and leave its pages untold.
        await asyncio.shield(self._spawn(self._ended(room, reason, session)))

    async def _ended(self, room: Room, reason: str, session: CallSession) -> None:
        snapshot = session.snapshot()
        outcome = await session.finish()
        record = None
        cut_short = _cut_short(room)
        try:
            if cut_short is not None:
                await interrupt_call(self.engine, room, snapshot, cut_short)
            else:
                record = await close_call(self.writer, room, outcome)
        except Exception:
            log.exception("call not stored", extra={"fields": {"call": room.id}})
        # Only once its row says so: a page (or a test) told a call ended may read it.
        await self._to_room(room, m.encode("state", call=room.id, state=room.state, reason=reason))
        if outcome is not None:
            await self._to_room(room, _json(_ended(outcome, reason, record)))
        self.rooms.discard(room.id)
        if not self.rooms.by_id:
            self._no_calls.set()
        try:
            await self.bus.release_call(room.id, room.staff_id)
        except Exception:  # its keys expire by themselves
            log.exception("bus: call not released")
        log.info(
            "call ended",
            extra={"fields": {"call": room.id, "reason": reason, "record": record and record.id}},
        )

    async def leave(self, conn: Connection) -> None:
        """A page closed: a call loses a member, so it ends; an answered call waits
        ``rejoin_grace_s`` for its staff page."""
        who = conn.who
        if who is None:
            return
        peers = self.connections.get((who.role, who.id), set())
        peers.discard(conn)
        self.pages.pop(conn.id, None)
        if who.role == "supervisor":
            # The call page that called went away; another page (the dashboard) staying
            # open does not keep its call.
            for called in [r for r in self.rooms.by_id.values() if self._callers.get(r.id) is conn]:
                await self.end(called, "disconnected", by=who.role)
        if peers:
            return
        self.connections.pop((who.role, who.id), None)
        # Its own task: the closing socket's handler may be cancelled under it.
        self._spawn(self._left(who))
        if who.role == "staff":
            await self._staff_gone(who.id)

    async def _left(self, who: Identity) -> None:
        """This node's last page of a person closed: tell the bus and the supervisor."""
        await self._unlisten(who)
        if who.role != "staff":
            return
        await self._staff_presence(who)
        if self.rooms.for_staff(who.id) is not None:
            return  # held here: ``_staff_gone`` saw to it
        try:
            remote = await self.bus.staff_call(who.id)
            if remote is not None:
                await self.bus.send(remote.node, StaffLeft(who))
        except Exception:
            log.exception("bus: staff page's leaving not sent")

    async def _staff_gone(self, staff_id: str) -> None:
        """No page of the staff member's is left here: unless another node holds one,
        an answered call waits for one, a ringing call ends."""
        room = self.rooms.for_staff(staff_id)
        if room is not None and not await self._online_elsewhere(staff_id):
            if room.state == ACTIVE and room.id not in self._away:
                await self._went_away(room)
            else:
                await self.end(room, "disconnected", by="staff")

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for room in list(self.rooms.by_id.values()):
            await self.end(room, "server_shutdown")
        # Open staff pages were seen until now: keep that for after the restart.
        now = utcnow()
        for staff_id in self._online():
            self.last_seen.saw(staff_id, now)
        try:
            await self.last_seen.flush(self.engine)
        except Exception:
            log.exception("saving last seen failed")
        await self.bus.close()

    async def drain(self, grace_s: float) -> None:
        """Stop taking calls; close the pages that have none (they reconnect to another
        node); wait up to ``grace_s`` for the calls held here to end."""
        self.draining = True
        in_call = {r.supervisor_id for r in self.rooms.by_id.values()} | {
            r.staff_id for r in self.rooms.by_id.values()
        }
        for (_, person), conns in list(self.connections.items()):
            if person not in in_call:
                for conn in list(conns):
                    self._spawn(conn.close(CLOSE_RESTART, b"server stopping"))
        if self.rooms.by_id:
            self._no_calls.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_calls.wait(), grace_s)


def _cut_short(room: Room) -> str | None:
    """The row status of a call that ends without a record, or None if it has one."""
    if room.end_reason == "server_shutdown":
        return "server_shutdown"
    dropped = room.how_ended in ("staff_dropped", "supervisor_dropped")
    if dropped and room.answered_at is not None:
        return room.how_ended
    return None


def _ended(outcome: CallOutcome, reason: str, record: Record | None) -> dict[str, Any]:
    return {
        "type": "ended",
        "call": outcome.room.id,
        "reason": reason,
        "elapsed": round(outcome.duration_s, 1),
        **outcome.verdict.status_fields(),
        "record": record and record.id,
        "status": record and record.status,
    }


def _presence_message(people: list[Presence]) -> str:
    return m.encode("presence", staff=[p.to_json() for p in people])


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


HUB = web.AppKey("signaling_hub", Hub)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    conn = Connection(ws)
    unjoined = asyncio.ensure_future(_close_unless_joined(conn, hub.join_timeout_s))
    try:
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                await hub.receive(conn, frame.data)
            elif frame.type == WSMsgType.BINARY:
                await hub.receive_still(conn, frame.data)
    finally:
        unjoined.cancel()
        await hub.leave(conn)
    return ws


async def _close_unless_joined(conn: Connection, timeout_s: float) -> None:
    await asyncio.sleep(timeout_s)
    if conn.who is None:
        await conn.send(m.error("not_joined", f"join within {timeout_s:g} s"))
        await conn.ws.close(code=CLOSE_POLICY, message=b"join timeout")
