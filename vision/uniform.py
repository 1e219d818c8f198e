"""The uniform rule of the day, as a value the organisation policy and the check share.

Grammar (case-insensitive, spaces ignored):

- ``solid``: the torso is one colour, any colour;
- ``solid:COLOUR[,COLOUR...]``: one colour, and it is one of these (palette names
  from ``vision.colour.PALETTE`` or hex such as ``#C3B091``);
- ``patterned``: the torso is visible and a pattern is allowed (batik day);
- ``any``: only that the torso is visible.

``str(policy)`` is the canonical form, so a stored policy round-trips exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vision.colour import NamedColour, parse_colour


class UniformKind(StrEnum):
    SOLID = "solid"
    PATTERNED = "patterned"
    ANY = "any"


@dataclass(frozen=True)
class UniformPolicy:
    """A parsed uniform rule: its kind and, for ``solid:...``, the allowed colours."""

    kind: UniformKind
    colours: tuple[NamedColour, ...] = ()

    @property
    def text(self) -> str:
        """Canonical string, e.g. ``solid:khaki,#C3B091``."""
        if self.kind is UniformKind.SOLID and self.colours:
            return "solid:" + ",".join(c.name for c in self.colours)
        return self.kind.value

    @property
    def requires_solid(self) -> bool:
        return self.kind is UniformKind.SOLID

    def __str__(self) -> str:
        return self.text


def parse_uniform_policy(text: str) -> UniformPolicy:
    """Parse a uniform rule; raises ValueError with a message naming what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"uniform policy must be a string, not {type(text).__name__}")
    s = "".join(text.split()).lower()
    if not s:
        raise ValueError(
            "uniform policy is empty: use solid, solid:COLOUR[,COLOUR...], patterned or any"
        )
    head, sep, tail = s.partition(":")
    if head in ("patterned", "any"):
        if sep:
            raise ValueError(f"uniform policy {text!r}: {head!r} takes no colours")
        return UniformPolicy(UniformKind(head))
    if head != "solid":
        raise ValueError(
            f"unknown uniform policy {text!r}: use solid, "
            "solid:COLOUR[,COLOUR...], patterned or any"
        )
    if not sep:
        return UniformPolicy(UniformKind.SOLID)
    parts = tail.split(",")
    if any(not p for p in parts):
        raise ValueError(f"uniform policy {text!r}: empty colour in the list")
    colours: list[NamedColour] = []
    for part in parts:
        colour = parse_colour(part)
        if colour not in colours:
            colours.append(colour)
    return UniformPolicy(UniformKind.SOLID, tuple(colours))
