"""Service configuration: a TOML file overlaid by environment variables.

Every key lives in one dataclass field below, with its help text; the README's
configuration reference and ``hadir config reference`` are generated from these
fields, so the documentation cannot drift from the code. An environment variable
``HADIR_<SECTION>_<KEY>`` overrides the file; ``DATABASE_URL`` is accepted as the
conventional alias of ``HADIR_STORAGE_DATABASE_URL``.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

ENV_PREFIX = "HADIR_"
ENV_ALIASES = {"DATABASE_URL": ("storage", "database_url")}
# Read by the CLI to find the TOML file; not a setting itself.
ENV_CONFIG_FILE = "HADIR_CONFIG"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key."""


def _opt(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    min: float | None = None,
    max: float | None = None,
) -> Any:
    meta = {"help": help, "choices": choices, "min": min, "max": max}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ServerConfig:
    host: str = _opt("0.0.0.0", "Address to listen on.")
    port: int = _opt(8443, "TCP port to listen on.", min=1, max=65535)
    http: bool = _opt(
        False,
        "Serve plain HTTP (localhost, or behind a TLS proxy). "
        "Phones only open the camera on HTTPS pages.",
    )
    bulk_reads: int = _opt(
        2,
        "List reads (records, checks) this process serves at once; more wait their turn, "
        "so a crowd of readers cannot keep writes (reviews, calls) off the event loop.",
        min=1,
        max=64,
    )
    tls_cert: str = _opt("", "PEM certificate; empty generates a self-signed one in the data dir.")
    tls_key: str = _opt("", "PEM private key for tls_cert.")
    public_url: str = _opt(
        "",
        "Base URL put in links (e.g. https://hadir.example.go.id); "
        "empty derives it from host and port.",
    )
    shutdown_timeout_s: float = _opt(
        10.0, "Grace period for work in flight on shutdown.", min=0, max=300
    )


@dataclass(frozen=True)
class StorageConfig:
    data_dir: str = _opt("./data", "Directory for the SQLite database, keys and certificates.")
    database_url: str = _opt(
        "",
        "SQLAlchemy async URL; empty uses SQLite in the data dir. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )


@dataclass(frozen=True)
class SecurityConfig:
    link_ttl_hours: float = _opt(
        24.0 * 30, "How long a printed supervisor/staff link stays valid.", min=0.01, max=24.0 * 366
    )


@dataclass(frozen=True)
class WebhooksConfig:
    dispatcher: bool = _opt(True, "Run the webhook dispatcher in this process.")
    allow_private_addresses: bool = _opt(
        False,
        "Allow endpoints on private, loopback and link-local addresses "
        "(off: a guard against SSRF; turn on only for receivers on your own network).",
    )
    timeout_s: float = _opt(15.0, "Time limit of one delivery attempt.", min=1, max=60)
    concurrency: int = _opt(32, "Deliveries in flight per dispatcher.", min=1, max=1000)
    lease_s: float = _opt(
        120.0,
        "How long a claimed delivery is reserved before another dispatcher may take it "
        "(must exceed timeout_s).",
        min=5,
        max=3600,
    )
    poll_interval_s: float = _opt(1.0, "Pause between looks for due deliveries.", min=0.01, max=60)
    retry_schedule: list[str] = _opt(
        ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "14h", "20h", "24h"],
        "Delay before each attempt (s, m, h suffixes); after the last one a delivery fails.",
    )
    rotation_window_hours: float = _opt(
        24.0, "How long the old secret still signs after a rotation.", min=0, max=24.0 * 30
    )


@dataclass(frozen=True)
class IceConfig:
    stun_urls: list[str] = _opt(
        [],
        "STUN servers for the call (e.g. stun:stun.example.go.id:3478); empty: host "
        "candidates only, enough on one network.",
    )
    turn_url: str = _opt(
        "", "TURN server for phones behind NAT (turn:host:3478?transport=udp); see docs/calls.md."
    )
    turn_username: str = _opt("", "TURN user name.")
    turn_credential: str = _opt("", "TURN password.")


