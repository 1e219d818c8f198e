"""SQLAlchemy Core tables: the one description of the database, shared by both dialects.

Alembic migrations in ``service/migrations`` create these tables; a test compares the
migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored as naive UTC and read back as an aware UTC datetime.

    SQLite has no time zone type and silently drops tzinfo, so both dialects store
    naive UTC and this type refuses naive input instead of guessing its zone.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; instants must carry a time zone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite via raw SQL
            value = datetime.fromisoformat(value)
        instant: datetime = value.replace(tzinfo=UTC)
        return instant


policy = Table(
    "policy",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("organisation", String(200), nullable=False),
    Column("body", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("id = 1", name="singleton"),
)

units = Table(
    "units",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)

supervisors = Table(
    "supervisors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False),
    Column("email", String(254)),
)

staff = Table(
    "staff",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False, index=True),
    Column("supervisor_id", String(64), ForeignKey("supervisors.id"), nullable=False, index=True),
    Column("home_lat", Float),
    Column("home_lon", Float),
    Column("home_radius_m", Float),
    # ISO weekdays the person works from home, as a comma list of 1 (Mon) .. 7 (Sun).
    Column("wfh_days", String(20), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    # When a page of theirs was last open (signaling.presence), kept across restarts.
    Column("last_seen_at", UTCDateTime),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # NULL applies to the whole organisation; a unit's row overrides it.
    Column("unit_id", String(64), ForeignKey("units.id"), unique=True),
    Column("check_times", JSON, nullable=False),
    Column("window_minutes", Integer, nullable=False),
    Column("random_offset_minutes", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)

calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    # True: a working day despite the holiday calendar; False: a day off (e.g. cuti bersama).
    Column("is_workday", Boolean, nullable=False),
    Column("note", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

checks = Table(
    "checks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("supervisor_id", String(64), ForeignKey("supervisors.id"), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("uniform_policy", String(200), nullable=False),
    Column("status", String(16), nullable=False, default="scheduled"),
    Column("created_at", UTCDateTime, nullable=False),
    # When the staff member's push reminder was claimed (service.push.reminders): once.
    Column("reminded_at", UTCDateTime),
    UniqueConstraint("staff_id", "due_at", name="uq_checks_staff_due"),
    Index("ix_checks_status_window_end", "status", "window_end"),
    Index("ix_checks_due_at", "due_at"),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("check_id", String(40), ForeignKey("checks.id"), index=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("supervisor_id", String(64), ForeignKey("supervisors.id"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("status", String(24), nullable=False),
    Column("answered_at", UTCDateTime),
    # Renewed every few seconds by the process holding the call: a live row whose
    # heartbeat stopped belongs to a process that died (signaling.record, checks.sweep).
    Column("heartbeat_at", UTCDateTime),
    # The evidence so far (signaling.snapshot), saved with the heartbeat once answered.
    Column("evidence", Text),
    Column("camera_on_fraction", Float),
    # Distance to the registered home only: raw coordinates are never stored.
    Column("location_distance_m", Float),
    Column("location_result", String(16)),
)

records = Table(
    "records",
    metadata,
    # Gapless sequence of the hash chain; assigned by the appender, not autoincrement.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("id", String(40), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("check_id", String(40), ForeignKey("checks.id"), index=True),
    Column("staff_id", String(64), nullable=False, index=True),
    Column("unit_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", String(120), nullable=False),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("check_id", String(40), ForeignKey("checks.id"), nullable=False, unique=True),
    Column("media_type", String(40), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delete_after", UTCDateTime, nullable=False, index=True),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("previous_secret", String(200)),
    Column("previous_secret_expires_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    # The API key that made it: only that key (or an admin key) sees it, and its scopes
    # decide what is delivered. NULL (made before owners existed) delivers nothing.
    Column("owner_key_id", String(40), index=True),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id, stable across retries
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), ForeignKey("outbox.id"), nullable=False),
    Column("endpoint_id", String(40), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed | disabled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_error", String(500)),
    Column("delivered_at", UTCDateTime),
    UniqueConstraint("event_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
    Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    Index("ix_deliveries_endpoint_id", "endpoint_id", "id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", String(500)),
    Column("duration_ms", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

link_tokens = Table(
    "link_tokens",
    metadata,
    Column("jti", String(40), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False, index=True),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(120), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(120), nullable=False, default=""),
    Column("detail", JSON, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # Who sent the key ("apikey:<id>", "supervisor:<id>", "staff:<id>"): keys are theirs.
    Column("actor", String(120), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    # A browser's push endpoint belongs to one person at a time: the last link that saved it.
    Column("endpoint", String(1024), nullable=False, unique=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False, index=True),
    # The link (token id) it was saved through: pushes open that link's page, and stop
    # when it is revoked or expires.
    Column("link_id", String(40), nullable=False),
    Column("p256dh", String(120), nullable=False),
    Column("auth", String(40), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("user_agent", String(300), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("refreshed_at", UTCDateTime, nullable=False),
    Column("last_success_at", UTCDateTime),
)

face_enrolments = Table(
    # A staff member's enrolled face for the identity match (service.enrolment): only
    # descriptors, AES-GCM encrypted with the data dir's key, never a photograph.
    "face_enrolments",
    metadata,
    Column("staff_id", String(64), ForeignKey("staff.id"), primary_key=True),
    Column("descriptors", LargeBinary, nullable=False),  # nonce ‖ ciphertext ‖ tag
    Column("count", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("source", String(10), nullable=False),  # "self" | "admin"
    Column("consent_at", UTCDateTime, nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
)
