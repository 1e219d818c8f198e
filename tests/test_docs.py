"""The README is a newcomer's first contact: keep its promises true."""

import re
from pathlib import Path

from service.api import PREFIX, ROUTES
from service.api.openapi import document
from service.config import reference
from service.outbox import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_config_reference_matches_the_code() -> None:
    block = README.split("<!-- config-reference:start -->")[1].split(
        "<!-- config-reference:end -->"
    )[0]
    documented = re.findall(r"^\| `([a-z_.]+)` \| `(HADIR_[A-Z_]+)` \| `(.*?)` \|", block, re.M)
    assert documented == [(key, env, default) for key, env, default, _ in reference()]


def test_readme_two_commands_exist_in_the_makefile_and_ci() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "make run" in README and "make test" in README
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_event_type_is_documented_and_subscribable() -> None:
    """An event Hadir sends is in the webhooks guide's table, the README's list and the
    OpenAPI document's subscription enums."""
    guide = (ROOT / "docs" / "webhooks.md").read_text()
    events = README.split("- Events:")[1].split("\n- ")[0]
    schemas = document(ROUTES, PREFIX)["components"]["schemas"]
    for event in EVENT_TYPES:
        assert f"| `{event}` |" in guide, event
        assert f"`{event}`" in events, event
    for name in ("Endpoint", "NewEndpoint", "EndpointChange"):
        assert schemas[name]["properties"]["events"]["items"]["enum"] == list(EVENT_TYPES)
