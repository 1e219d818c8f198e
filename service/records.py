"""Verification records: an append-only, hash-chained, signed log (docs/records.md).

Entry ``n`` is stored with its canonical body (RFC 8785 JSON), ``hash_n =
SHA-256(bytes(hash_{n-1}) || body_n)`` with ``hash_0`` = 32 zero bytes, and an
Ed25519 signature over the 32 hash bytes. The body holds every column the table
indexes (seq, id, kind, status, ids, created_at), so no column can be edited without
breaking the chain. Reviews and objections are later entries that point at the
verification, never edits of it.

Appends are serialized, or two writers would both chain onto the same head: on
PostgreSQL the appending transaction takes ``pg_advisory_xact_lock(CHAIN_LOCK)`` as
its first statement (a fixed lock order, so it cannot deadlock with the row locks
taken after it); SQLite's ``BEGIN IMMEDIATE`` already admits one writer at a time.

Each statement costs about a millisecond through the async drivers, so the head is
not read before every append: the last head this process wrote is remembered per
engine, and the first INSERT of an append only takes effect if that head is still
the chain's head (``_guard``). Another node's append or a rolled-back transaction
makes the guard fail; then the head is read and the entries chained again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import secrets
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Engine, Row, bindparam, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service import metrics
from service.clock import utcnow
from service.evidence import EvidenceRef, downscale_still, store_still
from service.org import load_policy
from service.outbox import enqueue, enqueue_many
from service.schema import checks, records
from signaling.verdict import CallVerdict, Criterion
from vision.verdict import Verdict

BODY_VERSION = 1
GENESIS_HASH = "0" * 64
CHAIN_LOCK = int.from_bytes(b"hadirrec", "big")  # the advisory lock key of the chain
KINDS = ("verification", "review", "objection")
STATUSES = ("passed", "failed", "inconclusive", "missed")
DECISIONS = ("confirm", "override")
# The call's verdict as a record's status, and the location's verdict as its result.
STATUS = {Verdict.PASS: "passed", Verdict.FAIL: "failed", Verdict.INCONCLUSIVE: "inconclusive"}
LOCATION_RESULT = {
    Verdict.PASS: "inside",
    Verdict.FAIL: "outside",
    Verdict.INCONCLUSIVE: "unavailable",
}
MAX_REASON = 2000

Target = AsyncEngine | AsyncConnection


class RecordError(ValueError):
    """A request the records cannot honour; ``field`` names the bad input, if one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RecordNotFound(RecordError):
    """No such record or check."""


class RecordConflict(RecordError):
    """Well formed, but not possible in the record's or check's current state."""


class RecordForbidden(RecordError):
    """The person is not allowed to act on this record."""


@dataclass(frozen=True)
class CallResult:
    """What a finished call hands to ``complete_check``.

    ``verdict`` is the call's final verdict (``signaling.verdict.judge``); the record
    keeps its verdicts, reason codes, scalar scores, camera-on share, location result
    and distance, and the uniform colour seen. ``still`` is an encoded image
    (JPEG/PNG); it is downscaled and kept only where the policy enables evidence stills.
    """

    started_at: datetime
    ended_at: datetime
    verdict: CallVerdict
    still: bytes | None = None
    call_id: str | None = None
    end: str | None = None
    """How the call ended (``signaling.rooms``): hung up by whom, dropped, window ended,
    server stopped or restarted."""


