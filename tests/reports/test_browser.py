"""The written report in real headless Chromium: loads clean, fetches nothing, runs
nothing it should not, looks right at desktop and phone widths.

Screenshots go to ``test-artifacts/report/`` (gitignored) for a person to look at.
Skipped, saying why, without Chromium or the ``playwright`` package.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from onion.core.natural import natural_key
from onion.reports.names import host_filename
from onion.reports.svg import fmt
from onion.storage import duck as store
from tests.reports.conftest import DOWN_HOST, DOWN_LOAD, EVIL, EVIL_HOST, IMG

CHROMIUM = os.environ.get("ONION_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report"
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed "
    "(pip install playwright; no browser download needed, Debian's chromium is used)")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ONION_CHROMIUM)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, url: str, width: int = 1440, height: int = 900):
    """A page at ``url`` with every console message, page error and request recorded."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    seen: dict[str, list[str]] = {"console": [], "errors": [], "requests": []}
    page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(100)
    return ctx, page, seen


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _own(site: Path, url: str) -> list[str]:
    """What a page of the folder may fetch: itself, then the style and the script
    that every page of the folder shares (nothing from anywhere else)."""
    return sorted([url, (site / "style.css").as_uri(), (site / "onion.js").as_uri()])


def test_every_page_loads_clean_and_fetches_nothing(browser, site):
    pages = _pages(site)
    assert len(pages) >= 9
    for path in pages:
        url = path.as_uri()
        ctx, page, seen = _open(browser, url)
        try:
            assert seen["errors"] == [], path
            assert [m for m in seen["console"] if not m.startswith(("log", "debug"))] == [], path
            assert sorted(seen["requests"]) == _own(site, url), (path, seen["requests"])
            assert page.evaluate("window.__pwned") is None, path
            # Links stay inside the folder.
            # (An SVG link's href is an SVGAnimatedString: resolved here as HTML's are.)
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => "
                                                  "typeof e.href === 'string' ? e.href : "
                                                  "new URL(e.href.baseVal, location.href).href)"):
                assert href.startswith(site.as_uri()) or href.startswith(url + "#"), href
        finally:
            ctx.close()


def test_injection_is_inert_and_shown_literally(browser, site):
    page_path = site / "hosts" / host_filename(EVIL_HOST)
    for path in (site / "index.html", page_path, site / "changes.html", site / "alerts.html",
                 site / "gpus.html"):
        ctx, page, seen = _open(browser, path.as_uri())
        try:
            assert page.evaluate("window.__pwned") is None, path
            assert page.locator("img").count() == 0, path
            assert page.locator("script").count() == 1, path          # ours alone
            text = page.inner_text("body")
            assert "<script>window.__pwned='script'</script>" in text, path
            assert "{{ 7*7 }}" in text, path
            assert sorted(seen["requests"]) == _own(site, path.as_uri()), path
        finally:
            ctx.close()
    ctx, page, _ = _open(browser, page_path.as_uri())
    try:
        body = page.inner_text("body")
        for literal in (f"/mnt/{EVIL}", f"mod{EVIL}", "chip<script>", "/bin/sh -c '" + EVIL):
            assert literal in body, literal
        assert EVIL_HOST in page.inner_text("h1")
    finally:
        ctx.close()


def test_sorting_works_and_page_works_without_javascript(browser, site):
    ctx, page, _ = _open(browser, (site / "index.html").as_uri())
    try:
        first = page.locator("table.fleet tbody tr td:first-child a").first.inner_text()
        page.locator("table.fleet thead th").first.locator("button").click()
        names = page.locator("table.fleet tbody tr td:first-child a").all_inner_texts()
        assert names == sorted(names, key=natural_key)  # as the page orders them
        assert first in (DOWN_HOST, EVIL_HOST)               # problems first before sorting
    finally:
        ctx.close()
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        page.goto((site / "index.html").as_uri())
        assert page.locator("table.fleet tbody tr").count() >= 6
        assert page.locator("#filter").is_hidden()
    finally:
        ctx.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_screenshots(browser, site, size):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    shots = {"overview": site / "index.html",
             "host": site / "hosts" / host_filename("node001"),
             "evil-host": site / "hosts" / host_filename(EVIL_HOST),
             "changes": site / "changes.html", "alerts": site / "alerts.html",
             "gpus": site / "gpus.html", "down-host": site / "hosts" / host_filename(DOWN_HOST)}
    for name, path in shots.items():
        ctx, page, seen = _open(browser, path.as_uri(), width, height)
        try:
            # Nothing wider than the screen but what scrolls inside its own box.
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width + 1, (name, size, overflow)
            page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
            assert seen["errors"] == []
        finally:
            ctx.close()


def test_no_page_scrolls_sideways_at_1400_px(browser, site):
    for path in _pages(site):
        ctx, page, _ = _open(browser, path.as_uri(), 1400, 900)
        try:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1400, (path.name, width)
        finally:
            ctx.close()


