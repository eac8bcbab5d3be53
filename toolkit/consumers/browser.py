"""Headless Chromium driven over the DevTools protocol, and the local server it reads from.

A page that runs onnxruntime-web must come over HTTP (a ``file://`` page may not fetch its
WebAssembly), so :class:`LocalServer` serves one folder on 127.0.0.1 only. The browser is
driven through ``--remote-debugging-pipe`` (the DevTools protocol as NUL-separated JSON on
file descriptors 3 and 4), which needs no WebSocket library and no open port: evaluate a
script and await its promise, dispatch mouse events, take a screenshot.

Example:
    >>> with LocalServer(site) as server, Chromium() as browser:  # doctest: +SKIP
    ...     page = browser.open(server.url("js/consumers/web.html"))
    ...     page.wait_for("window.xrbenchReady === true")
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

#: Debian names the binary `chromium`; other systems `chromium-browser` or Chrome's names.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Where the binary is looked for first (a person may point at another build).
CHROMIUM_ENV = "XRBENCH_CHROMIUM"


class BrowserError(RuntimeError):
    """Chromium could not be started, or a page or script failed; the message says which."""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) binary: $XRBENCH_CHROMIUM, else the first on PATH."""
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        return shutil.which(chosen)
    return next((found for n in CHROMIUM_NAMES if (found := shutil.which(n))), None)


def chromium_missing() -> str | None:
    """None when a Chromium is here, else how to get one."""
    if find_chromium():
        return None
    return (
        "no Chromium found (looked for $XRBENCH_CHROMIUM, then "
        f"{', '.join(CHROMIUM_NAMES)} on PATH): on Debian/Ubuntu `apt-get install chromium`."
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with WebAssembly's MIME types, no caching, and no log lines.

    The pages are cross-origin isolated (COOP/COEP headers; everything is same-origin), so
    that ``performance.now()`` ticks in microseconds rather than Chromium's 100 us steps.
    """

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
    }

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


class LocalServer:
    """Serve ``root`` on 127.0.0.1 (an OS-chosen port unless one is given) in a thread."""

    def __init__(self, root: str | Path, port: int = 0):
        self.root = Path(root)
        handler = partial(_QuietHandler, directory=str(self.root))
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._httpd.server_address[1]

    def url(self, path: str = "") -> str:
        """The URL of ``path`` (relative to the root)."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (``xrbench demo --serve``)."""
        self._httpd.serve_forever()

    def close(self) -> None:
        """Stop serving (after :meth:`serve_forever` returned) and free the port."""
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self.close()


class Page:
    """One tab, attached through a DevTools session."""

    def __init__(self, browser: Chromium, session_id: str):
        self.browser, self.session_id = browser, session_id

    def call(self, method: str, **params) -> dict:
        """A DevTools command on this tab."""
        return self.browser.call(method, params, session_id=self.session_id)

    def evaluate(self, expression: str, timeout: float = 60.0):
        """The value of a JavaScript expression; a promise is awaited.

        Raises:
            BrowserError: the script threw (its message), or it took longer than ``timeout``.
        """
        reply = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session_id=self.session_id,
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page's script failed: {' '.join(str(text).split())[:500]}")
        return reply.get("result", {}).get("value")

    def wait_for(self, condition: str, timeout: float = 60.0) -> None:
        """Poll a JavaScript condition until it is true.

        Raises:
            BrowserError: it was not true within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:  # while the page navigates there may be no context to evaluate in yet
                if self.evaluate(f"Boolean({condition})", timeout=timeout) is True:
                    return
            except BrowserError as e:
                last = f" (last: {e})"
            time.sleep(0.1)
        raise BrowserError(f"the page did not get to `{condition}` within {timeout:.0f} s{last}")

    def mouse(self, kind: str, x: float, y: float) -> None:
        """A left-button mouse event ('mousePressed', 'mouseMoved', 'mouseReleased')."""
        self.call(
            "Input.dispatchMouseEvent",
            type=kind,
            x=x,
            y=y,
            button="left",
            buttons=0 if kind == "mouseReleased" else 1,
            clickCount=1,
        )

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


class Chromium:
    """A headless Chromium this process started, driven over ``--remote-debugging-pipe``.

    Used as a context manager, it is closed (and, if it does not exit, killed) at the end;
    only this one process group is ever signalled.

    Raises:
        BrowserError: no Chromium is installed, or it exits before it answers.
    """

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 60.0):
        binary = find_chromium()
        if binary is None:
            raise BrowserError(chromium_missing())
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.TemporaryDirectory(prefix="xrbench-chromium-")
        self._log = open(Path(self._profile.name) / "chromium.log", "wb")  # noqa: SIM115
        args = [
            binary,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",  # root in containers and CI has no user namespaces for it
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--mute-audio",
            # a tab the browser thinks is in the background gets its timers throttled
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            f"--user-data-dir={self._profile.name}/profile",
            f"--window-size={width},{height}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # Chromium reads commands on fd 3 and writes on fd 4: the shell moves the pipes there
        self._process = subprocess.Popen(
            ["/bin/sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null', *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self._next_id = 0
        self._buffer = b""

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(
        self,
        method: str,
        params: dict | None = None,
        session_id: str | None = None,
        timeout: float | None = None,
    ) -> dict:
        """Send one DevTools command and wait for its answer (events are skipped).

        Raises:
            BrowserError: the browser answered with an error, exited, or was silent too long.
        """
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        try:
            self._process.stdin.write(json.dumps(message).encode() + b"\0")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise BrowserError(f"Chromium exited: {self._tail()}") from e
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise BrowserError(f"DevTools {method}: {reply['error'].get('message')}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer {method} within {timeout} s")
            ready, _, _ = select.select([self._process.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._process.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited: {self._tail()}")
                self._buffer += chunk

    def open(self, url: str) -> Page:
        """A new tab of the window's size, navigated to ``url``."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        return page

    def version(self) -> str:
        """The browser's product string, e.g. 'HeadlessChrome/156.0.8078.114'."""
        return str(self.call("Browser.getVersion").get("product", ""))

    def _tail(self) -> str:
        self._log.flush()
        text = (Path(self._profile.name) / "chromium.log").read_text(errors="replace")
        lines = [line for line in text.splitlines() if line.strip()]
        return " | ".join(lines[-3:])[:500] or "(no output)"

    def close(self) -> None:
        """Ask the browser to close; kill its process group if it does not within 5 s."""
        if self._process.poll() is None:
            try:
                self.call("Browser.close", timeout=5)
            except BrowserError:
                pass  # it is killed below
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, 9)
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            stream.close()
        self._log.close()
        self._profile.cleanup()