@dataclass(frozen=True)
class Record:
    seq: int
    id: str
    kind: str
    check_id: str
    staff_id: str
    unit_id: str
    status: str
    created_at: datetime
    body: dict[str, Any]
    prev_hash: str
    hash: str
    signature: str

    def to_dict(self) -> dict[str, Any]:
        """The verifiable form: ``hash == SHA-256(bytes(prev_hash) || JCS(body))``."""
        return {
            "body": self.body,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class RecordState:
    """A check's record as it stands after every review and objection."""

    record: Record
    status: str
    review_state: str  # unreviewed | confirmed | overridden | objected
    entries: tuple[Record, ...]


@dataclass(frozen=True)
class RecordPage:
    records: list[Record]
    next_after: int | None  # pass as ``after`` for the next page; None at the end


@dataclass(frozen=True)
class ChainReport:
    """``head_*`` is the last good entry; ``broken_*`` the first entry that is not."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


@dataclass(frozen=True)
class Draft:
    """An entry before it is chained: everything but seq, id, time and hashes."""

    kind: str
    check_id: str
    staff_id: str
    unit_id: str
    status: str
    content: Mapping[str, Any]


# --- pure: canonical form, hashing, signing ---------------------------------------


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def canonical(body: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(body)


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def sign_hash(key: Ed25519PrivateKey, digest: str) -> str:
    return base64.b64encode(key.sign(bytes.fromhex(digest))).decode("ascii")


def check_entry(
    entry: Record, expected_seq: int, prev_hash: str, public_key: Ed25519PublicKey
) -> str | None:
    """Why ``entry`` does not continue the chain at ``expected_seq``, or None if it does."""
    if entry.seq != expected_seq:
        return (
            f"gap: seq {expected_seq} is missing before this entry (a row was deleted)"
            if entry.seq > expected_seq
            else f"seq {entry.seq} out of order (expected {expected_seq})"
        )
    if entry.prev_hash != prev_hash:
        return "prev_hash mismatch: it is not the previous entry's hash"
    if chain_hash(prev_hash, canonical(entry.body)) != entry.hash:
        return "body hash mismatch: the body was edited"
    try:
        public_key.verify(base64.b64decode(entry.signature), bytes.fromhex(entry.hash))
    except (InvalidSignature, ValueError):
        return "bad signature"
    columns = {
        "seq": entry.seq,
        "id": entry.id,
        "kind": entry.kind,
        "check_id": entry.check_id,
        "staff_id": entry.staff_id,
        "unit_id": entry.unit_id,
        "status": entry.status,
        "created_at": iso(entry.created_at),
    }
    for name, value in columns.items():
        if entry.body.get(name) != value:
            return f"column {name} mismatch: it disagrees with the signed body (the row was edited)"
    return None


def _scalar_scores(scores: Mapping[str, Any]) -> dict[str, float | int | str | bool | None]:
    # Scalars only: a vector (an embedding, a landmark list) never enters a record.
    out: dict[str, float | int | str | bool | None] = {}
    for name, value in scores.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[str(name)] = None
        elif isinstance(value, bool | int | float | str) or value is None:
            out[str(name)] = value
    return out


def _criterion(criterion: Criterion) -> dict[str, Any]:
    return {
        "verdict": criterion.verdict.value,
        "reasons": list(criterion.reasons),
        "scores": _scalar_scores(criterion.scores),
    }


def record_location(verdict: CallVerdict) -> dict[str, Any]:
    """The location as recorded: a distance and a result, never coordinates."""
    location = verdict.location
    return {
        "distance_m": verdict.distance_m,
        "result": LOCATION_RESULT[location.verdict],
        "reason": location.reason,
    }


def _uniform_seen(verdict: CallVerdict) -> dict[str, Any] | None:
    seen = verdict.colour_seen
    return None if seen is None else {"name": seen["name"], "hex": seen["hex"]}


def verification_content(
    check: Mapping[str, Any],
    status: str,
    result: CallResult | None,
    evidence_ref: EvidenceRef | None,
) -> dict[str, Any]:
    """The body of a verification entry, less the chain fields ``_append`` adds."""
    verdict = result.verdict if result else None
    return {
        "supervisor_id": check["supervisor_id"],
        "scheduled": {
            "due_at": iso(check["due_at"]),
            "window_start": iso(check["window_start"]),
            "window_end": iso(check["window_end"]),
        },
        "call": (
            {
                "id": result.call_id,
                "started_at": iso(result.started_at),
                "ended_at": iso(result.ended_at),
                "end": result.end,
            }
            if result
            else None
        ),
        "reasons": list(verdict.reasons) if verdict else ["no_call"],
        "criteria": (
            {
                # Every criterion but the location (recorded apart, below), optional ones
                # (identity) only when the policy asked for them; scalar scores only, so
                # never a descriptor (docs/privacy.md).
                name: _criterion(criterion)
                for name, criterion in verdict.criteria.items()
                if name != "location"
            }
            if verdict
            else None
        ),
        "camera_on_fraction": verdict.camera_on if verdict else None,
        "location": record_location(verdict) if verdict else None,
        "uniform": {
            "expected": check["uniform_policy"],
            "seen": _uniform_seen(verdict) if verdict else None,
        },
        "vision_version": verdict.version if verdict else None,
        # The liveness challenges (action, nonce, times, outcome, finding, frames,
        # change, model), only when the criterion is there: never landmarks or poses.
        **(
            {"challenges": [c.to_dict() for c in verdict.challenges]}
            if verdict and verdict.liveness
            else {}
        ),
        "evidence": evidence_ref.to_dict() if evidence_ref else None,
        "review_state": "unreviewed",
    }


def effective_state(entries: Sequence[Record]) -> RecordState:
    """Fold a verification and its later entries: the latest review wins, and an
    objection filed after it reopens the record until the next review."""
    first = entries[0]
    status, state = first.status, "unreviewed"
    for entry in entries[1:]:
        if entry.kind == "review":
            status = entry.status
            state = "confirmed" if entry.body["decision"] == "confirm" else "overridden"
        elif entry.kind == "objection":
            state = "objected"
    return RecordState(first, status, state, tuple(entries))


# --- I/O ---------------------------------------------------------------------------


@asynccontextmanager
async def _transaction(target: Target) -> AsyncIterator[AsyncConnection]:
    if isinstance(target, AsyncConnection):
        yield target  # the caller's transaction: it commits the entry with its own rows
        return
    async with target.begin() as conn:
        yield conn


async def lock_chain(conn: AsyncConnection) -> None:
    """Take the chain's append lock until the transaction ends (first thing in it)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})


def _record(row: Row[Any]) -> Record:
    return Record(
        seq=row.seq,
        id=row.id,
        kind=row.kind,
        check_id=row.check_id,
        staff_id=row.staff_id,
        unit_id=row.unit_id,
        status=row.status,
        created_at=row.created_at,
        body=json.loads(row.body),
        prev_hash=row.prev_hash,
        hash=row.hash,
        signature=row.signature,
    )


def chain_rows(
    head: ChainHead, drafts: Sequence[Draft], key: Ed25519PrivateKey, now: datetime
) -> list[dict[str, Any]]:
    """The table rows of ``drafts`` chained one after another onto ``head``."""
    rows = []
    seq, prev_hash = head.seq, head.hash
    for draft in drafts:
        seq += 1
        entry_id = f"rec_{secrets.token_hex(12)}"
        columns = {
            "seq": seq,
            "id": entry_id,
            "kind": draft.kind,
            "check_id": draft.check_id,
            "staff_id": draft.staff_id,
            "unit_id": draft.unit_id,
            "status": draft.status,
        }
        raw = canonical({"v": BODY_VERSION, **columns, "created_at": iso(now), **draft.content})
        digest = chain_hash(prev_hash, raw)
        rows.append(
            {
                **columns,
                "created_at": now,
                "body": raw.decode("utf-8"),
                "prev_hash": prev_hash,
                "hash": digest,
                "signature": sign_hash(key, digest),
            }
        )
        prev_hash = digest
    return rows


# The last head each engine (i.e. database) appended in this process; see the module doc.
_heads: weakref.WeakKeyDictionary[Engine, ChainHead] = weakref.WeakKeyDictionary()


async def _read_head(conn: AsyncConnection) -> ChainHead:
    head = (
        await conn.execute(
            select(records.c.seq, records.c.hash).order_by(records.c.seq.desc()).limit(1)
        )
    ).first()
    return ChainHead(head.seq, head.hash) if head else ChainHead(0, GENESIS_HASH)


_HEAD_SEQ = bindparam("head_seq", type_=records.c.seq.type)
# Statements are built once: building Core objects per call costs more than running them.
_INSERT_IF_HEAD = (
    records.insert()
    .from_select(
        list(records.c),
        select(*(bindparam(f"v_{c.name}", type_=c.type) for c in records.c)).where(
            # the remembered head is the newest entry (or the chain is empty and it is genesis)
            or_(
                _HEAD_SEQ == 0,
                exists().where(
                    records.c.seq == _HEAD_SEQ, records.c.hash == bindparam("head_hash")
                ),
            ),
            ~exists().where(records.c.seq > _HEAD_SEQ),
        ),
    )
    .returning(records.c.seq)
)


async def _insert_if_head(conn: AsyncConnection, head: ChainHead, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` only if ``head`` is still the head: one statement, no head read."""
    params = {f"v_{name}": value for name, value in row.items()}
    inserted = await conn.execute(
        _INSERT_IF_HEAD, {**params, "head_seq": head.seq, "head_hash": head.hash}
    )
    return inserted.first() is not None


async def _append_all(
    conn: AsyncConnection, key: Ed25519PrivateKey, drafts: Sequence[Draft]
) -> list[Record]:
    """Chain ``drafts`` onto the head in order; the caller holds ``lock_chain``.

    Two statements for any number of entries when the remembered head is current (the
    guarded first row, then the rest at once); one more read when it is not.
    """
    if not drafts:
        return []
    engine = conn.sync_engine
    now = utcnow()
    head = _heads.get(engine)
    rows = chain_rows(head, drafts, key, now) if head else []
    if head is None or not await _insert_if_head(conn, head, rows[0]):
        head = await _read_head(conn)
        rows = chain_rows(head, drafts, key, now)
        if not await _insert_if_head(conn, head, rows[0]):
            raise RuntimeError("the chain head moved while the chain lock was held")
    if len(rows) > 1:
        await conn.execute(records.insert(), rows[1:])
    _heads[engine] = ChainHead(rows[-1]["seq"], rows[-1]["hash"])
    metrics.records_committed(conn, [(d.kind, d.status) for d in drafts])
    return [Record(**{**row, "body": json.loads(row["body"])}) for row in rows]


_CLOSE_CHECKS = (
    checks.update()
    .where(checks.c.id.in_(bindparam("ids", expanding=True)), checks.c.status == "scheduled")
    .values(status=bindparam("to"))
    .returning(*checks.c)
)


async def _close_checks(
    conn: AsyncConnection, check_ids: Sequence[str], status: str
) -> list[Row[Any]]:
    """Move the scheduled ones of ``check_ids`` to ``status``, in the order given.

    The conditional UPDATE is what makes closing safe with several workers: only the
    one whose statement changed a row writes its record.
    """
    closed = (await conn.execute(_CLOSE_CHECKS, {"ids": check_ids, "to": status})).all()
    order = {check_id: i for i, check_id in enumerate(check_ids)}
    return sorted(closed, key=lambda row: order[row.id])


async def complete_check(
    target: Target, check_id: str, result: CallResult, *, key: Ed25519PrivateKey
) -> Record:
    """Close a check with the call's result: the check's status, its evidence still, its
    verification entry and the ``check.completed`` event commit together or not at all.

    Given a connection, this runs in the caller's transaction and must be its first
    write on PostgreSQL (the chain lock comes first in every appending transaction).
    """
    async with _transaction(target) as conn:
        await lock_chain(conn)
        (outcome,) = await complete_checks_many(conn, [(check_id, result)], key=key)
    if isinstance(outcome, RecordError):
        raise outcome
    return outcome


async def complete_checks_many(
    conn: AsyncConnection,
    calls: Sequence[tuple[str, CallResult]],
    *,
    key: Ed25519PrivateKey,
) -> list[Record | RecordError]:
    """Close many checks with their calls' results in a few statements however many
    there are (calls that end together); per call, in order, its record or why none
    was written (a still it cannot record, no such check, or already
    closed). Runs in the caller's transaction, which holds ``lock_chain``.

    Every way one call can fail is decided before its check is touched or by the
    conditional UPDATE, so one call's problem never rolls back the others'."""
    if not calls:
        return []
    prepared = await asyncio.gather(*(_prepare(result) for _, result in calls))
    valid = [c for (c, _), ready in zip(calls, prepared, strict=True) if isinstance(ready, tuple)]
    closed = {
        row.id: dict(row._mapping)
        for row in (await _close_checks(conn, valid, "completed") if valid else [])
    }
    policy = await load_policy(conn) if closed else None
    drafts, order = [], []
    for (check_id, result), ready in zip(calls, prepared, strict=True):
        check = closed.pop(check_id, None)  # pop: the same check twice closes once
        if check is None or not isinstance(ready, tuple):
            continue
        status, still = ready
        ref = None
        if still is not None and policy is not None and policy.evidence_stills:
            ref = await store_still(
                conn, check_id, still, now=utcnow(), retention_days=policy.evidence_retention_days
            )
        drafts.append(verification_draft(check, status, result, ref))
        order.append(check_id)
    written = dict(zip(order, await _append_all(conn, key, drafts), strict=True))
    if written:
        await enqueue_many(conn, [("check.completed", event_data(r)) for r in written.values()])
    missing = [c for c in valid if c not in written]
    current: dict[str, str] = {}
    if missing:
        rows = await conn.execute(
            select(checks.c.id, checks.c.status).where(checks.c.id.in_(missing))
        )
        current = {r.id: r.status for r in rows}
    current |= dict.fromkeys(written, "completed")  # a check given twice: the second is late
    out: list[Record | RecordError] = []
    for (check_id, _), ready in zip(calls, prepared, strict=True):
        if isinstance(ready, RecordError):
            out.append(ready)
        elif (record := written.pop(check_id, None)) is not None:
            out.append(record)
        elif check_id in current:
            out.append(RecordConflict(f"check {check_id!r} is already {current[check_id]}"))
        else:
            out.append(RecordNotFound(f"no check {check_id!r}"))
    return out


async def _prepare(result: CallResult) -> tuple[str, bytes | None] | RecordError:
    """A call's status and downscaled still, or why it cannot be recorded."""
    status = STATUS[result.verdict.verdict]
    if not result.still:
        return status, None
    try:
        return status, await asyncio.to_thread(downscale_still, result.still)
    except ValueError as exc:
        return RecordError(str(exc), field="still")


async def record_missed(
    conn: AsyncConnection, check_id: str, *, key: Ed25519PrivateKey
) -> Record | None:
    """Close one check no call fulfilled as MISSED (see ``record_missed_many``); None
    when it was no longer scheduled (a call or another worker closed it first)."""
    closed = await record_missed_many(conn, [check_id], key=key)
    return closed[0] if closed else None


async def record_missed_many(
    conn: AsyncConnection, check_ids: Sequence[str], *, key: Ed25519PrivateKey
) -> list[Record]:
    """Close the still scheduled ones of ``check_ids`` as MISSED, each with its entry
    and ``check.missed`` event, in about five statements however many there are.

    Runs in the caller's transaction, which holds ``lock_chain``; returns the entries
    written, in the order of ``check_ids`` (checks closed meanwhile are left out).
    """
    if not check_ids:
        return []
    closed = await _close_checks(conn, check_ids, "missed")
    drafts = [verification_draft(dict(c._mapping), "missed", None, None) for c in closed]
    written = await _append_all(conn, key, drafts)
    await enqueue_many(conn, [("check.missed", event_data(r)) for r in written])
    return written


def verification_draft(
    check: Mapping[str, Any],
    status: str,
    result: CallResult | None,
    ref: EvidenceRef | None,
) -> Draft:
    return Draft(
        "verification",
        check_id=check["id"],
        staff_id=check["staff_id"],
        unit_id=check["unit_id"],
        status=status,
        content=verification_content(check, status, result, ref),
    )


def event_data(record: Record) -> dict[str, Any]:
    """Webhook data: the whole verifiable entry, so receivers can check hash and signature."""
    return {"check_id": record.check_id, "record": record.to_dict()}


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise RecordError("a reason is required", field="reason")
    if len(reason) > MAX_REASON:
        raise RecordError(f"at most {MAX_REASON} characters", field="reason")
    return reason


async def _state_for_update(conn: AsyncConnection, record_id: str) -> RecordState:
    verification = await get_record(conn, record_id)
    if verification is None:
        raise RecordNotFound(f"no record {record_id!r}")
    if verification.kind != "verification":
        raise RecordConflict(f"record {record_id!r} is a {verification.kind}, not a verification")
    return await record_state(conn, verification)


def review_status(state: RecordState, decision: str, status: str | None) -> str:
    """The status a review leaves the record in, or why the review cannot be made."""
    if decision == "confirm":
        if status not in (None, state.status):
            raise RecordConflict(
                f"the record is {state.status}; a confirmation keeps it (use override)",
                field="status",
            )
        if state.review_state == "confirmed":
            raise RecordConflict(f"the record is already confirmed as {state.status}")
        return state.status
    if status is None:
        raise RecordError("required for override", field="status")
    if status == state.status:
        raise RecordConflict(f"the record is already {status}; use confirm", field="status")
    return status


ANNOUNCED = {"review": "record.reviewed", "objection": "record.objected"}
"""The webhook each later entry is announced as, in the transaction that appends it."""


async def _append_later(
    target: Target,
    record_id: str,
    kind: str,
    key: Ed25519PrivateKey,
    decide: Callable[[RecordState], tuple[str, dict[str, Any]]],
) -> Record:
    """Append a review or objection to the verification ``record_id``: under the chain
    lock, ``decide`` turns the record's current state into the entry's status and content
    (or raises why it cannot be made); the entry and its event commit together."""
    async with _transaction(target) as conn:
        await lock_chain(conn)
        state = await _state_for_update(conn, record_id)
        status, content = decide(state)
        verification = state.record
        draft = Draft(
            kind,
            check_id=verification.check_id,
            staff_id=verification.staff_id,
            unit_id=verification.unit_id,
            status=status,
            content={"record_id": verification.id, "record_seq": verification.seq, **content},
        )
        (record,) = await _append_all(conn, key, [draft])
        await enqueue(conn, ANNOUNCED[kind], event_data(record))
    return record


async def review_record(
    target: Target,
    record_id: str,
    *,
    reviewer: str,
    decision: str,
    reason: str,
    status: str | None = None,
    key: Ed25519PrivateKey,
) -> Record:
    """A supervisor confirms the current status or overrides it (to ``status``), with a
    reason; appended as a ``review`` entry and announced as ``record.reviewed``."""
    if decision not in DECISIONS:
        raise RecordError(f"one of {', '.join(DECISIONS)}", field="decision")
    if status is not None and status not in STATUSES:
        raise RecordError(f"one of {', '.join(STATUSES)}", field="status")
    reason = _reason(reason)
    if not reviewer.strip():
        raise RecordError("a reviewer is required", field="reviewer")

    def decide(state: RecordState) -> tuple[str, dict[str, Any]]:
        content = {
            "decision": decision,
            "previous_status": state.status,
            "reviewer": reviewer.strip(),
            "reason": reason,
        }
        return review_status(state, decision, status), content

    return await _append_later(target, record_id, "review", key, decide)


async def object_to_record(
    target: Target, record_id: str, *, staff_id: str, reason: str, key: Ed25519PrivateKey
) -> Record:
    """The staff member objects to a decision about them (UU 27/2022 art. 10: the right
    to object to solely automated decisions), once per record; the record is
    ``objected`` until the next review. Announced as ``record.objected``."""
    reason = _reason(reason)

    def decide(state: RecordState) -> tuple[str, dict[str, Any]]:
        if state.record.staff_id != staff_id:
            raise RecordForbidden("staff can only object to their own records")
        if any(e.kind == "objection" for e in state.entries):
            raise RecordConflict("one objection per record: this record already has one")
        return "objected", {"status_objected": state.status, "reason": reason}

    return await _append_later(target, record_id, "objection", key, decide)


async def find_state(conn: AsyncConnection, record_id: str) -> RecordState:
    """The state of the verification ``record_id`` is, or that it reviews or objects to."""
    entry = await get_record(conn, record_id)
    if entry is not None and entry.kind != "verification":
        entry = await get_record(conn, str(entry.body.get("record_id")))
    if entry is None:
        raise RecordNotFound(f"no record {record_id!r}")
    return await record_state(conn, entry)


async def get_record(conn: AsyncConnection, record_id: str) -> Record | None:
    row = (await conn.execute(select(records).where(records.c.id == record_id))).first()
    return _record(row) if row else None


async def record_state(conn: AsyncConnection, verification: Record) -> RecordState:
    """The effective state of a verification entry, from every entry of its check."""
    rows = (
        await conn.execute(
            select(records)
            .where(records.c.check_id == verification.check_id)
            .order_by(records.c.seq)
        )
    ).all()
    entries = [e for e in map(_record, rows) if e.seq >= verification.seq]
    return effective_state(entries)


async def list_records(
    conn: AsyncConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    unit_id: str | None = None,
    staff_id: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> RecordPage:
    """Entries in chain order. ``since``/``until`` bound the check's due time
    (half-open), ``after`` is the cursor (a seq), ``status`` matches the entry's own."""
    if not 1 <= limit <= 1000:
        raise RecordError("limit must be from 1 to 1000")
    query = (
        select(records)
        .join(checks, checks.c.id == records.c.check_id)
        .order_by(records.c.seq)
        .limit(limit + 1)
    )
    if since is not None:
        query = query.where(checks.c.due_at >= since)
    if until is not None:
        query = query.where(checks.c.due_at < until)
    if unit_id is not None:
        query = query.where(records.c.unit_id == unit_id)
    if staff_id is not None:
        query = query.where(records.c.staff_id == staff_id)
    if status is not None:
        query = query.where(records.c.status == status)
    if kind is not None:
        query = query.where(records.c.kind == kind)
    if after is not None:
        query = query.where(records.c.seq > after)
    found = [_record(r) for r in (await conn.execute(query)).all()]
    more = len(found) > limit
    page = found[:limit]
    return RecordPage(page, page[-1].seq if more else None)


async def verify_chain(
    engine: AsyncEngine, public_key: Ed25519PublicKey, *, batch: int = 1000
) -> ChainReport:
    """Walk the whole chain in seq order and name the first broken link.

    Reads in short transactions (keyset pages), so it never holds SQLite's write lock
    for long. A truncated tail cannot be seen from inside the database: compare the
    head with one published outside it (webhooks carry every entry's seq and hash).
    """
    expected, prev_hash, checked = 1, GENESIS_HASH, 0
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(records)
                    .where(records.c.seq >= expected)
                    .order_by(records.c.seq)
                    .limit(batch)
                )
            ).all()
        if not rows:
            return ChainReport(True, checked, expected - 1, prev_hash)
        for row in rows:
            problem = _row_problem(row, expected, prev_hash, public_key)
            if problem is not None:
                return ChainReport(
                    False, checked, expected - 1, prev_hash, row.seq, row.id, problem
                )
            expected, prev_hash, checked = expected + 1, row.hash, checked + 1


def _row_problem(
    row: Row[Any], expected: int, prev_hash: str, public_key: Ed25519PublicKey
) -> str | None:
    try:
        entry = _record(row)
    except ValueError:
        return "body is not valid JSON: the row was edited"
    if not isinstance(entry.body, dict):
        return "body is not a JSON object: the row was edited"
    try:
        return check_entry(entry, expected, prev_hash, public_key)
    except (ValueError, TypeError) as exc:  # e.g. a float RFC 8785 cannot encode
        return f"body cannot be canonicalized ({exc}): the row was edited"
