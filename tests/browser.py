"""A small headless-Chromium driver for the HTML report tests (and the README screenshot).

It speaks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (file descriptors 3 and
4 of the browser), so it needs nothing but the standard library and a Chromium binary: no
WebDriver, no Node.js, no browser download, no TCP port. The protocol domains used here (Target,
Page, Runtime, Log, Network, Emulation, Input) are the stable ones, so a newer Debian
``chromium`` keeps working.

Command line (writes a deterministic screenshot of a page)::

    python tests/browser.py OUT/demo/report.html docs/report.png --width 1280
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Environment variable naming the Chromium binary (else the first of CANDIDATES on PATH).
CHROMIUM_ENV = "MIDI2IMG_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: Quiet, offline, root-safe headless flags: no sandbox (root in a container), no GPU, and
#: nothing that phones home (component updates, sync, field trials, QUIC, DNS).
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--disable-breakpad", "--disable-crash-reporter", "--metrics-recording-only",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--no-pings", "--password-store=basic", "--use-mock-keychain",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "--font-render-hinting=none",
    "--force-color-profile=srgb", "--disable-dev-shm-usage", "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium is missing, died, or a protocol command failed or timed out."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: ``$MIDI2IMG_CHROMIUM`` or the first on PATH."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary for a test; skips the test when there is none, fails under CI."""
    import pytest

    found = find_chromium()
    if found is None:
        env = os.environ.get(CHROMIUM_ENV)
        where = (f"{CHROMIUM_ENV}={env} is not an executable" if env
                 else f"none of {', '.join(CANDIDATES)} is on PATH")
        why = (f"needs a headless Chromium (apt-get install chromium, or set {CHROMIUM_ENV}); "
               f"{where}")
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"browser missing under CI: {why}")
        pytest.skip(why)
    return found


