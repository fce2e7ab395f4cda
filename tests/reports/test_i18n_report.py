"""The report in other languages: every text for people is translated, nothing a program
reads changes, and escaping stays.

Under the pseudo-locale ``qps`` each translated string comes out between ``⟦`` and
``⟧``. The rule for a page: walk its text nodes (outside ``<script>`` and ``<style>``;
an SVG's ``<title>`` and ``<text>`` are text nodes; the text around an inline element
such as ``<code>`` is one text) and its attributes for people (``title``,
``aria-label``, ``placeholder``, ``alt``; ``data-label`` and ``data-sort-title``, which
the style sheet and the script show). In each, take out what is between markers, then
every string the database holds (a host name, a group, a mount point, a reason, a
column name: data, shown as it is), the status codes (``core.status``) and the version
(``describe()``). What is left may hold no word (two or more letters) but a unit or
time zone (:data:`UNITS`) and a hash cut short (12 or more hex digits); a text that
ends in ``…`` may be a data string cut short. Numbers, dates and punctuation are no
words.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from onion.core import i18n
from onion.core.status import HostStatus, ProbeStatus
from onion.core.version import describe
from onion.reports import render
from onion.reports.sql import relations
from onion.storage import duck as store
from tests.pseudo import unmarked as _unmarked
from tests.reports.conftest import onion

UNITS = {"UTC", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "Onion"}
PEOPLE_ATTRS = ("title", "aria-label", "placeholder", "alt", "data-label", "data-sort-title")
_MARKED = re.compile(r"⟦[^⟦⟧]*⟧")
_WORD = re.compile(r"[^\W\d_]{2,}")
_HASH = re.compile(r"\b[0-9a-f]{12,}\b")
_TOKEN = re.compile(r"[^\W_]+")


class _Texts(HTMLParser):
    """(where, text) of every text node and attribute for people; the text around an
    inline element (``<code>``, ``<em>``, ``<a>`` …) is one text, as a sentence with
    markup in it is one message."""

    INLINE = ("a", "code", "em", "strong", "b", "i")
    EMPTY = ("meta", "link", "br", "input", "use", "rect", "path", "line", "img", "meter")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self.stack: list[str] = []
        self.run: list[str] = []
        self.run_where = ""

    def _flush(self) -> None:
        text = "".join(self.run)
        if text.strip():
            self.found.append((self.run_where, text))
        self.run = []

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in PEOPLE_ATTRS and value:
                self.found.append((f"<{tag} {name}>", value))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.INLINE:
            self._flush()
        self._attrs(tag, attrs)
        if tag not in self.EMPTY:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.INLINE:
            self._flush()
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("script", "style"):
            return
        if not self.run:
            self.run_where = self.stack[-1] if self.stack else ""
        self.run.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def texts(html: str) -> list[tuple[str, str]]:
    parser = _Texts()
    parser.feed(html)
    parser.close()
    return parser.found


def unmarked(text: str) -> str:
    return _unmarked(text, _MARKED)


class Data:
    """Every string the database holds, found fast by the words in it."""

    def __init__(self, db: Path) -> None:
        # Status codes are shown as the database holds them (the probes' table, the
        # hint that explains two of them).
        values: set[str] = {describe(), *HostStatus, *ProbeStatus}
        with duckdb.connect(str(db), read_only=True) as con:
            cols = con.execute("SELECT table_schema, table_name, column_name, data_type "
                               "FROM information_schema.columns").fetchall()
            for schema, table, col, kind in cols:
                values.add(col)
                src = f'"{schema}"."{table}"'
                if kind == "VARCHAR":
                    sql = f'SELECT DISTINCT "{col}" FROM {src}'
                elif kind == "VARCHAR[]":
                    sql = f'SELECT DISTINCT unnest("{col}") FROM {src}'
                else:
                    continue
                values.update(v for (v,) in con.execute(sql).fetchall() if v)
        self.values = values
        self.by_token: dict[str, list[str]] = {}
        for v in values:
            for token in set(_TOKEN.findall(v)):
                self.by_token.setdefault(token, []).append(v)

    def strip(self, text: str) -> str:
        """``text`` without the data strings in it (each a whole word or more: "ok" is
        not taken out of "look")."""
        if text.strip() in self.values:
            return ""
        found = {v for token in _TOKEN.findall(text) for v in self.by_token.get(token, ())}
        for v in sorted(found, key=len, reverse=True):   # "bad output …" before "error"
            text = _whole(v).sub(" ", text)
        return text

    def cut_short(self, text: str) -> bool:
        head = text.strip().removesuffix("…")
        return text.strip().endswith("…") and any(v.startswith(head) for v in self.values)


@functools.lru_cache(maxsize=4096)
def _whole(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![^\W_]){re.escape(value)}(?![^\W_])")


def leftovers(html: str, data: Data) -> list[tuple[str, str, list[str]]]:
    """(where, text, words) of each text with a word that is neither marked nor data."""
    bad = []
    for where, text in texts(html):
        rest = unmarked(text)
        if not _WORD.search(rest):
            continue
        rest = _HASH.sub(" ", data.strip(rest))
        words = [w for w in _WORD.findall(rest) if w not in UNITS]
        if words and not data.cut_short(text):
            bad.append((where, text, words))
    return bad


@pytest.fixture(autouse=True)
def _english_after() -> Iterator[None]:
    yield
    i18n.use("en")


def rendered(db: Path, lang: str) -> dict[str, str]:
    """Every page of the report (and its script) in ``lang``, as of the newest poll (the
    same moment in every language)."""
    i18n.use(lang)
    try:
        with store.reading(db) as con:
            now = con.execute("SELECT max(ts) FROM polls").fetchone()[0] \
                if "polls" in relations(con) else None
            report = render.Report(con, since=dt.timedelta(days=3), now=now)
            pages = {name: page() for name, page in report.pages()}
        pages["onion.js"] = render.assets()["onion.js"]
        return pages
    finally:
        i18n.use("en")


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory) -> Path:
    """A database with no table at all: every page says what it lacks."""
    db = tmp_path_factory.mktemp("empty") / "onion.duckdb"
    duckdb.connect(str(db)).close()
    return db


@pytest.fixture(scope="module")
def dbs(alert_db: Path, report_db: Path, empty_db: Path) -> dict[str, Path]:
    return {"alerts": alert_db, "no alerts": report_db, "empty": empty_db}


@pytest.fixture(scope="module")
def pseudo(dbs: dict[str, Path]) -> dict[str, dict[str, str]]:
    return {key: rendered(db, i18n.PSEUDO) for key, db in dbs.items()}


@pytest.fixture(scope="module")
def english(alert_db: Path) -> dict[str, str]:
    return rendered(alert_db, "en")


def test_the_rule_sees_an_untranslated_word(alert_db):
    data = Data(alert_db)
    page = ('<p>⟦Fleet⟧ node001 · 97 % · 2026-01-01 12:00 UTC <span title="sort">x</span>'
            '</p><td class="hash">0123456789abcdef</td><p>Left out</p>')
    found = {(where, tuple(words)) for where, _text, words in leftovers(page, data)}
    assert found == {("<span title>", ("sort",)), ("p", ("Left", "out"))}
    assert "node001" in data.values and "parse_error" in data.values


def test_every_text_of_every_page_is_translated_under_the_pseudo_locale(pseudo, dbs):
    assert len(pseudo["alerts"]) == 12 and len(pseudo["empty"]) == 5   # hosts' pages too
    for key, db in dbs.items():
        data = Data(db)
        for name, html in pseudo[key].items():
            if name.endswith(".js"):
                continue
            assert html.startswith("<!doctype html>\n<html lang=\"qps\">"), name
            bad = leftovers(html, data)
            assert not bad, (key, name, bad[:10])


def test_the_script_is_the_same_in_every_language(pseudo, english):
    """Its sort buttons' tooltip comes from the page: one script (one hash, one shared
    ``onion.js``) for every language."""
    assert pseudo["alerts"]["onion.js"] == english["onion.js"]
    assert 'data-sort-title="⟦sort⟧"' in pseudo["alerts"]["index.html"]
    assert 'data-sort-title="sort"' in english["index.html"]


def test_swedish_and_german_page_titles(alert_db):
    want = {"sv": {"index.html": "Onion · flotta", "alerts.html": "Onion · larm",
                   "changes.html": "Onion · ändringar", "gpus.html": "Onion · GPU:er"},
            "de": {"index.html": "Onion · Flotte", "alerts.html": "Onion · Alarme",
                   "changes.html": "Onion · Änderungen", "gpus.html": "Onion · GPUs"}}
    for lang, titles in want.items():
        pages = rendered(alert_db, lang)
        for name, title in titles.items():
            assert f'<html lang="{lang}">' in pages[name]
            assert f"<title>{title}</title>" in pages[name], (lang, name)
        host = next(p for n, p in pages.items() if n.startswith("hosts/"))
        assert "⟦" not in host and "Recent polls" not in host, lang


class _Machine(HTMLParser):
    """What programs read: tags and their attributes, less the ones for people."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, [(k, v) for k, v in attrs
                                 if k not in (*PEOPLE_ATTRS, "data-search", "lang")]))


