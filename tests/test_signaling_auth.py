"""Who may join and call: link tokens, supervisors and their own staff only."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service import tokens
from service.clock import utcnow
from service.links import revoke
from service.store import create_engine, migrate
from signaling.auth import AuthError, Identity, call_target, identify, require_member
from signaling.rooms import Rooms
from tests.call_helpers import Links, add_check, seed_org

SECRET = secrets.token_bytes(32)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def links(engine: AsyncEngine, tmp_path: Path) -> Links:
    return await seed_org(engine, tmp_path, SECRET)


async def _identify(engine: AsyncEngine, token: str) -> Identity:
    async with engine.connect() as conn:
        return await identify(conn, SECRET, token)


async def _refused(engine: AsyncEngine, token: str) -> str:
    with pytest.raises(AuthError) as exc:
        await _identify(engine, token)
    assert exc.value.code == "unauthorized"
    return str(exc.value)


async def test_a_valid_link_identifies_its_person(engine: AsyncEngine, links: Links) -> None:
    who = await _identify(engine, links.tokens["staff1"])
    assert (who.role, who.id, who.name, who.supervisor_id) == (
        "staff",
        "staff1",
        "Siti Rahmawati",
        "sup1",
    )


async def test_forged_expired_revoked_and_unknown_tokens_are_refused(
    engine: AsyncEngine, links: Links
) -> None:
    token = links.tokens["sup1"]
    assert "signature" in await _refused(engine, token[:-4] + "AAAA")
    assert "signature" in await _refused(
        engine, tokens.sign(tokens.verify(token, SECRET, utcnow()), b"another secret")
    )
    # A well-signed token for a supervisor whose id was never issued here.
    claims = tokens.new_claims("supervisor", "sup1", utcnow() + timedelta(hours=1))
    assert "unknown" in await _refused(engine, tokens.sign(claims, SECRET))
    expired = replace(tokens.verify(token, SECRET, utcnow()), expires_at=utcnow() - timedelta(1))
    assert "expired" in await _refused(engine, tokens.sign(expired, SECRET))
    async with engine.begin() as conn:
        await revoke(conn, actor="test", jti=links.jtis["sup1"])
    assert "revoked" in await _refused(engine, token)
    assert "malformed" in await _refused(engine, "not a token")


async def _target_error(engine: AsyncEngine, who: Identity, check: str) -> str:
    with pytest.raises(AuthError) as exc:
        async with engine.connect() as conn:
            await call_target(conn, who, check, utcnow())
    return exc.value.code


async def test_only_the_staff_members_supervisor_can_call(
    engine: AsyncEngine, links: Links
) -> None:
    check = await add_check(engine, "staff1")
    sup1 = await _identify(engine, links.tokens["sup1"])
    sup2 = await _identify(engine, links.tokens["sup2"])
    staff1 = await _identify(engine, links.tokens["staff1"])
    async with engine.connect() as conn:
        target = await call_target(conn, sup1, check, utcnow())
    assert (target.staff_id, target.home, target.home_radius_m) == (
        "staff1",
        (-6.2088, 106.8456),
        200,
    )
    assert await _target_error(engine, sup2, check) == "not_found"
    assert await _target_error(engine, staff1, check) == "forbidden"
    assert await _target_error(engine, sup1, "chk_nothere") == "not_found"
    early = await add_check(engine, "staff1", opens=timedelta(minutes=5))
    late = await add_check(engine, "staff1", opens=timedelta(minutes=-30), closes=timedelta(0))
    assert await _target_error(engine, sup1, early) == "outside_window"
    assert await _target_error(engine, sup1, late) == "outside_window"


async def test_no_home_falls_back_to_the_policy_radius(engine: AsyncEngine, links: Links) -> None:
    check = await add_check(engine, "staff2")
    sup2 = await _identify(engine, links.tokens["sup2"])
    async with engine.connect() as conn:
        target = await call_target(conn, sup2, check, utcnow())
    assert target.home is None and target.home_radius_m == 200.0


async def test_a_staff_token_cannot_join_another_staff_members_call(
    engine: AsyncEngine, links: Links
) -> None:
    room = Rooms().open("chk", "staff1", "sup1", utcnow(), utcnow())
    require_member(await _identify(engine, links.tokens["staff1"]), room)
    require_member(await _identify(engine, links.tokens["sup1"]), room)
    for other in ("staff2", "sup2"):
        with pytest.raises(AuthError) as exc:
            require_member(await _identify(engine, links.tokens[other]), room)
        assert exc.value.code == "forbidden"
