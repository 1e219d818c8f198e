from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service import tokens
from service.checks import JoinLinks
from service.demo import DEMO_STAFF, DEMO_SUPERVISOR, load_demo
from service.links import check_token, issue_link, revoke
from service.tokens import TokenError

SECRET = b"k" * 32
NOW = datetime(2023, 8, 23, 3, 0, tzinfo=UTC)


def test_token_round_trip_and_expiry() -> None:
    claims = tokens.new_claims("staff", "p1", NOW + timedelta(hours=1))
    token = tokens.sign(claims, SECRET)
    assert tokens.verify(token, SECRET, NOW) == claims
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token, SECRET, NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "v2" + t[2:],
        lambda t: t.replace(".", "", 1),
        lambda t: "x" * 600,
        lambda t: "",
    ],
)
def test_forged_or_malformed_tokens_are_refused(mutate: Callable[[str], str]) -> None:
    token = tokens.sign(tokens.new_claims("staff", "p1", NOW + timedelta(hours=1)), SECRET)
    with pytest.raises(TokenError):
        tokens.verify(mutate(token), SECRET, NOW)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = tokens.sign(tokens.new_claims("staff", "p1", NOW + timedelta(hours=1)), b"x" * 32)
    with pytest.raises(TokenError, match="invalid signature"):
        tokens.verify(token, SECRET, NOW)


async def test_issued_links_open_until_revoked(store: AsyncEngine) -> None:
    links = await load_demo(store, JoinLinks(SECRET, "https://hadir.test"), timedelta(hours=1))
    assert links.supervisor.url.startswith("https://hadir.test/supervisor/v1.")
    assert [p.id for p in links.staff] == list(DEMO_STAFF)
    token = links.staff[0].url.rsplit("/", 1)[1]
    async with store.begin() as conn:
        claims = await check_token(conn, SECRET, token)
        assert (claims.role, claims.subject) == ("staff", DEMO_STAFF[0])
        # Every link of hers: the demo link and the join links of her checks today.
        assert len(await revoke(conn, actor="t", role="staff", subject=DEMO_STAFF[0])) >= 1
        with pytest.raises(TokenError, match="revoked"):
            await check_token(conn, SECRET, token)
        sup = links.supervisor.url.rsplit("/", 1)[1]
        assert (await check_token(conn, SECRET, sup)).subject == DEMO_SUPERVISOR


async def test_links_only_for_people_on_the_roster(store: AsyncEngine) -> None:
    async with store.begin() as conn:
        with pytest.raises(LookupError):
            await issue_link(
                conn, SECRET, "https://x", "staff", "nobody", timedelta(hours=1), actor="t"
            )


async def test_a_validly_signed_token_not_issued_here_is_refused(store: AsyncEngine) -> None:
    token = tokens.sign(
        tokens.new_claims("staff", "p1", datetime.now(UTC) + timedelta(hours=1)), SECRET
    )
    async with store.connect() as conn:
        with pytest.raises(TokenError, match="unknown token"):
            await check_token(conn, SECRET, token)