def test_a_down_hosts_stale_values_are_marked(browser, site):
    ctx, page, _ = _open(browser, (site / "index.html").as_uri())
    try:
        row = page.locator(f'table.fleet tr[data-search^="{DOWN_HOST} "]')
        stale = row.locator("td.stale")
        assert stale.count() == 2                                   # load and memory
        assert all("as of " in t for t in stale.all_inner_texts())
        assert f"{DOWN_LOAD + 2:.2f}" in stale.first.inner_text()   # its newest, greyed
        colour = stale.first.evaluate("e => getComputedStyle(e).color")
        plain = row.locator("td").first.evaluate("e => getComputedStyle(e).color")
        assert colour != plain
    finally:
        ctx.close()
    ctx, page, _ = _open(browser, (site / "hosts" / host_filename(DOWN_HOST)).as_uri())
    try:
        legend = page.locator("figure.chart", has_text="Load average").locator(".legend .stale")
        assert legend.count() >= 1
        assert legend.first.inner_text().startswith(f"last {DOWN_LOAD + 2:.2f}, as of ")
    finally:
        ctx.close()


def test_chart_now_is_the_latest_sample_in_the_database(browser, site, alert_db):
    with store.reading(alert_db) as con:
        load, mem = con.execute(
            "SELECT c.load_1m, 100 * (1 - m.available_bytes / m.total_bytes) FROM cpu c "
            "JOIN memory m USING (host, ts) WHERE host = 'node001' "
            "ORDER BY ts DESC LIMIT 1").fetchone()
    ctx, page, _ = _open(browser, (site / "hosts" / host_filename("node001")).as_uri())
    try:
        def now(title: str) -> str:
            return page.locator("figure.chart", has_text=title).locator(
                ".legend .now").first.inner_text()
        assert now("Load average") == f"now {fmt(load, '')}"
        assert now("Memory used") == f"now {fmt(mem, '%')}"
    finally:
        ctx.close()


def test_heatmap_has_a_row_per_host_in_natural_order_and_sparklines(browser, site):
    ctx, page, _ = _open(browser, (site / "index.html").as_uri())
    try:
        hosts = page.locator("table.fleet tbody tr td:first-child a.host").all_inner_texts()
        heat = page.locator("svg.heatmap").first
        labels = heat.locator("text.hl title").all_text_contents()
        assert labels == sorted(hosts, key=natural_key) and len(labels) == len(hosts)
        assert heat.get_attribute("data-rows") == str(len(hosts))
        assert heat.bounding_box()["height"] > 10 * len(hosts)   # rows a person can see
        sparks = page.locator("table.fleet svg.spark")
        assert sparks.count() >= len(hosts)                     # CPU and memory each
        assert page.locator('a[href="gpus.html"]').count() >= 2     # nav and the summary
    finally:
        ctx.close()
    ctx, page, _ = _open(browser, (site / "gpus.html").as_uri())
    try:
        rows = page.locator("table.gpus tbody tr")
        assert rows.count() >= 5                       # node000's four and the hostile one
        assert f"gpu{IMG}" in page.inner_text("table.gpus")
    finally:
        ctx.close()


def test_the_live_page_swaps_in_only_what_changed(browser, alert_db):
    """Served by the daemon, a page asks for itself again (If-None-Match) and replaces
    the sections that changed; the others stay the same DOM nodes. A loopback server
    stands in for the daemon's handler: a 304 while the ETag holds, then a new page."""
    import http.server
    import threading

    import onion.reports.render as render

    with store.reading(alert_db) as con:
        first = render.Report(con, live=True, refresh_s=0.2).overview()
    assert "connect-src 'self'" in first and first.count("<script>") == 2
    second = first.replace("<h2>Over the window</h2>", "<h2>Over the window, later</h2>")
    assert second != first
    state = {"page": first, "etag": '"1"', "asked": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["asked"].append(self.headers.get("If-None-Match"))
            if self.headers.get("If-None-Match") == state["etag"]:
                self.send_response(304)
                self.send_header("ETag", state["etag"])
                self.end_headers()
                return
            body = state["page"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("ETag", state["etag"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/report/"
    try:
        ctx, page, seen = _open(browser, url)
        try:
            page.evaluate("document.getElementById('hosts').__kept = true")
            page.wait_for_timeout(700)                 # a few 304s
            assert state["asked"].count('"1"') >= 1
            state["page"], state["etag"] = second, '"2"'
            page.wait_for_function("() => document.querySelector('#pictures h2')"
                                   ".textContent.includes('later')", timeout=5000)
            assert page.evaluate("document.getElementById('hosts').__kept") is True
            assert seen["errors"] == []
            assert [m for m in seen["console"] if m.startswith("error")] == []
            assert set(seen["requests"]) == {url}
        finally:
            ctx.close()
    finally:
        server.shutdown()
        server.server_close()
