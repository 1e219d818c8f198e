"""The JSON shapes the API answers with, as OpenAPI 3 component schemas."""

from __future__ import annotations

from typing import Any

from service.outbox import EVENT_TYPES
from service.records import DECISIONS, MAX_REASON, STATUSES
from service.roster import ROSTER_SCHEMA
from service.webhooks.ssrf import MAX_URL_LENGTH, URL_PATTERN

INSTANT = {"type": "string", "format": "date-time"}
URL = {
    "type": "string",
    "maxLength": MAX_URL_LENGTH,
    "pattern": URL_PATTERN,
    "description": "Private, loopback and link-local hosts are refused unless "
    "webhooks.allow_private_addresses is set.",
}
EVENTS = {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(EVENT_TYPES)}}
"""The events an endpoint subscribes to: at least one."""
NULLABLE_INSTANT = {"type": ["string", "null"], "format": "date-time"}
# A character that is not blank, spelt out: "\S" means one set to Python (str.isspace,
# which the record layer strips) and another to ECMA-262 regex engines.
NOT_BLANK = "[^\\t-\\r\\x1c- \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
REASON = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_REASON,
    "pattern": NOT_BLANK,
    "description": "Why; always required, kept in the signed entry.",
}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
    }


def _page(item: str) -> dict[str, Any]:
    return _object(
        {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next_cursor": {"type": ["string", "null"]},
        }
    )


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": _object(
        {
            "error": _object(
                {"code": {"type": "string"}, "message": {"type": "string"}},
            )
        }
    ),
    "Record": _object(
        {
            "seq": {"type": "integer"},
            "id": {"type": "string"},
            "kind": {"type": "string"},
            "check_id": {"type": ["string", "null"]},
            "staff_id": {"type": "string"},
            "unit_id": {"type": "string"},
            "status": {"type": "string"},
            "created_at": INSTANT,
            "body": {"type": "object"},
            "prev_hash": {"type": "string"},
            "hash": {"type": "string"},
            "signature": {"type": "string"},
        }
    ),
    "RecordState": _object(
        {
            "record_id": {"type": "string", "description": "the verification entry"},
            "status": {"type": "string", "description": "after every review"},
            "review_state": {
                "type": "string",
                "enum": ["unreviewed", "confirmed", "overridden", "objected"],
            },
            "entries": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Record"},
                "description": "the verification, then its reviews and objections in order",
            },
        }
    ),
    "Review": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "decision": {"type": "string", "enum": list(DECISIONS)},
            "status": {
                "type": "string",
                "enum": list(STATUSES),
                "description": "The new status; required to override.",
            },
            "reason": REASON,
        },
        "required": ["decision", "reason"],
        "if": {"properties": {"decision": {"const": "override"}}},
        "then": {"required": ["status"]},
    },
    "Objection": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": REASON},
        "required": ["reason"],
    },
    "FaceEnrolment": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "consent": {
                "const": True,
                "description": "The staff member consented, having read what is kept, why, "
                "for how long, who sees it and how to object (docs/privacy.md).",
            },
            "images": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "contentMediaType": "image/jpeg",
                    "minLength": 4,
                    "maxLength": 700_000,
                },
                "description": "JPEG stills of the face, base64; analysed, never kept.",
            },
        },
        "required": ["consent", "images"],
    },
    "Enrolment": _object(
        {
            "staff_id": {"type": "string"},
            "enrolled": {"type": "boolean"},
            "stills": {"type": "integer"},
            "model": {"type": "string"},
            "source": {"type": "string", "enum": ["self", "admin"]},
            "consent_at": INSTANT,
            "enrolled_at": INSTANT,
            "skipped": {
                "type": "array",
                "description": "On an enrolment: the stills left out for want of one "
                "usable face (their index in images, and the reason).",
                "items": _object({"image": {"type": "integer"}, "reason": {"type": "string"}}),
            },
        },
        optional=("stills", "model", "source", "consent_at", "enrolled_at", "skipped"),
    ),
    "SelfCheck": _object(
        {
            name: _object(
                {
                    "verdict": {"type": "string", "enum": ["pass", "fail", "inconclusive"]},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    **({"colour": {"type": ["object", "null"]}} if name == "uniform" else {}),
                },
            )
            for name in ("light", "face", "uniform")
        }
        | {"uniform_policy": {"type": "string"}, "vision_version": {"type": "string"}}
    ),
    "Check": _object(
        {
            "id": {"type": "string"},
            "staff_id": {"type": "string"},
            "supervisor_id": {"type": "string"},
            "unit_id": {"type": "string"},
            "due_at": INSTANT,
            "window_start": INSTANT,
            "window_end": INSTANT,
            "uniform_policy": {"type": "string"},
            "status": {"type": "string"},
            "created_at": INSTANT,
        }
    ),
    "Endpoint": _object(
        {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
            "enabled": {"type": "boolean"},
            "disabled_at": NULLABLE_INSTANT,
            "disabled_reason": {"type": ["string", "null"]},
            "rotation_ends_at": NULLABLE_INSTANT,
            "created_at": INSTANT,
            "owner_key_id": {"type": ["string", "null"]},
            "secret": {"type": "string", "pattern": "^whsec_"},
        },
        optional=("secret",),
    ),
    "Attempt": _object(
        {
            "attempted_at": INSTANT,
            "status_code": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"]},
            "duration_ms": {"type": "number"},
        }
    ),
    "Delivery": _object(
        {
            "id": {"type": "integer"},
            "event_id": {"type": "string"},
            "event_type": {"type": "string"},
            "endpoint_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed", "disabled"]},
            "attempts": {"type": "integer"},
            "next_attempt_at": INSTANT,
            "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "delivered_at": NULLABLE_INSTANT,
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}},
        }
    ),
    "Replayed": _object({"queued": {"type": "integer"}}),
    "SigningKey": _object(
        {
            "algorithm": {"type": "string", "enum": ["Ed25519"]},
            "public_key": {"type": "string", "description": "raw 32-byte key, base64"},
            "webhook_public_key": {"type": "string", "pattern": "^whpk_"},
        }
    ),
    "Roster": ROSTER_SCHEMA,
    "RosterImported": _object(
        {
            "units": {"type": "integer"},
            "supervisors": {"type": "integer"},
            "staff": {"type": "integer"},
        }
    ),
    "LinksRevoked": _object({"revoked": {"type": "integer"}}),
    "RecordPage": _page("Record"),
    "CheckPage": _page("Check"),
    "DeliveryPage": _page("Delivery"),
    "EndpointList": _object(
        {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Endpoint"}}}
    ),
    "NewEndpoint": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": URL,
            "events": EVENTS,
        },
        "required": ["url", "events"],
    },
    "EndpointChange": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": URL,
            "events": EVENTS,
            "enabled": {"type": "boolean"},
        },
    },
    "Replay": {
        "type": "object",
        "additionalProperties": False,
        "description": "Give exactly one of since (every event from then on) or event_id.",
        "properties": {"since": INSTANT, "event_id": {"type": "string"}},
    },
}