class Browser:
    """One headless Chromium process. Use as a context manager; open pages with :meth:`page`."""

    def __init__(self, executable: str | None = None, *, timeout_s: float = 30.0) -> None:
        exe = executable or find_chromium()
        if exe is None:
            raise BrowserError(f"no Chromium found (set {CHROMIUM_ENV} or install chromium)")
        self.executable = exe
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._pending: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._listeners: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._profile = tempfile.mkdtemp(prefix="midi2img-chromium-")
        cmd_r, self._cmd_w = os.pipe()   # we write commands, Chromium reads them on fd 3
        self._res_r, res_w = os.pipe()   # Chromium writes replies on fd 4, we read them
        # Chromium wants the pipe on fds 3 and 4 exactly. A tiny Python launcher moves them
        # there and execs it (no preexec_fn, which is unsafe with threads); the ends are first
        # moved to fds >= 10 so that the renumbering cannot clobber one with the other.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(res_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (cmd_r, res_w):
            os.close(fd)
        launcher = ("import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); "
                    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w); "
                    "os.execv(sys.argv[3], sys.argv[3:])")
        args = [sys.executable, "-I", "-S", "-c", launcher, str(child_r), str(child_w), exe,
                *FLAGS, f"--user-data-dir={self._profile}", "about:blank"]
        try:
            self.proc = subprocess.Popen(args, pass_fds=(child_r, child_w),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        finally:
            os.close(child_r)
            os.close(child_w)
        self._stderr: list[str] = []
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.version = self.send("Browser.getVersion")["product"]
        except BrowserError:
            self.close()
            raise

    # -- protocol plumbing ----------------------------------------------------------------------

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())
            del self._stderr[:-40]

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._res_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    q = self._pending.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    key = f'{msg.get("sessionId", "")}:{msg["method"]}'
                    for fn in list(self._listeners.get(key, ())):
                        fn(msg.get("params", {}))
        self._closed.set()
        for q in list(self._pending.values()):
            q.put({"error": {"message": "Chromium closed the connection"}})

    def on(self, method: str, fn: Callable[[dict[str, Any]], None], *,
           session: str = "") -> None:
        """Call ``fn(params)`` on every event ``method`` (of ``session``)."""
        self._listeners.setdefault(f"{session}:{method}", []).append(fn)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str = "",
             timeout_s: float | None = None) -> dict[str, Any]:
        """Send one command and wait for its result.

        Raises:
            BrowserError: the command failed, timed out or Chromium is gone.
        """
        if self._closed.is_set():
            raise BrowserError(f"Chromium is not running{self._tail()}")
        msg_id = next(self._ids)
        q: queue.Queue[dict[str, Any]] = queue.Queue()
        self._pending[msg_id] = q
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            with self._lock:
                os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
            reply = q.get(timeout=timeout_s or self.timeout_s)
        except queue.Empty:
            raise BrowserError(f"{method}: no reply in {timeout_s or self.timeout_s} s") from None
        except OSError as exc:
            raise BrowserError(f"{method}: {exc}{self._tail()}") from exc
        finally:
            self._pending.pop(msg_id, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}{self._tail()}")
        return reply.get("result", {})

    def _tail(self) -> str:
        return ("; chromium said: " + " | ".join(self._stderr[-5:])) if self._stderr else ""

    # -- pages ----------------------------------------------------------------------------------

    def page(self, *, width: int = 1280, height: int = 900, mobile: bool = False) -> Page:
        """A new tab, with the viewport set; close it with :meth:`Page.close`."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, target, session["sessionId"])
        page.set_viewport(width, height, mobile=mobile)
        return page

    def close(self) -> None:
        """Close Chromium and remove its profile folder."""
        if self.proc.poll() is None:
            try:
                if not self._closed.is_set():
                    self.send("Browser.close", timeout_s=5)
            except BrowserError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for fd in (self._cmd_w, self._res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab. Records console errors, uncaught exceptions and every request it makes."""

    def __init__(self, browser: Browser, target_id: str, session_id: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session = session_id
        self.url = "about:blank"
        #: Console errors, uncaught exceptions and browser log errors (CSP, failed loads).
        self.errors: list[str] = []
        #: Console warnings (not failures by themselves).
        self.warnings: list[str] = []
        #: Every URL the page requested (the document itself included).
        self.requests: list[str] = []
        self._loaded = threading.Event()
        on = self._on
        on("Runtime.consoleAPICalled", self._console)
        on("Runtime.exceptionThrown", lambda p: self.errors.append(
            "uncaught: " + (p["exceptionDetails"].get("exception", {}).get("description")
                            or p["exceptionDetails"].get("text", "?"))))
        on("Log.entryAdded", self._log)
        on("Network.requestWillBeSent", lambda p: self.requests.append(p["request"]["url"]))
        on("Page.loadEventFired", lambda p: self._loaded.set())
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        # deterministic rendering: light scheme, no motion
        self.send("Emulation.setEmulatedMedia", {"features": [
            {"name": "prefers-color-scheme", "value": "light"},
            {"name": "prefers-reduced-motion", "value": "reduce"}]})

    def _on(self, method: str, fn: Callable[[dict[str, Any]], None]) -> None:
        self.browser.on(method, fn, session=self.session)

    def _console(self, p: dict[str, Any]) -> None:
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
        if p.get("type") in ("error", "assert"):
            self.errors.append(f"console.{p['type']}: {text}")
        elif p.get("type") == "warning":
            self.warnings.append(text)

    def _log(self, p: dict[str, Any]) -> None:
        entry = p["entry"]
        text = f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
        (self.errors if entry.get("level") == "error" else self.warnings).append(text)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A protocol command in this tab's session."""
        return self.browser.send(method, params, session=self.session)

    def goto(self, target: str | Path, *, timeout_s: float = 30.0) -> None:
        """Load a URL (``file:``, ``data:``, ``about:``...) or a local file path and wait for
        its load event."""
        is_url = isinstance(target, str) and re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:", target)
        url = str(target) if is_url else Path(target).resolve().as_uri()
        self._loaded.clear()
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        if not self._loaded.wait(timeout_s):
            raise BrowserError(f"{url}: no load event in {timeout_s} s")
        self.url = url

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression (promises are awaited).

        Raises:
            BrowserError: the expression threw.
        """
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True})
        if "exceptionDetails" in reply:
            d = reply["exceptionDetails"]
            why = d.get("exception", {}).get("description") or d
            raise BrowserError(f"JavaScript error: {why}")
        return reply["result"].get("value")

    def set_viewport(self, width: int, height: int, *, mobile: bool = False,
                     scale: float = 1.0) -> None:
        """Emulate a screen ``width`` x ``height`` CSS pixels (``mobile``: a phone)."""
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})
        self.send("Emulation.setTouchEmulationEnabled", {"enabled": mobile})

    def emulate_media(self, media: str = "") -> None:
        """Render as ``print`` (or ``screen``; empty: back to normal)."""
        self.send("Emulation.setEmulatedMedia", {"media": media})

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) in the middle of the first match."""
        box = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " if (!el) return null; el.scrollIntoView({block: 'center'});"
            " const r = el.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()")
        if box is None:
            raise BrowserError(f"nothing matches {selector!r}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                   "button": "left", "clickCount": 1})

    def click_to_load(self, selector: str, *, timeout_s: float = 30.0) -> None:
        """Click a link (:meth:`click`) and wait for the load event of the page it opens."""
        self._loaded.clear()
        self.click(selector)
        if not self._loaded.wait(timeout_s):
            raise BrowserError(f"clicking {selector!r}: no page loaded in {timeout_s} s")

    def settle(self) -> None:
        """Wait for web fonts, for every image to be decoded and for two frames to be drawn."""
        self.evaluate("document.fonts.ready"
                      ".then(() => Promise.all(Array.from(document.images, (i) => i.decode()"
                      ".catch(() => null))))"
                      ".then(() => new Promise((r) => requestAnimationFrame("
                      "() => requestAnimationFrame(() => r(true)))))")

    def screenshot_png(self, *, full_page: bool = True) -> bytes:
        """A PNG of the viewport or of the whole page (after :meth:`settle`)."""
        self.settle()
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            width = self.evaluate("document.documentElement.clientWidth")
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1})
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def screenshot(self, path: str | Path, *, full_page: bool = True) -> Path:
        """Save a PNG of the viewport or of the whole page."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self.screenshot_png(full_page=full_page))
        return out

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the page itself and ``data:`` URIs."""
        return [u for u in self.requests
                if not (u.startswith("data:") or u.split("#")[0] == self.url.split("#")[0])]

    def close(self) -> None:
        """Close the tab."""
        try:
            self.browser.send("Target.closeTarget", {"targetId": self.target_id})
        except BrowserError:
            pass


