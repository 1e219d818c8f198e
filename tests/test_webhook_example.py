"""The sample receiver in docs/examples runs, verifies both signatures, and drops repeats;
and ``hadir bench store`` reports its figures."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from service.webhooks.dispatcher import Dispatcher
from service.webhooks.signing import public_key_text
from tests.cli_helpers import free_port, hadir, hadir_env
from tests.webhook_helpers import (
    Running,
    endpoint_for,
    enqueue_many,
    fast_settings,
    statuses,
    wait_until,
)

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "webhook_receiver.py"


async def test_sample_receiver_accepts_real_deliveries(store: AsyncEngine) -> None:
    key = Ed25519PrivateKey.generate()
    port = free_port()
    endpoint = await endpoint_for(store, f"http://127.0.0.1:{port}/")
    args = ["--port", str(port), "--secret", endpoint.secret, "--public-key", public_key_text(key)]
    proc = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, str(EXAMPLE), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert "listening" in await asyncio.to_thread(proc.stdout.readline)
        ids = await enqueue_many(store, 3)

        async def delivered() -> bool:
            return (await statuses(store)).get("delivered", 0) == 3

        async with Running(Dispatcher(store, key, fast_settings())):
            await wait_until(delivered)
        lines = [json.loads(await asyncio.to_thread(proc.stdout.readline)) for _ in ids]
    finally:
        proc.terminate()
        proc.wait(10)
    assert {line["webhook_id"] for line in lines} == set(ids)
    assert all(line["type"] == "check.completed" for line in lines)


def test_sample_receiver_refuses_forgeries() -> None:
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        from webhook_receiver import VerificationError, verify
    finally:
        sys.path.pop(0)
    import time

    from service.webhooks.signing import new_secret, webhook_headers

    key, secret = Ed25519PrivateKey.generate(), new_secret()
    now = int(time.time())
    headers = webhook_headers("msg_1", now, b"{}", [secret], key)
    assert verify(headers, b"{}", secrets=[secret], public_key=public_key_text(key)) == {}
    for body, kwargs in (
        (b"{ }", {"secrets": [secret]}),
        (b"{}", {"secrets": [new_secret()]}),
        (b"{}", {"public_key": public_key_text(Ed25519PrivateKey.generate())}),
    ):
        try:
            verify(headers, body, **kwargs)
        except VerificationError:
            continue
        raise AssertionError(f"accepted {body!r} {kwargs}")
    stale = webhook_headers("msg_1", now - 600, b"{}", [secret], key)
    try:
        verify(stale, b"{}", secrets=[secret])
    except VerificationError:
        pass
    else:
        raise AssertionError("accepted a stale timestamp")


def test_bench_store_reports_figures(tmp_path: Path) -> None:
    result = hadir("bench", "store", "--json", "--records", "20", env=hadir_env(tmp_path))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    # 20 records written one per transaction and 20 in batches: 40 to deliver.
    assert figures["benchmark"] == "store" and figures["deliveries"] == 40
    assert figures["records_per_s"] > 0 and figures["deliveries_per_s"] > 0