def machine(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Machine()
    parser.feed(html)
    return parser.found


def test_what_programs_read_is_the_same_in_every_language(pseudo, english):
    """Classes, ids, data- attributes, links, the CSP, the charts' drawing: equal."""
    marked = pseudo["alerts"]
    assert set(marked) == set(english)          # the same file names
    for name, html in english.items():
        if name.endswith(".js"):
            continue
        assert machine(marked[name]) == machine(html), name
        assert '<html lang="en">' in html and "⟦" not in html, name


def test_translations_are_text_not_markup(alert_db, monkeypatch):
    """A catalog's "<b>" shows as "<b>": translated strings are escaped as data is."""
    monkeypatch.setattr(i18n, "_", lambda message: f"<b>{message}</b>")
    with store.reading(alert_db) as con:
        html = render.Report(con, since=dt.timedelta(days=3)).alerts()
    assert "<b>" not in html and "&lt;b&gt;Firing now&lt;/b&gt;" in html


def test_onion_report_writes_the_language_of_lang(alert_db, tmp_path):
    """``onion --lang sv report`` writes Swedish pages; run again in English, every page
    is written again (the language is part of each page's digest)."""
    cfg = tmp_path / "onion.toml"
    cfg.write_text("")
    out = tmp_path / "site"
    args = ["report", "--db", str(alert_db), "--config", str(cfg), "--out", str(out),
            "--since", "3d"]
    onion("--lang", "sv", *args)
    assert i18n.language() == "sv"
    i18n.use("en")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<html lang="sv">' in index and "<title>Onion · flotta</title>" in index
    onion("--lang", "en", *args)
    assert "<title>Onion · fleet</title>" in (out / "index.html").read_text(encoding="utf-8")
    assert all('<html lang="en">' in p.read_text(encoding="utf-8")
               for p in (out / "hosts").glob("*.html"))


_ISO_TIME = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)? UTC\b")
_SV_TIME = re.compile(r"\b\d{1,2} (?:jan\.|feb\.|mars|apr\.|maj|juni|juli|aug\.|sep\.|okt\.|"
                      r"nov\.|dec\.) \d{4} \d\d:\d\d(?::\d\d)? UTC\b")
