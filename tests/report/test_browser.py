"""report.html and index.html in a real headless Chromium, with the network cut off.

The browser is Debian's ``/usr/bin/chromium`` (``scripts/install-browser.sh``), driven over the
Chrome DevTools Protocol with the ``websockets`` sync client: no Playwright, no downloaded
browser. The tests watch every console message, exception and network request the page makes.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit.csvio import write_csv
from audit.report._history import append_history, render_index
from audit.report._html import render_report

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "no chromium binary: run scripts/install-browser.sh (Debian: apt-get install chromium)",
        allow_module_level=True,
    )
ws_client = pytest.importorskip(
    "websockets.sync.client", reason="needs the websockets package (dev extra)"
)

from tests.support.run_folders import make_run_folder

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    # no way out even if the page tried: every host resolves to nothing, every proxy is dead
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


class Browser:
    """A headless Chromium driven over one DevTools websocket (one page, flat session)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=workdir))
        self.log = (workdir / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.ws = ws_client.connect(self._endpoint(), max_size=None, open_timeout=20)
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")
        self.call(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )

    def _endpoint(self) -> str:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_file.is_file() and len(lines := port_file.read_text().split()) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}; see chromium.log")
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port within 30 s")

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = True
    ) -> dict[str, Any]:
        """Send one DevTools command and return its result; keep events that arrive meanwhile."""
        msg_id = next(self.ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        """Block until ``event`` arrives (kept in ``events``)."""
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(
                json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            )

    def open(self, url: str, javascript: bool = True) -> None:
        """Navigate to ``url`` and wait for its load event, starting with a fresh event log."""
        self.call("Emulation.setScriptExecutionDisabled", {"value": not javascript})
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        time.sleep(0.3)  # let late errors and requests surface, then collect them with a round trip
        self.call("Runtime.evaluate", {"expression": "1"})

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (also with page scripts disabled); return the value."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        """Save a PNG of the page (the whole page, or the viewport)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": min(size["height"], 16000),
                    "scale": 1,
                },
            )
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", params)["data"]))
        return path

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and log errors (CSP violations land here)."""
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
                "warning",
            ):
                out.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in (
                "error",
                "warning",
            ):
                out.append(f"log: {params['entry'].get('text')}")
        return out

    def requests(self) -> list[str]:
        """Every URL the page asked for (the document itself included)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def close(self) -> None:
        """Close the websocket and stop the browser."""
        self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("browser"))
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    for i, (day, p) in enumerate([("01", 0.03), ("08", 0.05), ("15", 0.08)]):
        run = make_run_folder(
            root,
            run_id=f"run-2025-03-{day}",
            seed=i,
            p_refuse=p,
            finished_at=f"2025-03-{day}T10:00:00+00:00",
        )
        render_report(run)
        append_history(run, root)
    render_index(root)
    return root


def _assert_clean(browser: Browser, url: str) -> None:
    assert browser.problems() == []
    assert browser.requests() == [url], "the page requested something besides itself"


def test_report_renders_without_errors_or_requests(
    browser: Browser, reports: Path, tmp_path: Path
) -> None:
    url = (reports / "run-2025-03-15" / "report.html").as_uri()
    browser.open(url)
    _assert_clean(browser, url)
    charts = browser.evaluate("""[...document.querySelectorAll('svg.chart')].map(s => {
        const r = s.getBoundingClientRect();
        return [r.width, r.height, s.querySelectorAll('circle').length,
                s.querySelectorAll('text').length]; })""")
    assert len(charts) >= 8
    assert all(w > 300 and h > 80 and dots > 0 and texts > 5 for w, h, dots, texts in charts), (
        charts
    )
    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 50_000


