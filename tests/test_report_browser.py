"""The HTML report in a real browser: Debian's headless Chromium loads the page from disk.

Checks what a string test cannot: the page's own script ran to the end and counted every
table and chart, no script error fired, and Chromium printed no console message (uncaught
exceptions, ``console.error`` and Content-Security-Policy violations all land there).

Chromium (``--enable-logging=stderr --v=0``) prints every console message of the page, at any
level, as one stderr line::

    [20132:20132:1122/230541.177792:INFO:CONSOLE:4] "Uncaught ReferenceError: f is not
    defined", source: file:///tmp/page.html (4)

(older builds write ``INFO:CONSOLE(4)]``). The level is always INFO, whatever the message's
level, so the report writes nothing to the console and any such line is a failure.

Skipped without a ``chromium``/``chromium-browser`` binary, except under CI, where the
browser must be installed and a missing one fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from leaderboards import report

from test_report import boards_of, expected_charts, fabricate, rich_runs

BROWSERS = ("chromium", "chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
#: One console message of the page, as Chromium logs it to stderr.
CONSOLE = re.compile(r':CONSOLE[:(]\d+\)?\] "(?P<message>.*)", source: (?P<source>.*)$', re.M)


def chromium() -> str:
    """The browser binary; a skip without one, a failure when CI must run this test."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    reason = "no chromium/chromium-browser binary: apt-get install chromium"
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so the browser test must run)")
    pytest.skip(reason)


@dataclass
class Visit:
    """What Chromium left after loading a page: the DOM after scripts ran, and its log."""

    dom: str
    log: str

    @property
    def body(self) -> dict[str, str]:
        """The attributes of <body>, where the page's script writes its verdict."""
        finder = _BodyAttributes()
        finder.feed(self.dom)
        assert finder.attrs is not None, self.dom[:500]
        return finder.attrs

    @property
    def console(self) -> list[str]:
        return [m["message"] for m in CONSOLE.finditer(self.log)]


class _BodyAttributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and self.attrs is None:
            self.attrs = {k: v or "" for k, v in attrs}


def visit(page: Path, *extra: str) -> Visit:
    """Load ``page`` in a fresh headless Chromium profile and dump the rendered DOM."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return Visit(done.stdout, done.stderr)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, int]:
    """The report of a store with failures, hostile names and negative values; its charts."""
    folder = tmp_path_factory.mktemp("browser")
    results = fabricate(folder / "results", rich_runs())
    path = report.write_report(results, folder / "report.html")
    return path, expected_charts(boards_of(results))


def test_report_renders_in_chromium_without_errors(built):
    path, charts = built
    seen = visit(path, "--dump-dom")
    body = seen.body
    assert body.get("data-rendered") == "ok", body
    assert body.get("data-tables") == "3"
    assert body.get("data-charts") == str(charts) == body.get("data-expected-charts")
    assert "data-errors" not in body, body["data-errors"]
    assert seen.console == []
    assert seen.dom.count('<svg class="chart ') == charts  # the DOM, not only the counters


def test_the_checks_catch_a_broken_page(built, tmp_path):
    """The detector must see what it is meant to catch: a script error, console.error, a
    blocked external resource, and a chart that did not render."""
    path, charts = built
    page = path.read_text(encoding="utf-8")
    head, sep, rest = page.partition("<body ")
    body_tag, gt, after = rest.partition(">")
    broken = (
        "<script>console.error('deliberate console error'); noSuchFunction();</script>"
        "<img src='https://example.invalid/pixel.png' alt=''>"
    )
    after = after.replace("<svg class='chart ", "<svg class='not-a-chart ", 1)
    bad = tmp_path / "broken.html"
    bad.write_text(head + sep + body_tag + gt + broken + after, encoding="utf-8")

    seen = visit(bad, "--dump-dom")
    console = "\n".join(seen.console)
    assert "deliberate console error" in console
    assert "Uncaught ReferenceError: noSuchFunction is not defined" in console
    assert "https://example.invalid/pixel.png" in console  # blocked by the page's CSP
    assert "noSuchFunction" in seen.body.get("data-errors", "")
    assert seen.body.get("data-rendered") == "mismatch"
    assert seen.body.get("data-charts") == str(charts - 1)


def test_screenshot(built, tmp_path):
    """A full-width screenshot renders (look at it when changing the charts)."""
    path, _ = built
    shot = tmp_path / "report.png"
    seen = visit(path, f"--screenshot={shot}", "--window-size=1400,2400")
    assert seen.console == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 2400)
    assert len(data) > 50_000  # a blank page compresses to a few kB
