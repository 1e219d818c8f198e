"""Debian's Firefox ESR, headless, driven through Marionette, its push service a local one.

Chromium's push always goes through its vendor's service; Firefox's is a preference, so
the Web Push tests point ``dom.push.serverURL`` at :class:`tests.push_service.PushService`
and the whole journey runs on 127.0.0.1. Each launch gets a fresh profile whose
``user.js`` silences first-run pages, telemetry and background traffic. Marionette picks
its own port (``marionette.port=0``) and writes it into the profile, so parallel browsers
cannot race for one. Headless Firefox never shows the notification prompt: the test's
origin is granted the permission from the browser's chrome context (which Marionette
reaches only with ``-remote-allow-system-access``).

``marionette_driver`` is a blocking client while the pages and the push service run in
the test's event loop: every call goes through a worker thread so the loop keeps serving
the browser meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from marionette_driver.marionette import Marionette

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
LAUNCH_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_S = 20
T = TypeVar("T")

# Preferences of every profile: quiet, offline but for loopback, push through the local
# service. Values are JSON-encoded into user.js.
QUIET_PREFS: dict[str, Any] = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "startup.homepage_welcome_url": "about:blank",
    "browser.aboutwelcome.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.tabs.warnOnClose": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.trr.mode": 5,
    "services.settings.server": "http://127.0.0.1:9/",
    # Whatever else reaches for the internet goes to a proxy that is not there (loopback
    # is never proxied). Remote settings, which ignore their server pref in release
    # builds unless MOZ_REMOTE_SETTINGS_DEVTOOLS is set, go to 127.0.0.1:9.
    "network.proxy.type": 1,
    "network.proxy.share_proxy_settings": True,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.allow_hijacking_localhost": False,
    "media.gmp-manager.url": "http://127.0.0.1:9/",
    "media.gmp-manager.updateEnabled": False,  # no plugin downloads when a call starts
    "browser.region.network.url": "",
    "geo.provider.network.url": "",
    "marionette.port": 0,
    # Web Push: allowed over plain ws:// only because this pref says tests are running.
    "dom.push.enabled": True,
    "dom.push.connection.enabled": True,
    "dom.push.testing.allowInsecureServerURL": True,
    "dom.push.loglevel": "warn",
    # Notifications drawn by Firefox itself: headless, there is no desktop to show them.
    "alerts.useSystemBackend": False,
    # Let a worker that waits on the test stay alive instead of being cut after 30 s.
    "dom.serviceWorkers.idle_timeout": 120_000,
}


def call_prefs(latitude: float, longitude: float) -> dict[str, Any]:
    """What a page in a call needs headless: a fake camera and microphone allowed without
    asking, ICE candidates on this machine's own addresses, and a fixed position."""
    position = {"location": {"lat": latitude, "lng": longitude}, "accuracy": 15}
    return {
        "media.navigator.streams.fake": True,
        "media.navigator.permission.disabled": True,
        "media.peerconnection.ice.loopback": True,
        "media.peerconnection.ice.obfuscate_host_addresses": False,
        "geo.provider.testing": True,
        "geo.prompt.testing": True,
        "geo.prompt.testing.allow": True,
        "geo.provider.network.url": "data:application/json," + json.dumps(position),
    }


