import json
import socket
import sqlite3
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from service.access_log import redact
from tests.cli_helpers import ServiceProcess, free_port, hadir, hadir_env, loopback_http


def get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_demo_health_links_and_graceful_stop(tmp_path: Path) -> None:
    port = free_port()
    service = ServiceProcess(
        "--demo",
        "--http",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=hadir_env(tmp_path / "data"),
    )
    try:
        # Each printed link names its person.
        supervisor_url = service.wait_for("supervisor Budi Santoso:").split(": ", 1)[1].strip()
        staff_url = service.wait_for("staff Siti Rahmawati (").split(": ", 1)[1].strip()
        spot = int(service.wait_for("demo spot checks are open").split("(")[1].split()[0])
        base = f"http://127.0.0.1:{port}"
        assert supervisor_url.startswith(f"{base}/supervisor/")
        assert get(f"{base}/healthz") == (200, '{"status": "ok"}')
        status, page = get(f"{base}/")  # the root says how to get in, in Indonesian first
        assert status == 200 and "Hadir berjalan" in page and "/api/v1/openapi.json" in page
        status, body = get(f"{base}/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready"

        status, page = get(supervisor_url)
        assert status == 200 and "Budi Santoso" in page and 'lang="id"' in page
        # The demo's spot checks are open now: each staff member working from home
        # today can be called at once (a scheduled check may be open as well).
        assert page.count('data-action="start-call"') >= spot
        status, page = get(staff_url + "?lang=en")
        assert status == 200 and "Siti Rahmawati" in page and "Staff member" in page
        # A staff token does not open the supervisor page, and a forged one opens nothing.
        assert get(staff_url.replace("/staff/", "/supervisor/"))[0] == 403
        assert get(staff_url[:-3] + "xyz")[0] == 403
    finally:
        code, err = service.stop()
    assert code == 0, err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [e["msg"] for e in logs if e["logger"] == "hadir.server"][-2:] == [
        "shutting down",
        "stopped",
    ]
    # Requests are logged, their link tokens never.
    paths = [e["path"] for e in logs if e["logger"] == "hadir.access"]
    assert "/staff/[redacted]?lang=en" in paths and "/supervisor/[redacted]" in paths
    for url in (supervisor_url, staff_url):
        assert url.rsplit("/", 1)[1] not in err
    assert (tmp_path / "data" / "hadir.db").exists()


def _checks(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("select id, status from checks").fetchall())


def test_restarting_the_demo_adds_no_checks(tmp_path: Path) -> None:
    # Today's regular checks and the spot checks are made by the first start only, and
    # no spot check is made for someone not working from home today (it would only be
    # cancelled, and made again at the next start). The scheduler's own jobs are off:
    # they make the days ahead in the background, whenever they run.
    env = hadir_env(tmp_path / "data", HADIR_JOBS_ENABLED="false")
    seen = []
    for _ in range(2):
        service = ServiceProcess("--demo", "--http", "--port", str(free_port()), env=env)
        try:
            service.wait_for("demo spot checks are open")
        finally:
            code, err = service.stop()
        assert code == 0, err
        seen.append(_checks(tmp_path / "data" / "hadir.db"))
    assert seen[0] == seen[1]
    assert all(status == "scheduled" for check_id, status in seen[0] if "demo" in check_id)


def test_a_port_in_use_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = hadir("serve", *loopback_http(port), env=hadir_env(tmp_path / "data"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = [ln for ln in result.stderr.splitlines() if ln.startswith("hadir:")]
    assert message == [
        f"hadir: cannot listen on 127.0.0.1:{port}: address already in use "
        "(another Hadir running? set server.port or --port)"
    ], result.stderr


def test_https_by_default_with_a_generated_certificate(tmp_path: Path) -> None:
    port = free_port()
    service = ServiceProcess(
        "--host", "127.0.0.1", "--port", str(port), env=hadir_env(tmp_path / "data")
    )
    try:
        service.wait_for("Hadir is running at https://")
        cert = tmp_path / "data" / "tls" / "cert.pem"
        context = ssl.create_default_context(cafile=str(cert))
        assert get(f"https://localhost:{port}/healthz", context)[0] == 200
        assert oct((tmp_path / "data" / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    finally:
        code, _ = service.stop()
    assert code == 0


def test_probe_command_reports_health(tmp_path: Path) -> None:
    port = free_port()
    env = hadir_env(tmp_path / "data", HADIR_SERVER_HOST="127.0.0.1", HADIR_SERVER_PORT=str(port))
    assert hadir("probe", env=env).returncode == 1  # nothing listening yet
    service = ServiceProcess(env=env)
    try:
        service.wait_for("Hadir is running")
        result = hadir("probe", "/readyz", env=env)
        assert result.returncode == 0 and '"ready"' in result.stdout
    finally:
        service.stop()


def test_dockerfile_uses_the_same_install_steps_as_the_makefile() -> None:
    root = Path(__file__).resolve().parents[1]
    dockerfile = (root / "Dockerfile").read_text()
    makefile = (root / "Makefile").read_text()
    assert "scripts/system-deps.sh runtime" in dockerfile
    assert "scripts/system-deps.sh runtime" in makefile
    assert "RUN pip install ." in dockerfile and "pip install --quiet -e ." in makefile
    assert "USER hadir" in dockerfile and "HEALTHCHECK" in dockerfile
    assert 'CMD ["hadir", "probe", "/healthz"]' in dockerfile


def test_system_packages_for_the_tests_are_installed() -> None:
    import subprocess

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [root / "scripts" / "system-deps.sh", "test", "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_access_log_redaction_covers_every_token_shape() -> None:
    token = "v1.eyJyIjoic3RhZmYifQ.c2lnbmF0dXJl"
    assert redact(f"/staff/{token}") == "/staff/[redacted]"
    assert redact(f"/supervisor/{token}/call/chk_1") == "/supervisor/[redacted]/call/chk_1"
    assert redact(f"/static/x.js?from={token}") == "/static/x.js?from=[redacted]"
    assert redact("/api/v1/records?limit=5") == "/api/v1/records?limit=5"