@dataclass(frozen=True)
class CallsConfig:
    sample_interval_s: float = _opt(
        1.0, "Seconds between frames the server analyses during a call.", min=0.2, max=10
    )
    analysis_threads: int = _opt(
        0,
        "Worker threads for frame analysis (one set of vision models each, one core "
        "each); 0: one per core this process may run on.",
        min=0,
        max=64,
    )
    max_analysis_calls: int = _opt(
        200,
        "Most calls analysed at once by this process; below it the measured capacity "
        "of the analysis threads decides. Further calls go on, unanalysed until a place frees.",
        min=1,
        max=1000,
    )
    min_camera_on_fraction: float = _opt(
        0.9, "Share of a call the camera must be on for the camera check to pass.", min=0, max=1
    )
    camera_gap_s: float = _opt(
        2.0, "Seconds without a frame after which the camera counts as off.", min=0.5, max=30
    )
    join_timeout_s: float = _opt(
        10.0, "Seconds a page may keep a /ws socket open without joining.", min=1, max=300
    )
    link_check_s: float = _opt(
        5.0,
        "Seconds between checks that open pages' links are not expired or revoked (their "
        "pages are closed and their calls end). A revocation by the API or the CLI closes "
        "pages at once; with redis.url set the database is asked only every 60 s (or this, "
        "if longer), a safety net for a lost bus message.",
        min=0.5,
        max=300,
    )
    rejoin_grace_s: float = _opt(
        45.0,
        "Seconds an answered call waits for its staff page to come back after it went "
        "away (a reload, a switch to mobile data); if none does, the call ends without a "
        "record and the check can be called again.",
        min=0,
        max=600,
    )
    ring_timeout_s: float = _opt(
        60.0,
        "Seconds a call rings before it ends as not answered (no record: the check stays "
        "open and can be called again while its window lasts).",
        min=1,
        max=600,
    )
    heartbeat_s: float = _opt(
        5.0,
        "Seconds between saves of each live call's evidence and heartbeat, so a crashed "
        "node's calls are recorded with what they had seen.",
        min=0.1,
        max=60,
    )
    lease_s: float = _opt(
        30.0,
        "Seconds without a heartbeat after which a live call counts as interrupted (its "
        "process is gone); keep it several heartbeats long.",
        min=0.5,
        max=3600,
    )


@dataclass(frozen=True)
class JobsConfig:
    enabled: bool = _opt(
        True,
        "Run the background jobs in this process: make checks ahead of time, close ended "
        "ones as MISSED, delete expired evidence (safe on several nodes at once).",
    )
    generate_interval_s: float = _opt(
        600.0, "Seconds between runs of check generation (idempotent).", min=1, max=86400
    )
    days_ahead: int = _opt(1, "Days after today whose checks are made in advance.", min=0, max=14)
    sweep_interval_s: float = _opt(
        30.0, "Seconds between looks for checks whose window ended unanswered.", min=0.1, max=3600
    )
    purge_interval_s: float = _opt(
        3600.0, "Seconds between deletions of evidence past its retention.", min=1, max=86400
    )


@dataclass(frozen=True)
class PushConfig:
    enabled: bool = _opt(
        True,
        "Send Web Push notifications to staff phones that allowed them: a ring when the "
        "supervisor calls, a reminder before each check (docs/push.md).",
    )
    subject: str = _opt(
        "",
        "VAPID contact the push services may write to (mailto: or https:); empty uses "
        "server.public_url.",
    )
    reminder_minutes: int = _opt(
        5, "Minutes before a check's window opens that its reminder is sent.", min=1, max=120
    )
    reminder_interval_s: float = _opt(
        30.0, "Seconds between looks for checks whose reminder is due.", min=0.1, max=3600
    )
    ring_ttl_s: int = _opt(
        60,
        "How long a push service keeps a ring for a phone that is offline (seconds): "
        "a late ring is worse than none.",
        min=0,
        max=3600,
    )
    timeout_s: float = _opt(10.0, "Time limit of one request to a push service.", min=1, max=60)
    allow_insecure_loopback: bool = _opt(
        False,
        "Accept http:// subscription endpoints on loopback addresses (tests with a local "
        "push service only; real push services are https).",
    )


@dataclass(frozen=True)
class LogConfig:
    level: str = _opt("INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    format: str = _opt(
        "json",
        "Log line format: one JSON object per line, or plain text.",
        choices=("json", "text"),
    )


