"""An html report opened in a real browser: headless Chromium (Debian's ``chromium``), driven over the
DevTools protocol on ``--remote-debugging-pipe`` (no Python CDP client needed, no network port).

    python -m fpga_flow.report.browser REPORT.html [--screenshot PAGE.png] [--json]

The page is loaded from its file with the browser offline (``Network.emulateNetworkConditions``), a
fresh profile, no sandbox, GPU, QUIC, first-run, background networking, component updates or sync.
Recorded while it loads: console messages of level error (``Runtime.consoleAPICalled``,
``Log.entryAdded``: e.g. a resource that failed to load), uncaught exceptions
(``Runtime.exceptionThrown``), every request (``Network.requestWillBeSent``: anything but the page
itself and ``data:`` URIs is an external asset) and failed loads. After the load event, every
``<img>`` is asked for ``complete`` and ``naturalWidth`` (0 = broken). A full-page screenshot is saved
on request (``Page.captureScreenshot``). ``ok`` is true only without errors, exceptions, external
requests, failed loads and broken images, and with at least one image. Exit 0 if ok, 1 if not, 2 when
no Chromium is installed (``make chromium`` installs it).
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import FlowError

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe", "--enable-logging=stderr", "--v=0")


def find_chromium() -> str | None:
    for name in CHROMIUM:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    """The DevTools protocol over the two pipes Chromium opens as fd 3 (commands in) and 4 (out)."""

    def __init__(self, exe: str, profile: str, log):
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        # the child's ends, moved above fd 10 so the shell can put them at 3 and 4 whatever numbers they had
        a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
        os.close(cmd_r)
        os.close(out_w)
        argv = [exe, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"]
        shell = shutil.which("bash") or "/bin/bash"  # (dash takes single-digit descriptors only)
        self.proc = subprocess.Popen([shell, "-c", f'exec "$0" "$@" 3<&{a} 4>&{b} {a}<&- {b}>&-', *argv],
                                     pass_fds=(a, b), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(a)
        os.close(b)
        self._id = 0
        self._replies: dict[int, dict] = {}
        self.events: "queue.Queue[dict]" = queue.Queue()
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._out_r, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cv:
                    self._replies[-1] = {"closed": True}
                    self._cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cv:
                        self._replies[msg["id"]] = msg
                        self._cv.notify_all()
                else:
                    self.events.put(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self._id += 1
        i = self._id
        msg = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except OSError as e:
            raise RuntimeError(f"chromium is not running (exit code {self.proc.poll()}; {e.strerror}) at {method}") from None
        deadline = time.monotonic() + timeout
        with self._cv:
            while i not in self._replies:
                if -1 in self._replies:
                    raise RuntimeError(f"chromium closed the DevTools pipe during {method}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"chromium did not answer {method} within {timeout:.0f} s")
                self._cv.wait(left)
            reply = self._replies.pop(i)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except RuntimeError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass


_IMAGES_JS = """Array.from(document.images).map(i => ({src: i.currentSrc.slice(0, 40), data_uri: i.src.startsWith('data:'),
  complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, alt: i.alt,
  shownWidth: i.getBoundingClientRect().width, shownHeight: i.getBoundingClientRect().height}))"""


def check(html: str | Path, screenshot: str | Path | None = None, *, width: int = 1280, timeout: float = 90,
          chromium: str | None = None) -> dict:
    """Open ``html`` in headless Chromium and report what a reader's browser would meet (see module doc)."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FlowError("no chromium on PATH; install Debian's chromium package ('make chromium' as root) to check "
                        "html reports in a browser")
    page = Path(html).resolve()
    if not page.is_file():
        raise FlowError(f"{html}: file not found")
    url = page.as_uri()
    profile = tempfile.mkdtemp(prefix="fpga_flow_chromium_")
    log_path = Path(profile).with_name(Path(profile).name + ".log")
    res = {"page": str(page), "console_errors": [], "exceptions": [], "log_errors": [], "requests": [],
           "failed_loads": [], "images": []}
    t0 = time.perf_counter()
    with open(log_path, "w+") as log:
        cdp = _Pipe(exe, profile, log)
        try:
            version = cdp.call("Browser.getVersion", timeout=timeout)
            res["browser"] = version.get("product")
            target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.call(f"{domain}.enable", session=sid)
            cdp.call("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                          "uploadThroughput": -1}, session=sid)
            cdp.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                            "mobile": False}, session=sid)
            nav = cdp.call("Page.navigate", {"url": url}, session=sid)
            if nav.get("errorText"):
                res["log_errors"].append(f"navigation: {nav['errorText']}")
            loaded, deadline, settle = False, time.monotonic() + timeout, None
            while True:  # events until the load event, then half a second more for late console messages
                wait = (settle if loaded else deadline) - time.monotonic()
                if wait <= 0:
                    break
                try:
                    ev = cdp.events.get(timeout=wait)
                except queue.Empty:
                    break
                if ev.get("sessionId") != sid:
                    continue
                m, p = ev.get("method"), ev.get("params", {})
                if m == "Page.loadEventFired":
                    loaded, settle = True, time.monotonic() + 0.5
                elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                    res["console_errors"].append(" ".join(str(a.get("value", a.get("description", "")))
                                                          for a in p.get("args", [])))
                elif m == "Runtime.exceptionThrown":
                    d = p.get("exceptionDetails", {})
                    res["exceptions"].append(d.get("exception", {}).get("description") or d.get("text"))
                elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                    e = p["entry"]
                    res["log_errors"].append(f"{e.get('source')}: {e.get('text')} {e.get('url') or ''}".strip())
                elif m == "Network.requestWillBeSent":
                    u = p.get("request", {}).get("url", "")
                    res["requests"].append(u if not u.startswith("data:") else u[:48] + "...")
                elif m == "Network.loadingFailed" and not p.get("canceled"):
                    res["failed_loads"].append(f"{p.get('type')}: {p.get('errorText')}")
            res["loaded"] = loaded
            if not loaded:
                res["log_errors"].append(f"no load event within {timeout:.0f} s")
            ev = cdp.call("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True}, session=sid)
            res["images"] = ev.get("result", {}).get("value") or []
            title = cdp.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=sid)
            res["title"] = title.get("result", {}).get("value")
            metrics = cdp.call("Page.getLayoutMetrics", session=sid)
            size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
            res["page_width"], res["page_height"] = int(size.get("width", width)), int(size.get("height", 900))
            if screenshot is not None:
                shot = cdp.call("Page.captureScreenshot", {
                    "format": "png", "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": res["page_width"], "height": res["page_height"], "scale": 1}},
                    session=sid, timeout=timeout)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
                res["screenshot"] = str(screenshot)
        finally:
            cdp.close()
            log.seek(0)
            # chromium's own log: console lines of the page (the protocol events above are the check)
            res["chromium_console_lines"] = [l.strip()[:300] for l in log if "CONSOLE" in l][:20]
    shutil.rmtree(profile, ignore_errors=True)
    log_path.unlink(missing_ok=True)
    res["external_requests"] = [u for u in res["requests"] if u != url and not u.startswith("data:")]
    res["broken_images"] = [i for i in res["images"] if not i.get("complete") or not i.get("naturalWidth")]
    res["seconds"] = round(time.perf_counter() - t0, 2)
    res["ok"] = bool(res["loaded"] and res["images"] and not (res["console_errors"] or res["exceptions"] or
                                                              res["log_errors"] or res["external_requests"] or
                                                              res["failed_loads"] or res["broken_images"]))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fpga_flow.report.browser", description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("--screenshot", metavar="PNG", help="save a full-page screenshot here")
    ap.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels (default 1280)")
    ap.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = ap.parse_args(argv)
    try:
        res = check(args.html, args.screenshot, width=args.width)
    except FlowError as e:
        print(f"fpga-flow: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{res['page']}: {res.get('browser')}, {len(res['images'])} images "
              f"({len(res['broken_images'])} broken), {len(res['console_errors'])} console errors, "
              f"{len(res['exceptions'])} exceptions, {len(res['log_errors'])} log errors, "
              f"{len(res['external_requests'])} external requests, page {res['page_width']}x{res['page_height']} px"
              + (f"; screenshot {res['screenshot']}" if res.get("screenshot") else "") + f"; ok={res['ok']}")
        for k in ("console_errors", "exceptions", "log_errors", "external_requests", "failed_loads", "broken_images"):
            for item in res[k][:5]:
                print(f"  {k}: {item}")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
