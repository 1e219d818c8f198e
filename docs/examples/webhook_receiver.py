"""A minimal receiver for Hadir webhooks that verifies both signatures.

    python webhook_receiver.py --secret whsec_... --public-key whpk_... [--port 8000]

Needs only the standard library and ``cryptography``. It checks the timestamp (±5 min),
the ``v1`` HMAC with your endpoint secret (give ``--secret`` twice during a rotation),
the ``v1a`` Ed25519 signature with the service's public key (``GET /api/v1/keys``),
and drops duplicates by ``webhook-id``. Every accepted event is printed as one JSON line.
Production receivers should keep the seen ids in a database with a unique key, not in
memory: retries can arrive up to three days after the first attempt.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TOLERANCE_S = 300


class VerificationError(ValueError):
    pass


def _key_bytes(text: str, prefix: str) -> bytes:
    return base64.b64decode(text.removeprefix(prefix))


def verify(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[str] = (),
    public_key: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Check the headers against the raw body; return the parsed event or raise.

    With ``secrets`` a ``v1`` entry must match one of them; with ``public_key`` the
    ``v1a`` entry must verify. Give at least one.
    """
    if not secrets and public_key is None:
        raise ValueError("give a secret, a public key, or both")
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signature = (
        h.get("webhook-id"),
        h.get("webhook-timestamp"),
        h.get("webhook-signature"),
    )
    if not (msg_id and stamp and signature):
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > TOLERANCE_S:
        raise VerificationError("timestamp missing or outside the tolerance")
    content = f"{msg_id}.{stamp}.".encode() + body
    entries = [e.split(",", 1) for e in signature.split(" ") if "," in e]
    if secrets:
        expected = [
            hmac.new(_key_bytes(s, "whsec_"), content, hashlib.sha256).digest() for s in secrets
        ]
        given = [base64.b64decode(sig) for version, sig in entries if version == "v1"]
        if not any(hmac.compare_digest(e, g) for e in expected for g in given):
            raise VerificationError("no v1 signature matches")
    if public_key is not None:
        key = Ed25519PublicKey.from_public_bytes(_key_bytes(public_key, "whpk_"))
        for version, sig in entries:
            if version == "v1a":
                try:
                    key.verify(base64.b64decode(sig), content)
                    break
                except InvalidSignature:
                    continue
        else:
            raise VerificationError("no v1a signature verifies")
    return json.loads(body)


def serve(port: int, secrets: Sequence[str], public_key: str | None) -> None:
    seen: set[str] = set()
    # Requests are handled in threads: one at a time may check ``seen`` and print, or
    # two deliveries of one id could both pass and two lines could interleave.
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server convention
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                event = verify(self.headers, body, secrets=secrets, public_key=public_key)
            except VerificationError as exc:
                self.send_response(401)
                self.end_headers()
                self.wfile.write(str(exc).encode())
                return
            msg_id = self.headers["webhook-id"]
            with lock:
                if msg_id not in seen:  # a retry of something already handled: just ack it
                    seen.add(msg_id)
                    print(json.dumps({"webhook_id": msg_id, **event}), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--secret", action="append", default=[], help="whsec_… (repeatable)")
    parser.add_argument("--public-key", help="whpk_… from GET /api/v1/keys")
    args = parser.parse_args()
    serve(args.port, args.secret, args.public_key)