def user_js(prefs: dict[str, Any]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


@dataclass
class Firefox:
    """A running headless Firefox ESR and its Marionette session."""

    process: subprocess.Popen[bytes]
    client: Marionette
    profile: Path
    log: Path  # the browser's stdout and stderr, quoted in failures
    window: tuple[int, int]  # outer size of the windows it drives
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def _call(self, work: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work()

        return await asyncio.to_thread(locked)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def navigate(self, url: str) -> None:
        await self._call(lambda: self.client.navigate(url))

    async def script(self, source: str, *args: Any, timeout_s: float = 15) -> Any:
        """Run ``source`` (a function body) in the current page; a returned promise is
        awaited. ``arguments[i]`` are ``args``."""
        return await self._call(
            lambda: self.client.execute_script(
                source, script_args=args, sandbox=None, script_timeout=int(timeout_s * 1000)
            )
        )

    async def chrome_script(self, source: str, *args: Any) -> Any:
        """Run ``source`` with the browser's own privileges (Services.*)."""

        def run() -> Any:
            with self.client.using_context(self.client.CONTEXT_CHROME):
                return self.client.execute_script(source, script_args=args)

        return await self._call(run)

    async def wait_for(self, source: str, *args: Any, within_s: float = 15) -> Any:
        """Poll ``source`` in the page until it returns something truthy; return that."""
        deadline = time.monotonic() + within_s
        value = None
        while time.monotonic() < deadline:
            value = await self.script(source, *args)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"Firefox: {source!r} stayed {value!r} for {within_s} s\n{self.log_tail()}"
        )

    async def grant_notifications(self, origin: str) -> None:
        """What a person's "Allow" in the notification prompt records for ``origin``."""
        await self.chrome_script(
            """
            const principal = Services.scriptSecurityManager
                .createContentPrincipalFromOrigin(arguments[0]);
            Services.perms.addFromPrincipal(
                principal, "desktop-notification", Services.perms.ALLOW_ACTION);
            """,
            origin,
        )

    async def revoke_notifications(self, origin: str) -> None:
        """What blocking notifications for ``origin`` in the settings does: Firefox
        drops that origin's push subscriptions and tells the push service."""
        await self.chrome_script(
            """
            const principal = Services.scriptSecurityManager
                .createContentPrincipalFromOrigin(arguments[0]);
            Services.perms.removeFromPrincipal(principal, "desktop-notification");
            """,
            origin,
        )

    async def set_offline(self, offline: bool) -> None:
        """Take the browser off the network or back (a phone losing its signal): its push
        connection closes, and opens again when it is back."""
        await self.chrome_script(
            "Services.io.manageOfflineStatus = false; Services.io.offline = arguments[0];",
            offline,
        )

    async def notifications(self) -> list[dict[str, str]]:
        """The notifications on screen (Firefox's own alert windows): title and body."""
        shown: list[dict[str, str]] = await self.chrome_script(
            """
            const shown = [];
            for (const w of Services.wm.getEnumerator("alert:alert")) {
                const title = w.document.getElementById("alertTitleLabel");
                const body = w.document.getElementById("alertTextLabel");
                if (title && body) {  // else a window still loading
                    shown.push({ title: title.getAttribute("value"), body: body.textContent });
                }
            }
            return shown;
            """
        )
        return shown

    async def click_notification(self, text: str, within_s: float = 10) -> None:
        """Click the notification whose title or body contains ``text``, as a person would:
        on its text, which makes Firefox fire the service worker's ``notificationclick``.
        Waits for it: an alert window takes a moment to draw."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            clicked = await self.chrome_script(
                """
                for (const alert of Services.wm.getEnumerator("alert:alert")) {
                    const title = alert.document.getElementById("alertTitleLabel");
                    const label = alert.document.getElementById("alertTextLabel");
                    if (alert.document.readyState !== "complete" || !title || !label) continue;
                    const shown = title.getAttribute("value") + "\\n" + label.textContent;
                    if (shown.includes(arguments[0])) { label.click(); return true; }
                }
                return false;
                """,
                text,
            )
            if clicked:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"no notification shows {text!r}: {await self.notifications()}")

    async def click(self, selector: str) -> None:
        """A real click (Marionette's pointer actions) on the element ``selector`` finds."""
        await self._call(lambda: self.client.find_element("css selector", selector).click())

    async def screenshot(self, path: Path) -> Path:
        """The current page as a PNG at ``path``."""

        def take() -> Path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.client.screenshot(format="binary"))
            return path

        return await self._call(take)

    async def switch_to_tab(self, url_prefix: str, within_s: float = 10) -> str:
        """Make the tab whose address starts with ``url_prefix`` (a worker may have just
        opened it) the one Marionette drives; its address."""

        def find() -> str | None:
            for handle in self.client.window_handles:
                self.client.switch_to_window(handle)
                url: str = self.client.get_url()
                if url.startswith(url_prefix):
                    # A window the page opened has the default size, not this one's.
                    self.client.set_window_rect(width=self.window[0], height=self.window[1])
                    return url
            return None

        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if found := await self._call(find):
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"no tab at {url_prefix} within {within_s} s\n{self.log_tail()}")

    def close(self) -> None:
        """Ask the browser to quit, kill it if it hangs, and remove the profile.
        (``Marionette.quit`` serves only browsers it launched itself.)"""
        try:
            with self._lock, self.client.using_context(self.client.CONTEXT_CHROME):
                self.client.execute_script(
                    "Services.startup.quit(Ci.nsIAppStartup.eAttemptQuit);", script_timeout=2000
                )
        except Exception:  # noqa: BLE001 - the connection drops as the browser quits
            pass
        try:
            self.process.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def launch(
    push_server_url: str,
    extra_prefs: dict[str, Any] | None = None,
    window: tuple[int, int] = (1280, 800),
) -> Firefox:
    """Start headless Firefox ESR with a fresh profile whose push service is
    ``push_server_url`` (``ws://127.0.0.1:PORT/``) and connect Marionette to it."""
    if not Path(FIREFOX).exists():
        raise RuntimeError(f"{FIREFOX} is missing: install it with scripts/system-deps.sh test")
    profile = Path(tempfile.mkdtemp(prefix="hadir-firefox-"))
    prefs = {**QUIET_PREFS, "dom.push.serverURL": push_server_url, **(extra_prefs or {})}
    (profile / "user.js").write_text(user_js(prefs))
    log = profile / "firefox.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                FIREFOX,
                "--headless",
                "--no-remote",
                "--marionette",
                "-remote-allow-system-access",
                "--profile",
                str(profile),
                "about:blank",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Lets remote settings take their server from the profile (127.0.0.1:9).
            env={**os.environ, "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1"},
        )
    try:
        port = _marionette_port(process, profile, log)
        client = Marionette(host="127.0.0.1", port=port, socket_timeout=LAUNCH_TIMEOUT_S)
        client.start_session(timeout=LAUNCH_TIMEOUT_S)
        client.set_window_rect(width=window[0], height=window[1])
    except BaseException:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
        raise
    return Firefox(process, client, profile, log, window)


def _marionette_port(process: subprocess.Popen[bytes], profile: Path, log: Path) -> int:
    """The port Marionette chose, once it listens (it writes it into the profile)."""
    active = profile / "MarionetteActivePort"
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{FIREFOX} exited with {process.returncode} while starting:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        if active.exists() and (text := active.read_text().strip()).isdigit():
            return int(text)
        time.sleep(0.1)
    raise RuntimeError(
        f"{FIREFOX}: Marionette did not listen within {LAUNCH_TIMEOUT_S} s:\n"
        + log.read_text(errors="replace")[-4000:]
    )
