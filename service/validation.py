"""JSON values against JSON Schema (Draft 2020-12), each problem named by its field.

The schemas are the ones the OpenAPI document declares (``service.api.schemas``) and the
roster's (``service.roster``): one declaration documents a shape and refuses what does
not fit it, so handlers and parsers do not repeat the type checks by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# Text no name, id or parameter may hold: control characters (NUL among them, which
# PostgreSQL refuses in text) and lone surrogates (which no database encoding can store).
CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
# In this order: a bool is an int to Python, not to JSON.
JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


@dataclass(frozen=True)
class Problem:
    """Where (the path of keys and indexes from the top) and what, in a person's words."""

    path: tuple[str | int, ...]
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def field_name(path: Sequence[str | int]) -> str:
    """``("staff", 0, "name")`` → ``staff[0].name``; the empty path is ``body``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _json_type(value: Any) -> str:
    return next((name for kind, name in JSON_TYPES if isinstance(value, kind)), "value")


def _problem(error: ValidationError) -> Problem:
    path = tuple(error.absolute_path)
    kind, expected = error.validator, error.validator_value
    if kind == "required":
        name = next(n for n in expected if n not in error.instance)
        path, message = (*path, name), "required"
    elif kind == "additionalProperties":
        allowed = error.schema.get("properties", {})
        name = sorted(k for k in error.instance if k not in allowed)[0]
        path, message = (*path, name), "unknown field"
    elif kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"expected {wanted}, got {_json_type(error.instance)}"
    elif kind == "enum":
        message = f"expected one of {', '.join(map(str, expected))}"
    elif kind in ("minLength", "pattern") and isinstance(error.instance, str):
        message = "empty or not in the expected form"
    elif kind == "maxLength":
        message = f"longer than {expected} characters"
    else:
        message = error.message
    return Problem(path, field_name(path), message)


class Schema:
    """A compiled schema; ``components`` resolves ``#/components/schemas/…`` references."""

    def __init__(
        self, schema: Mapping[str, Any], components: Mapping[str, Any] | None = None
    ) -> None:
        root = {**schema, "components": {"schemas": dict(components or {})}}
        Draft202012Validator.check_schema(root)
        self._validator = Draft202012Validator(root)

    def problems(self, value: Any) -> Iterator[Problem]:
        """Every problem, in document order; none when ``value`` fits."""
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(map(str, e.path)))
        for error in errors:
            yield _problem(error)
