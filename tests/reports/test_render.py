"""Rendering from a real database: every page, what it shows, the CLI options."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest
from markupsafe import escape

from onion.reports import changes, render
from onion.reports.names import host_filename
from onion.storage import duck as store
from tests.reports.conftest import EVIL, EVIL_HOST, IMG, SCRIPT, onion

_REF = re.compile(r"""(?:\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?|url\(\s*["']?)"""
                  r"""\s*((?:[a-z][a-z0-9+.-]*:)?//[^"'\s)>]*)""", re.IGNORECASE)


def _external_refs(text: str) -> list[str]:
    return _REF.findall(text)


def test_external_refs_are_found():
    assert _external_refs('<img src="https://x.example/a.png">') == ["https://x.example/a.png"]
    assert _external_refs("<a href=//cdn.example/x>") == ["//cdn.example/x"]
    assert _external_refs("body{background:url('http://x.example/b')}") == ["http://x.example/b"]
    assert not _external_refs("<td>curl https://x.example/a.sh</td><a href=\"#top\">")
    assert not _external_refs('<svg xmlns="http://www.w3.org/2000/svg">')


@pytest.fixture
def report(report_db):
    with store.reading(report_db) as con:
        yield render.Report(con, since=dt.timedelta(days=3))


def test_every_page_renders(report):
    pages = dict(report.pages())
    assert {"index.html", "alerts.html", "changes.html"} <= set(pages)
    hosts = [p for p in pages if p.startswith("hosts/")]
    assert len(hosts) == 7          # localhost, 4 synthetic, the hostile one, a down one
    for name, page in pages.items():
        text = page()
        assert text.startswith("<!doctype html>"), name
        # Nothing fetched from outside: no attribute or CSS url() points off the file.
        # (Text such as a process's command line may well contain a URL: that is data.)
        assert not _external_refs(text), name


def test_overview_puts_problems_first(report):
    names = [r.name for r in report.rows]
    ranks = [r.rank for r in report.rows]
    assert ranks == sorted(ranks)
    assert names.index(EVIL_HOST) < names.index("localhost")
    evil = next(r for r in report.rows if r.name == EVIL_HOST)
    assert not evil.up and any("97 % full" in p for p in evil.problems)
    local = next(r for r in report.rows if r.name == "localhost")
    assert local.up and local.facts["ncpu"] and local.polls == 3
    page = report.overview()
    assert "localhost" in page and "rack0" in page


def test_hostile_strings_are_escaped_everywhere(report):
    for name, page in report.pages():
        text = page()
        assert SCRIPT not in text, name
        assert "<img" not in text, name
        assert "49" not in re.findall(r"evil[^<]{0,40}", text), name
    host = report.host(next(r for r in report.rows if r.name == EVIL_HOST))
    assert str(escape(EVIL)) in host
    assert "{{ 7*7 }}" in host                      # shown literally, never evaluated


def test_host_page_shows_history_processes_probes(report):
    row = next(r for r in report.rows if r.name == "node001")
    page = report.host(row)
    for title in ("CPU use", "Load average", "Memory used", "File systems", "Network",
                  "Disk IO", "Temperatures", "Poll timings", "Top by CPU", "Top by memory",
                  "Kernel modules", "Watched files", "Probes", "Recent polls"):
        assert title in page, title
    assert "/scratch/datasets/imagenet" in page      # full command line
    assert page.count("<svg") >= 10
    local = report.host(next(r for r in report.rows if r.name == "localhost"))
    assert "unavailable" in local or "unsupported" in local or "ok" in local


def test_changes_are_found(report_db):
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=3)
    with store.reading(report_db) as con:
        found = changes.load(con, start)
    mods = {(r["host"], r["item"], r["change"]) for r in found["modules"].rows}
    assert ("node001", "mod_19", "appeared") in mods
    assert (EVIL_HOST, f"mod{EVIL}", "appeared") in mods
    assert {r["host"] for r in found["reboots"].rows} >= {"node002", EVIL_HOST}
    files = {(r["host"], r["path"], r["change"]) for r in found["files"].rows}
    assert ("node003", "/etc/passwd", "content") in files
    assert any(r["host"] == EVIL_HOST for r in found["files"].rows)


def test_alerts_page_without_and_with_alert_tables(report, alert_db):
    assert "No alert data" in report.alerts()
    with store.reading(alert_db) as con:
        r = render.Report(con, since=dt.timedelta(days=3))
        page = r.alerts()
        evil = next(x for x in r.rows if x.name == EVIL_HOST)
        assert evil.alerts == [f"fs_full{SCRIPT}"]
    assert "Firing now" in page and "fs_full" in page and "critical" in page
    assert "load_high" in page                      # resolved ones under "other states"
    assert SCRIPT not in page and "<img" not in page


def test_report_command_options(alert_db, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    out = tmp_path / "site"
    custom = tmp_path / "tpl"
    custom.mkdir()
    (custom / "_nav.html").write_text("<nav>CUSTOM NAV</nav>")
    onion("report", "--db", str(alert_db), "--config", str(cfg), "--out", str(out),
          "--since", "1d", "--limit", "node00*", "--templates", str(custom))
    index = (out / "index.html").read_text()
    assert "CUSTOM NAV" in index and "the last 1 d" in index
    pages = sorted(p.name for p in (out / "hosts").iterdir())
    assert pages == sorted(host_filename(f"node00{i}") for i in range(4))
    assert "localhost" not in index
    bad = onion_fails("report", "--db", str(alert_db), "--config", str(cfg), "--since", "soon")
    assert "--since" in bad


def onion_fails(*args: str) -> str:
    from click.testing import CliRunner

    from onion.cli.main import main
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0
    return result.output


def test_hostile_host_page_stays_in_the_folder(site):
    files = [p.relative_to(site) for p in site.rglob("*") if p.is_file()]
    assert all(len(p.parts) <= 2 for p in files)
    assert (site / "hosts" / host_filename(EVIL_HOST)).is_file()
    assert not (Path("/etc") / "passwd.html").exists()


def test_empty_database(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    index = render.write_report(db, tmp_path / "out")
    assert "No host has been polled yet" in index.read_text()
    assert IMG not in index.read_text()


def test_alert_tables_are_for_people(report, alert_db):
    """Rule, host and item, since (relative and absolute), value, what, notified; the rest
    of the row behind a details toggle; no raw column names as headers, no False/0.0."""
    import re

    from onion.reports.render import Report

    with store.reading(alert_db) as con:
        page = Report(con).alerts()
    heads = re.findall(r"<th>([^<]*)</th>", page)
    assert {"Alert", "Host · item", "Since", "Value", "Notified", "When",
            "What happened"} <= set(heads)
    assert not {"pending_since", "last_notified", "held", "firing_since"} & set(heads)
    assert ">False<" not in page and ">0.0<" not in page
    assert "<summary>details</summary>" in page or "Nothing is firing" in page


def test_the_folder_shares_one_style_and_one_script(site):
    """Pages of a written folder name the folder's one style sheet and one script (200
    host pages do not carry 200 copies); a chart's axes are drawn once per page."""
    assert "svg.chart" in (site / "style.css").read_text()
    assert "onionSortables" in (site / "onion.js").read_text()
    for path in site.rglob("*.html"):
        text = path.read_text()
        root = "" if path.parent == site else "../"
        assert f'<link rel="stylesheet" href="{root}style.css">' in text, path
        assert f'<script src="{root}onion.js"></script>' in text, path
        assert "<style>" not in text and "<script>" not in text, path      # none inline
        assert "style-src 'self' 'unsafe-inline'; img-src data:; script-src 'self' " in text
        used = set(re.findall(r'<use href="#([^"]+)"/>', text))
        assert all(f'<g id="{ref}">' in text for ref in used), path
    host = (site / "hosts" / host_filename("node001")).read_text()
    assert host.count("<use ") > host.count('<g id="ax') > 0