@contextmanager
def open_page(html_file: str | Path, *, width: int = 1280, height: int = 900,
              mobile: bool = False, browser: Browser | None = None) -> Iterator[Page]:
    """A page showing ``html_file`` (in ``browser``, or in a Chromium started for it)."""
    own = browser is None
    b = browser or Browser()
    try:
        page = b.page(width=width, height=height, mobile=mobile)
        try:
            page.goto(Path(html_file))
            yield page
        finally:
            page.close()
    finally:
        if own:
            b.close()


def write_screenshot(html_file: str | Path, png: str | Path, *, width: int = 1280,
                     height: int = 900, full_page: bool = True) -> Path:
    """A deterministic screenshot of a page (the README's): a fresh Chromium, a fixed
    viewport at scale 1, light colour scheme, no scrollbars.

    Raises:
        BrowserError: Chromium is missing, or the page logged errors or made requests.
    """
    with open_page(html_file, width=width, height=height) as page:
        data = page.screenshot_png(full_page=full_page)
        if page.errors or page.foreign_requests():
            raise BrowserError(f"{html_file}: errors {page.errors}, "
                               f"requests {page.foreign_requests()}")
    out = Path(png)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python tests/browser.py PAGE.html OUT.png [--width N] [--height N] [--viewport]``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--viewport", action="store_true", help="only the first screen")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        out = write_screenshot(args.page, args.png, width=args.width, height=args.height,
                               full_page=not args.viewport)
    except BrowserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{out} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