def test_hostile_answers_execute_nothing(browser: Browser, reports: Path) -> None:
    url = (reports / "run-2025-03-15" / "report.html").as_uri()
    browser.open(url)
    browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.title").startswith("Refusal audit")
    assert (
        browser.evaluate(
            "document.querySelectorAll('img, iframe, object, embed, link, base').length"
        )
        == 0
    )
    assert browser.evaluate("document.scripts.length") == 1
    assert (
        browser.evaluate(
            "[...document.querySelectorAll('a')].filter(a => a.protocol === 'javascript:').length"
        )
        == 0
    )
    assert (
        browser.evaluate(
            "[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
            ".some(a => a.name.startsWith('on'))).length"
        )
        == 0
    )
    text = browser.evaluate("document.body.innerText")
    assert (
        "<script>window.__pwned = 1" in text and '<img src=x onerror="window.__pwned = 2">' in text
    )
    assert 'href="javascript:window.__pwned = 3"' in text
    _assert_clean(browser, url)


def test_inline_script_runs_under_the_csp_and_filters_topics(
    browser: Browser, reports: Path
) -> None:
    url = (reports / "run-2025-03-15" / "report.html").as_uri()
    browser.open(url)
    assert (
        browser.evaluate("document.getElementById('pair-filter-box').hidden") is False
    )  # the hash matched
    total = browser.evaluate("document.querySelectorAll('details.topic').length")
    shown = browser.evaluate("""(() => { const i = document.getElementById('pair-filter');
        i.value = 'gun'; i.dispatchEvent(new Event('input'));
        return [...document.querySelectorAll('details.topic')]
            .filter(d => !d.hidden).length; })()""")
    assert total > 1 and shown == 1
    _assert_clean(browser, url)


def test_report_is_readable_without_javascript(browser: Browser, reports: Path) -> None:
    url = (reports / "run-2025-03-15" / "report.html").as_uri()
    browser.open(url, javascript=False)
    try:
        assert browser.evaluate("document.getElementById('pair-filter-box').hidden") is True
        assert browser.evaluate("document.querySelectorAll('details.topic').length") > 1
        assert browser.evaluate("document.querySelectorAll('svg.chart circle').length") > 20
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", {"value": False})


def test_index_renders_trends_without_errors_or_requests(
    browser: Browser, reports: Path, tmp_path: Path
) -> None:
    url = (reports / "index.html").as_uri()
    browser.open(url)
    _assert_clean(browser, url)
    assert browser.evaluate("document.scripts.length") == 0
    assert (
        browser.evaluate("document.querySelectorAll('svg.chart polygon').length") >= 6
    )  # CI bands
    assert browser.evaluate("document.querySelectorAll('a[href$=\"report.html\"]').length") == 6
    browser.screenshot(tmp_path / "index.png")


def test_harness_sees_violations_and_requests(browser: Browser, tmp_path: Path) -> None:
    """The checks above would notice a blocked script and an outgoing request."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!doctype html><meta http-equiv='Content-Security-Policy' content=\"script-src 'none'\">"
        "<script>console.log(1)</script><p>x</p>",
        encoding="utf-8",
    )
    browser.open(page.as_uri())
    assert browser.problems(), "a CSP violation must show up as an error"
    page.write_text("<!doctype html><img src='http://example.invalid/x.png'>", encoding="utf-8")
    browser.open(page.as_uri())
    assert "http://example.invalid/x.png" in browser.requests()


def test_report_and_index_do_not_overflow_at_1400_px(
    browser: Browser, tmp_path: Path
) -> None:
    """Issue 18: wide tables (All metrics, the history's runs) scroll inside themselves; the page
    itself never gets wider than a 1,400 px window."""
    root = tmp_path / "reports"
    run = make_run_folder(root, hostile=False)
    summary = pd.read_csv(run / "summary.csv", keep_default_na=False)
    for i in range(6):  # extra columns of long, unbreakable values (readers keep unknown columns)
        summary[f"an_extra_column_with_a_long_name_{i}"] = "x" * 60
    write_csv(summary, run / "summary.csv")
    render_report(run)
    append_history(run, root)
    render_index(root)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        for page in (run / "report.html", root / "index.html"):
            browser.open(page.as_uri())
            width = browser.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 1400, f"{page.name} is {width} px wide at a 1,400 px window"
        browser.open((run / "report.html").as_uri())
        assert browser.evaluate(
            "(() => { const t = document.querySelector('#all-metrics table');"
            " return t.scrollWidth > t.clientWidth; })()"
        ), "the All metrics table should scroll inside itself"
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")
