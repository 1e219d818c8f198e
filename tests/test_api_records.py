"""Records, checks, CSV export, the signing key and roster import over the API."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from service.api import BULK_SLOTS
from service.api.encoded_records import EncodedRecords, page_body
from service.api.queries import Filters, page_records, page_seqs, record_json
from service.keys import load_or_create_signing_key
from service.org import counts
from service.state import ENGINE
from tests.api_helpers import api_client, api_config, bearer, new_key, seed_records
from tests.conftest import StoreTarget


async def test_records_pages_cover_everything_once_and_filters(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    total = await seed_records(store_target.url, per_staff_days=5)
    key = await new_key(store_target.url, "records:read")
    async with api_client(config) as client:
        seen, cursor = [], None
        while True:
            query = {"limit": "4"} | ({"cursor": cursor} if cursor else {})
            r = await client.get("/api/v1/records", params=query, headers=bearer(key))
            page = await r.json()
            assert r.status == 200 and len(page["data"]) <= 4
            seen += [rec["seq"] for rec in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(range(1, total + 1))

        async def ids(**params: str) -> set[str]:
            r = await client.get("/api/v1/records", params=params, headers=bearer(key))
            return {f"{x['staff_id']}/{x['status']}" for x in (await r.json())["data"]}

        assert {i.split("/")[0] for i in await ids(unit="u2")} == {"s3"}
        assert {i.split("/")[0] for i in await ids(staff="s2")} == {"s2"}
        assert {i.split("/")[1] for i in await ids(status="missed")} == {"missed"}
        r = await client.get(
            "/api/v1/records",
            params={"from": "2026-11-03", "to": "2026-11-03"},
            headers=bearer(key),
        )
        assert [x["seq"] for x in (await r.json())["data"]] == [4, 5, 6]

        r = await client.get("/api/v1/records/rec_2", headers=bearer(key))
        assert r.status == 200 and (await r.json())["body"] == {"seq": 2, "id": "rec_2"}
        r = await client.get("/api/v1/records/rec_404", headers=bearer(key))
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


async def test_csv_export_streams_every_matching_record(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    await seed_records(store_target.url, per_staff_days=4)
    key = await new_key(store_target.url, "records:read")
    async with api_client(config) as client:
        r = await client.get("/api/v1/records.csv", params={"unit": "u1"}, headers=bearer(key))
        assert r.status == 200 and r.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert len(rows) == 8 and {row["unit_id"] for row in rows} == {"u1"}
    assert rows[0]["seq"] == "1" and rows[0]["hash"] == f"{1:064x}"


async def test_checks_filter_by_day_unit_staff_status_and_page(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    await seed_records(store_target.url, per_staff_days=3)
    key = await new_key(store_target.url, "records:read")
    async with api_client(config) as client:
        got, cursor = [], None
        while True:
            params = {"limit": "2", "unit": "u1"} | ({"cursor": cursor} if cursor else {})
            page = await (
                await client.get("/api/v1/checks", params=params, headers=bearer(key))
            ).json()
            got += [c["id"] for c in page["data"]]
            if not (cursor := page["next_cursor"]):
                break
        assert got == [f"chk_{s}_{d}" for d in range(3) for s in ("s1", "s2")]
        params = {"from": "2026-11-04", "staff": "s3", "status": "completed"}
        page = await (await client.get("/api/v1/checks", params=params, headers=bearer(key))).json()
        assert [c["id"] for c in page["data"]] == ["chk_s3_2"]


async def test_public_key_is_the_service_signing_key(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    async with api_client(config) as client:
        body = await (await client.get("/api/v1/keys")).json()
    key = load_or_create_signing_key(config.data_dir)
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
    public.verify(key.sign(b"x"), b"x")
    assert body["webhook_public_key"] == "whpk_" + body["public_key"]


async def test_roster_import_is_all_or_nothing(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    config = api_config(tmp_path, store_target.url)
    key = await new_key(store_target.url, "roster:write")
    reader = await new_key(store_target.url, "records:read")
    good = "kind,id,name,unit,supervisor,wfh_days\nunit,u9,Nine,,,\nsupervisor,p9,Pak,u9,,\n"
    bad = good + "staff,x9,Bad,u9,nobody,mon\n"
    async with api_client(config) as client:
        post = client.post
        r = await post(
            "/api/v1/roster", data=bad, headers={**bearer(key), "Content-Type": "text/csv"}
        )
        body = await r.json()
        assert r.status == 400 and body["error"]["code"] == "invalid_roster"
        assert "unknown supervisor" in body["error"]["message"]
        r = await post(
            "/api/v1/roster", data=good, headers={**bearer(reader), "Content-Type": "text/csv"}
        )
        assert r.status == 403
        r = await post(
            "/api/v1/roster", data=good, headers={**bearer(key), "Content-Type": "text/plain"}
        )
        assert r.status == 415
        r = await post(
            "/api/v1/roster", data=good, headers={**bearer(key), "Content-Type": "text/csv"}
        )
        assert r.status == 200 and await r.json() == {"units": 1, "supervisors": 1, "staff": 0}
        doc = json.dumps({"staff": [{"id": "x9", "name": "Ok", "unit": "u9", "supervisor": "p9"}]})
        r = await post(
            "/api/v1/roster", data=doc, headers={**bearer(key), "Content-Type": "application/json"}
        )
        assert r.status == 200
    async with store.connect() as conn:
        assert await counts(conn) == {"units": 1, "supervisors": 1, "staff": 1}


async def test_a_records_page_splices_the_stored_bodies_unchanged(
    store: AsyncEngine, store_target: StoreTarget
) -> None:
    """A page of kept items says exactly what encoding each record would say, whether
    its items are read afresh, kept from an earlier page, or were dropped and read again."""
    await seed_records(store_target.url, per_staff_days=5)
    kept = EncodedRecords(capacity=5)
    async with store.connect() as conn:
        rows, last = await page_records(conn, Filters(), None, 7)
        seqs, seqs_last = await page_seqs(conn, Filters(), None, 7)
        pages = [page_body(await kept.items(conn, seqs), seqs_last) for _ in range(2)]
        shifted = await kept.items(conn, seqs[3:] + seqs[:3])
    assert len(rows) == 7 and last is not None
    assert (seqs, seqs_last) == ([r.seq for r in rows], last)
    expected: dict[str, Any] = {"data": [record_json(r) for r in rows], "next_cursor": str(last)}
    for page in pages:
        assert json.loads(page.body) == expected  # type: ignore[arg-type]
    assert [json.loads(item) for item in shifted] == expected["data"][3:] + expected["data"][:3]


async def test_readers_waiting_for_a_list_slot_hold_no_connection(
    store: AsyncEngine, store_target: StoreTarget, tmp_path: Path
) -> None:
    """Readers queued for the ``server.bulk_reads`` slots have not even checked their key,
    so twenty of them (more than the connection pool holds) keep no database connection
    from a review; once the slots are free every one of them is served."""
    config = api_config(tmp_path, store_target.url)
    await seed_records(store_target.url, per_staff_days=1)
    key = await new_key(store_target.url, "records:read")
    checkouts: list[object] = []
    async with api_client(config) as client:
        event.listen(client.app[ENGINE].sync_engine, "checkout", lambda *a: checkouts.append(a))
        slots = client.app[BULK_SLOTS]
        for _ in range(config.server.bulk_reads):
            await slots.acquire()
        readers = [
            asyncio.create_task(client.get("/api/v1/records?limit=500", headers=bearer(key)))
            for _ in range(20)
        ]
        await asyncio.sleep(0.5)
        assert checkouts == [] and not any(r.done() for r in readers)
        for _ in range(config.server.bulk_reads):
            slots.release()
        assert [r.status for r in await asyncio.gather(*readers)] == [200] * 20
        assert len(checkouts) >= 20
