from pathlib import Path

import pytest

from service.config import ConfigError, load_config, reference


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hadir.toml"
    path.write_text(text)
    return path


def test_defaults_use_sqlite_in_the_data_dir_and_https() -> None:
    config = load_config(env={})
    assert config.database_url.startswith("sqlite+aiosqlite:///")
    assert config.database_url.endswith("/data/hadir.db")
    assert config.server.http is False
    assert config.public_url == "https://localhost:8443"


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 9000\nhost = "127.0.0.1"\n[log]\nlevel = "DEBUG"\n')
    config = load_config(
        path, env={"HADIR_SERVER_PORT": "9100"}, overrides={"log": {"level": "ERROR"}}
    )
    assert config.server.port == 9100
    assert config.server.host == "127.0.0.1"
    assert config.log.level == "ERROR"


def test_database_url_alias() -> None:
    url = "postgresql+asyncpg://u@db/hadir"
    assert load_config(env={"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("toml", "env", "names"),
    [
        ("[server]\nport = 70000\n", {}, "server.port"),
        ('[server]\nport = "x"\n', {}, "server.port"),
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("[srever]\n", {}, "srever"),
        ('[log]\nlevel = "LOUD"\n', {}, "log.level"),
        ("", {"HADIR_SERVER_HTTP": "maybe"}, "HADIR_SERVER_HTTP"),
        ("", {"HADIR_SERVER_PROT": "1"}, "HADIR_SERVER_PROT"),
        ('[server]\ntls_cert = "/x.pem"\n', {}, "server.tls_key"),
        ("[server\n", {}, "invalid TOML"),
        ("[calls]\nheartbeat_s = 20\n", {}, "calls.lease_s"),  # 30 s: not two heartbeats
    ],
)
def test_invalid_values_name_the_key(
    tmp_path: Path, toml: str, env: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.").replace("[", r"\[")):
        load_config(write(tmp_path, toml), env=env)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_reference_lists_every_setting_with_help() -> None:
    rows = reference()
    keys = {row[0] for row in rows}
    assert {"server.port", "storage.database_url", "log.format"} <= keys
    assert all(row[1].startswith("HADIR_") and row[3] for row in rows)
