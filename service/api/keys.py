"""The service's public Ed25519 key: it signs records and ``v1a`` webhook signatures."""

from __future__ import annotations

import base64

from aiohttp import web

from service.api.routes import Route, json_response
from service.state import SIGNING_KEY
from service.webhooks.signing import public_key_bytes, public_key_text


async def signing_key(request: web.Request) -> web.Response:
    key = request.config_dict[SIGNING_KEY]
    return json_response(
        {
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(public_key_bytes(key)).decode("ascii"),
            "webhook_public_key": public_key_text(key),
        }
    )


ROUTES = (
    Route(
        "GET",
        "/keys",
        signing_key,
        None,
        "The public key that verifies records and v1a webhook signatures",
        {200: ("the key", "SigningKey")},
        tags=("keys",),
    ),
)
