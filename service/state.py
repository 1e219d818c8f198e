"""Keys of the shared state the aiohttp application carries."""

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Config
from service.webhooks.dispatcher import Dispatcher

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", AsyncEngine)
LINK_SECRET = web.AppKey("link_secret", bytes)
SIGNING_KEY = web.AppKey("signing_key", Ed25519PrivateKey)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
FACE_KEY = web.AppKey("face_key", AESGCM)  # enrolled faces (service.enrolment)