_DE_TIME = re.compile(r"\b\d\d\.\d\d\.\d{4}, \d\d:\d\d(?::\d\d)? UTC\b")


def test_times_and_numbers_as_each_language_writes_them(alert_db, english):
    """Swedish and German pages write times, sizes and the version's channel as CLDR has
    them (core/formats.py); English keeps ISO 8601 and the point. The same moment, the
    newest poll, heads every page ("Generated …") in every language."""
    from onion.core import formats

    with store.reading(alert_db) as con:
        now = con.execute("SELECT max(ts) FROM polls").fetchone()[0]
    index = english["index.html"]
    host = next(p for n, p in english.items() if n.startswith("hosts/"))
    assert f"Generated {now:%Y-%m-%d %H:%M} UTC" in index
    assert _ISO_TIME.search(host) and not _SV_TIME.search(host) and "\u00a0GiB" not in host
    assert re.search(r"\d\.\d GiB", host)
    for lang, shape, word in (("sv", _SV_TIME, "instabil"), ("de", _DE_TIME, "instabil")):
        pages = rendered(alert_db, lang)
        generated = formats.get(lang).datetime(now)
        assert shape.fullmatch(generated), generated
        assert generated in pages["index.html"], lang
        footer = re.search(r"<footer>(.*?)</footer>", pages["index.html"], re.S)
        assert footer and f"({word})" in footer.group(1), lang
        for name, html in pages.items():
            if name.endswith(".js"):
                continue
            assert not _ISO_TIME.search(html), (lang, name, _ISO_TIME.search(html))
        host = next(p for n, p in pages.items() if n.startswith("hosts/"))
        assert len(shape.findall(host)) >= 2, lang       # last poll, booted, …
        assert re.search(r"\d,\d GiB", host) and not re.search(r"\d\.\d GiB", host), lang


class _SortCells(HTMLParser):
    """The cells of sortable tables that sort by their text (no ``data-v``), with it."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0          # inside how many sortable tables
        self.cell: list[str] | None = None
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and "sortable" in (a.get("class") or "").split():
            self.depth += 1
        elif tag in ("td", "tr", "tbody") and self.cell is not None:
            self.found.append("".join(self.cell).strip())  # an end tag HTML lets out
            self.cell = None
        if tag == "td" and self.depth and "data-v" not in a:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "tr", "tbody", "table") and self.cell is not None:
            self.found.append("".join(self.cell).strip())
            self.cell = None
        if tag == "table" and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_sortable_cells_with_a_localised_number_sort_by_their_value(alert_db):
    """A decimal comma or a group space makes a cell's text no number for the page's
    sort (which falls back to natural text order, right for ``45 °C`` but not for
    ``1 234,5``): every such cell of a sortable table carries its value in ``data-v``."""
    localised = re.compile(r"\d[,.\u00a0\u202f]\d{3}\b|\d,\d")
    for lang in ("sv", "de"):
        for name, html in rendered(alert_db, lang).items():
            if not name.endswith(".html"):
                continue
            cells = _SortCells()
            cells.feed(html)
            # "1 000 B → 2 000 B" is a change, read rather than sorted by size
            bad = [c for c in cells.found if localised.search(c) and "→" not in c]
            assert not bad, (lang, name, bad[:5])