@dataclass(frozen=True)
class RedisConfig:
    url: str = _opt(
        "",
        "Redis URL (redis://host:6379/0) for the bus between processes and nodes "
        "(docs/scale-out.md); empty: one process, no Redis.",
    )
    prefix: str = _opt(
        "hadir", "Prefix of every Redis key and channel, so deployments can share one Redis."
    )


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    ice: IceConfig = field(default_factory=IceConfig)
    calls: CallsConfig = field(default_factory=CallsConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    push: PushConfig = field(default_factory=PushConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir).expanduser().resolve()

    @property
    def database_url(self) -> str:
        if self.storage.database_url:
            return self.storage.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'hadir.db'}"

    @property
    def public_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        scheme = "http" if self.server.http else "https"
        host = "localhost" if self.server.host in ("0.0.0.0", "::", "") else self.server.host
        return f"{scheme}://{host}:{self.server.port}"


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in fields(Config)}


def _coerce(key: str, kind: Any, value: Any) -> Any:
    """Turn a TOML or environment value into the field's type, or raise ConfigError."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if typing.get_origin(kind) is list or isinstance(kind, types.GenericAlias):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {kind!r}")  # pragma: no cover - programming error


def _check(key: str, meta: Mapping[str, Any], value: Any) -> None:
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"{key}: must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta["min"] is not None and value < meta["min"]:
        raise ConfigError(f"{key}: must be at least {meta['min']}, got {value!r}")
    if meta["max"] is not None and value > meta["max"]:
        raise ConfigError(f"{key}: must be at most {meta['max']}, got {value!r}")


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read the TOML file (if any), then the environment, then explicit overrides."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    sections = _sections()
    for name in raw:
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(sections)})")
    for alias, (section, key) in ENV_ALIASES.items():
        if alias in env and env_name(section, key) not in env:
            env = {**env, env_name(section, key): env[alias]}
    for var in env:
        if var.startswith(ENV_PREFIX) and var != ENV_CONFIG_FILE and not _known_env(var, sections):
            raise ConfigError(f"{var}: unknown setting")
    built: dict[str, Any] = {}
    for section, cls in sections.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{section}: expected a table")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        for key in given:
            if key not in known:
                raise ConfigError(f"{section}.{key}: unknown key")
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f"{section}.{f.name}"
            value: Any = MISSING
            if f.name in given:
                value = given[f.name]
            var = env_name(section, f.name)
            if var in env:
                value, key = env[var], f"{key} (from {var})"
            if overrides and f.name in overrides.get(section, {}):
                value = overrides[section][f.name]
            if value is MISSING:
                continue
            value = _coerce(key, hints[f.name], value)
            _check(key, f.metadata, value)
            values[f.name] = value
        built[section] = replace(cls(), **values)
    config = Config(**built)
    if bool(config.server.tls_cert) != bool(config.server.tls_key):
        missing = "server.tls_key" if config.server.tls_cert else "server.tls_cert"
        raise ConfigError(f"{missing}: required when the other of tls_cert/tls_key is set")
    if config.webhooks.lease_s <= config.webhooks.timeout_s:
        raise ConfigError("webhooks.lease_s: must exceed webhooks.timeout_s")
    subject = config.push.subject
    if subject and not subject.startswith(("mailto:", "https://")):
        raise ConfigError("push.subject: must start with mailto: or https://")
    if config.calls.lease_s < 2 * config.calls.heartbeat_s:
        raise ConfigError("calls.lease_s: must be at least twice calls.heartbeat_s")
    if config.redis.url and not config.redis.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("redis.url: must start with redis://, rediss:// or unix://")
    if not _REDIS_PREFIX.fullmatch(config.redis.prefix):
        raise ConfigError("redis.prefix: 1-40 characters of A-Za-z0-9._-")
    return config


_REDIS_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,40}")


def _known_env(var: str, sections: Mapping[str, type]) -> bool:
    return any(var == env_name(s, f.name) for s, cls in sections.items() for f in fields(cls))


def reference() -> list[tuple[str, str, str, str]]:
    """(key, environment variable, default, help) for every setting, for the docs."""
    rows = []
    for section, cls in _sections().items():
        for f in fields(cls):
            factory = cast(Callable[[], Any], f.default_factory)
            default = f.default if f.default is not MISSING else factory()
            rows.append(
                (
                    f"{section}.{f.name}",
                    env_name(section, f.name),
                    repr(default),
                    f.metadata["help"],
                )
            )
    return rows
