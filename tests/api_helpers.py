"""An API client on a real app (per dialect), API keys, and rows to read back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from service.apikeys import create_key
from service.app import create_app
from service.config import Config, load_config
from service.org import import_roster_text
from service.schema import checks, records
from service.store import create_engine

ROSTER = {
    "units": [{"id": "u1", "name": "Unit One"}, {"id": "u2", "name": "Unit Two"}],
    "supervisors": [
        {"id": "sup1", "name": "Budi", "unit": "u1"},
        {"id": "sup2", "name": "Ani", "unit": "u2"},
    ],
    "staff": [
        {"id": "s1", "name": "Siti", "unit": "u1", "supervisor": "sup1", "wfh_days": "mon,tue,wed"},
        {"id": "s2", "name": "Agus", "unit": "u1", "supervisor": "sup1", "wfh_days": "mon,tue,wed"},
        {"id": "s3", "name": "Dewi", "unit": "u2", "supervisor": "sup2", "wfh_days": "mon,tue,wed"},
    ],
}
START = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 WIB


def api_config(tmp_path: Path, database_url: str, **webhooks: object) -> Config:
    return load_config(
        env={},
        overrides={
            "storage": {"data_dir": str(tmp_path / "data"), "database_url": database_url},
            "server": {"http": True, "host": "127.0.0.1"},
            "webhooks": {"allow_private_addresses": True, "dispatcher": False, **webhooks},
            "jobs": {"enabled": False},
        },
    )


@asynccontextmanager
async def api_client(config: Config) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(config))) as client:
        yield client


async def new_key(database_url: str, *scopes: str) -> str:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            key, _ = await create_key(conn, "test", scopes, actor="test")
    finally:
        await engine.dispose()
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def seed_records(database_url: str, per_staff_days: int = 3) -> int:
    """The roster, one check per staff per day, and one record per check; returns records."""
    engine = create_engine(database_url)
    try:
        await import_roster_text(engine, json.dumps(ROSTER), "json", source="t", actor="t")
        seq = 0
        async with engine.begin() as conn:
            for day in range(per_staff_days):
                for member in ROSTER["staff"]:
                    due = START + timedelta(days=day)
                    check_id = f"chk_{member['id']}_{day}"
                    await conn.execute(
                        checks.insert().values(
                            id=check_id,
                            staff_id=member["id"],
                            supervisor_id=member["supervisor"],
                            unit_id=member["unit"],
                            due_at=due,
                            window_start=due - timedelta(minutes=15),
                            window_end=due + timedelta(minutes=15),
                            uniform_policy="batik",
                            status="completed",
                            created_at=due - timedelta(days=1),
                        )
                    )
                    seq += 1
                    await conn.execute(
                        records.insert().values(
                            seq=seq,
                            id=f"rec_{seq}",
                            kind="verification",
                            check_id=check_id,
                            staff_id=member["id"],
                            unit_id=member["unit"],
                            status="passed" if seq % 3 else "missed",
                            created_at=due + timedelta(minutes=5),
                            body=json.dumps({"seq": seq, "id": f"rec_{seq}"}),
                            prev_hash="0" * 64,
                            hash=f"{seq:064x}",
                            signature="sig",
                        )
                    )
        return seq
    finally:
        await engine.dispose()
