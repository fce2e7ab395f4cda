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
from tests.reports.conftest import EVIL, EVIL_HOST

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


def test_every_page_loads_clean_and_fetches_nothing(browser, site):
    pages = _pages(site)
    assert len(pages) >= 9
    for path in pages:
        url = path.as_uri()
        ctx, page, seen = _open(browser, url)
        try:
            assert seen["errors"] == [], path
            assert [m for m in seen["console"] if not m.startswith(("log", "debug"))] == [], path
            assert seen["requests"] == [url], (path, seen["requests"])
            assert page.evaluate("window.__pwned") is None, path
            # Links stay inside the folder.
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                assert href.startswith(site.as_uri()) or href.startswith(url + "#"), href
        finally:
            ctx.close()


def test_injection_is_inert_and_shown_literally(browser, site):
    page_path = site / "hosts" / host_filename(EVIL_HOST)
    for path in (site / "index.html", page_path, site / "changes.html", site / "alerts.html"):
        ctx, page, seen = _open(browser, path.as_uri())
        try:
            assert page.evaluate("window.__pwned") is None, path
            assert page.locator("img").count() == 0, path
            assert page.locator("script").count() == 1, path          # ours alone
            text = page.inner_text("body")
            assert "<script>window.__pwned='script'</script>" in text, path
            assert "{{ 7*7 }}" in text, path
            assert seen["requests"] == [path.as_uri()], path
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
        assert first.startswith("evil")                       # problems first before sorting
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
             "changes": site / "changes.html", "alerts": site / "alerts.html"}
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
