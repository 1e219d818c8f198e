"""``/metrics``: Prometheus' text for a ``metrics:read`` key, moved by a real call (a
staff page sending its stills to the running app), and the same series summed over
processes in prometheus_client's multiprocess mode."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen.clients import StreamSpec, one_stream
from service import metrics
from service.records import get_record
from service.state import ENGINE, LINK_SECRET
from service.store import create_engine
from tests.api_helpers import api_client, api_config, bearer, new_key
from tests.call_helpers import add_check, seed_org, stills_dir

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: TestClient[Any, Any], key: str) -> Values:
    async with client.get("/metrics", headers=bearer(key)) as r:
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def moved(before: Values, after: Values, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_a_call_moves_the_series_a_metrics_key_reads(tmp_path: Path) -> None:
    config = api_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
    media = await asyncio.to_thread(stills_dir, tmp_path / "stills")
    async with api_client(config) as client:
        engine = client.app[ENGINE]
        links = await seed_org(engine, tmp_path, client.app[LINK_SECRET])
        check = await add_check(engine, "staff1")
        key = await new_key(config.database_url, "metrics:read")
        reader = await new_key(config.database_url, "records:read")
        # A receiver subscribed with the dispatcher off: the call's record waits for it.
        hooks = bearer(await new_key(config.database_url, "webhooks:write", "records:read"))
        endpoint = {"url": "http://127.0.0.1:9/hook", "events": ["check.completed"]}
        async with client.post("/api/v1/webhooks", json=endpoint, headers=hooks) as r:
            assert r.status == 201

        async with client.get("/metrics") as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
        async with client.get("/metrics", headers=bearer(reader)) as r:
            assert r.status == 403 and "metrics:read" in (await r.json())["error"]["message"]

        before = await scrape(client, key)
        spec = StreamSpec(links.tokens["sup1"], links.tokens["staff1"], check)
        async with aiohttp.ClientSession() as session:
            call = asyncio.create_task(
                one_stream(session, str(client.make_url("/ws")), spec, str(media), 4.0)
            )
            during = before
            async with asyncio.timeout(20):  # until the call's first samples are counted
                while not call.done() and moved(before, during, "hadir_samples_total") == 0:
                    await asyncio.sleep(0.3)
                    during = await scrape(client, key)
            result = await call
        after = await scrape(client, key)
        assert result.record is not None
        async with engine.connect() as conn:
            record = await get_record(conn, result.record)

    assert result.error is None and result.admitted and result.record is not None
    assert moved(before, during, "hadir_calls_live") == 1
    assert moved(before, after, "hadir_calls_live") == 0
    assert moved(before, after, "hadir_rings_total", outcome="answered") == 1
    assert moved(before, after, "hadir_analysis_legs_total", result="admitted") == 1
    samples = moved(before, after, "hadir_samples_total")
    assert samples > 0
    assert moved(before, after, "hadir_sample_lag_seconds_count") == samples
    assert moved(before, after, "hadir_sample_cpu_seconds_count") >= samples
    assert 0 < moved(before, after, "hadir_sample_lag_seconds_sum") < 5 * samples
    assert record is not None
    assert all(
        moved(before, after, "hadir_records_written_total", kind="verification", status=s)
        == (s == record.status)
        for s in ("passed", "failed", "inconclusive", "missed")
    )
    assert before[("hadir_webhook_deliveries_pending", ())] == 0
    assert after[("hadir_webhook_deliveries_pending", ())] == 1


async def test_records_count_when_their_transaction_commits_never_when_it_rolls_back(
    tmp_path: Path,
) -> None:
    def written() -> float:
        labels = {"kind": "verification", "status": "missed"}
        return REGISTRY.get_sample_value("hadir_records_written_total", labels) or 0.0

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hadir.db'}")
    try:
        start = written()
        for _ in range(2):  # the same pooled connection twice: nothing lingers on it
            try:
                async with engine.begin() as conn:
                    metrics.records_committed(conn, [("verification", "missed")] * 3)
                    raise RuntimeError("the group's transaction failed")
            except RuntimeError:
                pass
        assert written() == start
        async with engine.begin() as conn:
            metrics.records_committed(conn, [("verification", "missed")] * 2)
        assert written() == start + 2
    finally:
        await engine.dispose()


WORKER = """
import sys
from service import metrics
metrics.CALLS_LIVE.inc()
metrics.RINGS.labels("declined").inc(int(sys.argv[1]))
"""
SCRAPE = """
import sys
from prometheus_client import generate_latest, multiprocess
from service import metrics
for pid in sys.argv[1:]:
    multiprocess.mark_process_dead(int(pid))
sys.stdout.write(generate_latest(metrics.registry()).decode())
"""


def test_workers_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done

    def values(*dead: str) -> dict[str, float]:
        text = run(SCRAPE, *dead).stdout
        return {
            s.name + str(s.labels.get("outcome", "")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    pids = []
    for n in ("2", "3"):
        worker = subprocess.Popen([sys.executable, "-c", WORKER, n], env=env)
        assert worker.wait() == 0
        pids.append(str(worker.pid))
    summed = values()
    assert summed["hadir_rings_totaldeclined"] == 5 and summed["hadir_calls_live"] == 2
    # A worker that exited leaves the live gauges; its counts stay in the totals.
    one_gone = values(pids[0])
    assert one_gone["hadir_rings_totaldeclined"] == 5 and one_gone["hadir_calls_live"] == 1
