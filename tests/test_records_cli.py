"""``hadir records verify`` as a user runs it, on both dialects: intact, an edited row,
a deleted row, and no signing key."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.keys import load_or_create_signing_key
from service.records import lock_chain, record_missed_many
from tests.cli_helpers import hadir, hadir_env
from tests.conftest import StoreTarget
from tests.records_helpers import seed_checks


async def test_verify_reports_intact_then_names_an_edited_and_a_deleted_row(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    key = load_or_create_signing_key(data)
    ids = await seed_checks(store, days=2)
    async with store.begin() as conn:
        await lock_chain(conn)
        written = await record_missed_many(conn, ids, key=key)
    env = hadir_env(data, store_target.url)

    done = hadir("records", "verify", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"chain intact: 6 entries, head {written[-1].hash}"

    async def tamper(sql: str) -> None:
        async with store.begin() as conn:
            await conn.execute(text(sql))

    await tamper("UPDATE records SET status = 'passed' WHERE seq = 2")
    done = hadir("records", "verify", env=env)
    assert done.returncode == 1
    assert done.stdout.startswith(f"chain broken at seq 2 (id {written[1].id}): column status")
    assert f"last good head seq 1 {written[0].hash}" in done.stdout
    await tamper("UPDATE records SET status = 'missed' WHERE seq = 2")

    await tamper("DELETE FROM records WHERE seq = 5")
    done = hadir("records", "verify", env=env)
    assert done.returncode == 1
    assert done.stdout.startswith(
        f"chain broken at seq 6 (id {written[5].id}): gap: seq 5 is missing"
    )


def test_verify_without_the_signing_key_says_so(tmp_path: Path) -> None:
    done = hadir("records", "verify", env=hadir_env(tmp_path / "empty"))
    assert done.returncode == 2
    assert "no signing key signing-ed25519.key" in done.stderr
