from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import hadir, hadir_env
from tests.conftest import StoreTarget
from tests.test_roster import CSV_HEADER, GOOD_CSV


@pytest.fixture
def env(store_target: StoreTarget, tmp_path: Path) -> dict[str, str]:
    return hadir_env(tmp_path / "data", store_target.url)


def test_policy_show_prints_jakarta_defaults(env: dict[str, str]) -> None:
    result = hadir("policy", "show", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Asia/Jakarta" in out and "07:30–16:00 (mon, tue, wed, thu, fri)" in out
    assert "10:00, 14:00, 16:00" in out
    for label in (
        "PDH khaki [solid:khaki]",
        "Kemeja putih [solid:white]",
        "Batik [patterned]",
        "Betawi",
    ):
        assert label in out
    doc = json.loads(hadir("policy", "show", "--json", env=env).stdout)
    assert doc["uniforms"]["fri"]["policy"] == "any"


def test_policy_set_validates_and_persists(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"check_times": ["10:00", "25:99"]}))
    result = hadir("policy", "set", str(bad), env=env)
    assert result.returncode == 2 and "check_times" in result.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"check_times": ["09:30", "13:30"], "check_window_minutes": 10}))
    assert hadir("policy", "set", str(good), env=env).returncode == 0
    assert "09:30, 13:30 (window ±10 min)" in hadir("policy", "show", env=env).stdout


def test_bad_config_exits_non_zero_naming_the_key(env: dict[str, str], tmp_path: Path) -> None:
    result = hadir("policy", "show", env={**env, "HADIR_SERVER_PORT": "eighty"})
    assert result.returncode == 2
    assert "server.port (from HADIR_SERVER_PORT)" in result.stderr
    config = tmp_path / "c.toml"
    config.write_text("[storage]\ndata_dirr = 'x'\n")
    result = hadir("--config", str(config), "serve", env=env)
    assert result.returncode == 2 and "storage.data_dirr: unknown key" in result.stderr


def test_roster_import_reports_rows_and_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD_CSV + "staff,p3,X,u1,nobody,,,,,mon\n")
    result = hadir("roster", "import", str(bad), env=env)
    assert result.returncode == 2
    assert "line 6: supervisor: unknown supervisor 'nobody'" in result.stderr
    assert "nothing was imported" in result.stderr
    # Nothing was written: a link for a person in the bad file cannot be issued.
    result = hadir("link", "staff", "p1", env=env)
    assert result.returncode == 2 and "no staff with id 'p1'" in result.stderr


def test_roster_import_then_links(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV)
    result = hadir("roster", "import", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert "1 unit(s), 1 supervisor(s), 2 staff" in result.stdout
    url = hadir("link", "staff", "p1", env=env).stdout.splitlines()[0]
    assert url.startswith("https://localhost:8443/staff/v1.")
    assert hadir("link", "revoke", "--staff", "p1", env=env).stdout.strip() == "revoked 1 link(s)"
    assert hadir("link", "revoke", "--staff", "p1", env=env).returncode == 1


def test_config_reference_is_markdown(env: dict[str, str]) -> None:
    result = hadir("config", "reference", env=env)
    assert result.returncode == 0
    assert "| `server.port` | `HADIR_SERVER_PORT` | `8443` |" in result.stdout


def test_bad_roster_header_is_clear(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(CSV_HEADER.replace("wfh_days", "days") + "unit,u1,X,,,,,,,\n")
    result = hadir("roster", "import", str(path), env=env)
    assert result.returncode == 2 and "unknown column(s) days" in result.stderr
