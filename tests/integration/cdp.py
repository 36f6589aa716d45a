"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only).

Headless Chromium (Debian's package) reads commands on fd 3 and writes replies and
events on fd 4, each a JSON message ended by NUL: no websocket, no download, no
driver. Enough to navigate, run script in the page, wait for loads and take
screenshots.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-extensions", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
)  # fmt: skip


class CdpError(RuntimeError):
    pass


class Browser:
    def __init__(self, profile: Path, *, timeout: float = 30.0) -> None:
        assert BROWSER is not None
        self.timeout = timeout
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # fd 3: commands in, fd 4: messages out (set up by the shell, then exec).
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium.log"
        self._log = self.log.open("wb")
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self.proc = subprocess.Popen(
            [shutil.which("bash") or "bash", "-c", script, BROWSER, *FLAGS,
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self._ids = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
            session=False,
        )  # fmt: skip
        self.session = attached["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._lock.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        self._replies[msg["id"]] = msg
                        self._lock.notify_all()
                else:
                    self._events.put(msg)

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> dict[str, Any]:
        self._ids += 1
        n = self._ids
        msg: dict[str, Any] = {"id": n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while n not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise CdpError(f"{method}: no reply from chromium")
                self._lock.wait(left)
            reply = self._replies.pop(n)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def _drain(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"no {method} event")
            try:
                ev = self._events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("method") == method and ev.get("sessionId") == self.session:
                return ev

    def goto(self, url: str) -> None:
        self._drain()
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def act(self, script: str) -> None:
        """Run ``script`` (a click, a form submit) and wait for the page it loads."""
        self._drain()
        self.eval(script)
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        got = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in got:
            raise CdpError(f"script failed: {got['exceptionDetails']}")
        return got["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """Poll ``expression`` in the page until it is truthy (images decoding, say)."""
        deadline = time.monotonic() + self.timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"never true: {expression}")
            time.sleep(0.05)

    def screenshot(self, path: Path, width: int = 1280, height: int = 800) -> bytes:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        if self.proc.poll() is None and hasattr(self, "_reader"):
            with contextlib.suppress(CdpError):
                self.call("Browser.close", session=False)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_chrome)
            if hasattr(self, "_reader"):
                self._reader.join(5)
            os.close(self._from_chrome)
            self._log.close()
