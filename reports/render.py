"""Render the HTML report from the database: a library call (the daemon serves it too).

    pages = Report(con, since=dt.timedelta(days=7)).pages()   # {"index.html": "<!doctype…"}
    write_report(db_path, out_dir)                            # the same, written to a folder

jinja2 with autoescape on; a user template folder, when given, comes first in the
loader chain, so any template (``base.html``, a partial, ``style.css``) can be replaced.
Charts are inline SVG; the one small script (table sorting and filtering; pages work
without it) and the style are either inline in each page (``Report``'s default: a page
that stands alone) or, in a written folder and as the daemon serves it (``shared``),
two files beside the pages that all of them name (:data:`ASSETS`): 200 host pages
do not carry 200 copies. Either way a Content-Security-Policy forbids every fetch but
those (``'self'``; an inline script is allowed by its hash), so the folder works
offline and a string that slipped past escaping still could not run or phone home.
(Served live by the daemon, a page has a second, inline script, allowed by hash too,
that may fetch the same page from the same origin: ``connect-src 'self'``.)

Texts for people are in the language in use (:mod:`onion.core.i18n`: ``onion --lang``,
``ONION_LANG``, ``LANG``; the daemon's own for its pages), and ``<html lang>`` says
which; a translation is text, escaped as data is. What programs read (classes, ids, the
``data-`` values the script sorts and filters by, file names, the script) is the same in
every language.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from onion.core import i18n
from onion.core.files import cache_dir
from onion.core.version import __version__, describe
from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports import fleet, fleetdata, fleetpics, hostpage, svg
from onion.reports import pollers as pollers_mod
from onion.reports.filters import age, duration, epoch, human_bytes, number, timestamp
from onion.reports.fleetdata import FleetData
from onion.reports.sql import Con, relations
from onion.storage import duck as store

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_SINCE = dt.timedelta(days=7)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_SPACE = re.compile(r"\s+")
HOST_DIR = "hosts"
# Host pages read at a time beside the rendering (Report.read_ahead); each chunk reads
# every table again, so a few big ones: 200 hosts are two.
HOST_CHUNK = 100
# The files every page of a written folder (or of the daemon) names: name -> type.
ASSETS = {"style.css": "text/css", "onion.js": "text/javascript"}


def _gettext(message: str) -> Markup:
    """A translation as text: escaped as data is, so no catalog can add markup (jinja2
    takes what this returns as markup, and escapes only the values put into it)."""
    return escape(i18n._(message))


def _ngettext(singular: str, plural: str, n: int) -> Markup:
    return escape(i18n.ngettext(singular, plural, n))


def _template_gettext() -> tuple[Callable[..., Markup], Callable[..., Markup]]:
    """``gettext`` and ``ngettext`` for the templates, as jinja2's new-style ones behave
    (the translation escaped, then always ``% variables``, so ``%%`` is ``%``), but plain
    functions: jinja2's go through three ``context.call`` layers, and a 200-host report
    asks for some 35,000 texts. A text without variables is looked up once per language."""
    memo: dict[tuple[str, str], Markup] = {}

    def gettext(message: str, /, **variables: Any) -> Markup:
        if variables:
            return _gettext(message) % variables
        key = (i18n.language(), message)
        found = memo.get(key)
        if found is None:
            found = memo[key] = _gettext(message) % {}
        return found

    def ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> Markup:
        variables.setdefault("num", n)
        return _ngettext(singular, plural, n) % variables

    return gettext, ngettext


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The templates compiled by an earlier run (``$XDG_CACHE_HOME/onion/templates``, a
    0700 folder): compiling them is 0.3 s of CPU, every run of a cron report. jinja2 keys
    each by its file and checks its source and jinja2's and Python's versions; a file
    written there is 0600. None (compile every time) where that folder cannot be made."""
    folder = cache_dir("templates")
    return None if folder is None else jinja2.FileSystemBytecodeCache(str(folder))


def environment(user_templates: Path | None = None) -> jinja2.Environment:
    """The templates' environment; their texts for people are in the language in use
    (:mod:`onion.core.i18n`, new-style gettext: ``_("%(n)s hosts", n=…)``)."""
    loaders: list[jinja2.BaseLoader] = []
    if user_templates:
        loaders.append(jinja2.FileSystemLoader(str(user_templates)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, extensions=["jinja2.ext.i18n"],
                             bytecode_cache=_bytecode_cache())
    # The extension stays for {% trans %} (new-style, as the callables below expect).
    gettext, ngettext = _template_gettext()
    env.newstyle_gettext = True  # type: ignore[attr-defined]  # added by the extension
    env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)
    env.globals["onion_version"] = describe()  # the footer's "Onion 0.1.1 (unstable)"
    env.globals["palette"] = svg.PALETTE
    env.globals["lang"] = i18n.language()      # <html lang=…>
    env.globals["change_text"] = changes_mod.change_text
    env.globals["no_group"] = fleet.no_group
    # A chart is drawn in Python (the same markup as _chart.html) unless the user's
    # templates have their own _chart.html, which host.html then includes.
    env.globals["chart_figure"] = None if user_templates and (
        user_templates / "_chart.html").is_file() else svg.figure
    env.filters.update(bytes=human_bytes, ts=timestamp, duration=duration, num=number,
                       svg=svg.draw, epoch=epoch)
    return env


def _style(env: jinja2.Environment) -> str:
    """The style sheet, comments and runs of blanks dropped."""
    style = _CSS_COMMENT.sub("", env.get_template("style.css").render())
    return _CSS_SPACE.sub(" ", style).strip()


def assets(user_templates: Path | None = None) -> dict[str, str]:
    """The shared files' text (:data:`ASSETS`), as the pages of ``shared`` name them."""
    env = environment(user_templates)
    return {"style.css": _style(env),
            "onion.js": env.get_template("_script.js.html").render()}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Report:
    """The pages of one report: a fixed window, host selection and template set.

    ``live``: the page is served by the daemon, which answers ``If-None-Match``; a
    second small script then asks for the page again now and then and swaps in the
    parts that changed (charts that did not change stay as they are). A written folder
    never has it: its pages fetch nothing.

    ``shared``: the pages name ``style.css`` and ``onion.js`` at the folder's top
    (:func:`assets`) instead of carrying them inline.
    """

    def __init__(self, con: Con, since: dt.timedelta = DEFAULT_SINCE,
                 hosts: set[str] | None = None, user_templates: Path | None = None,
                 now: dt.datetime | None = None, always_show: Sequence[str] = (),
                 live: bool = False, refresh_s: float = 30.0, shared: bool = False) -> None:
        self.con = con
        self.hosts = hosts
        self.end = now or _utcnow()
        self.start = self.end - since
        self.since = since
        self.always_show = list(always_show)
        self.user_templates = user_templates
        self.env = environment(user_templates)
        self.env.globals["ago"] = lambda v: age(v, self.end)
        scripts = [self.env.get_template("_script.js.html").render()]
        if live:
            scripts.append(self.env.get_template("_live.js.html").render())
        hashes = " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(x.encode()).digest()).decode() + "'"
            for x in scripts)
        self.env.globals.update(
            shared=shared,
            style_src=Markup(  # noqa: S704 - constants
                "'self' 'unsafe-inline'" if shared else "'unsafe-inline'"),
            style=Markup(_style(self.env)),  # noqa: S704 - our template
            script=Markup(scripts[0]),  # noqa: S704 - our template, not data; allowed by hash
            live_script=Markup(scripts[1]) if live else "",  # noqa: S704 - as above
            # A user's base.html from before the shared files inlines the script: its
            # hash stays allowed.
            script_hashes=Markup(("'self' " if shared else "") + hashes),  # noqa: S704
            live=live,
            # A user's base.html from before the live report names this one.
            script_hash=hashes.split(" ")[0].strip("'"),
            refresh_ms=int(refresh_s * 1000),
            generated=self.end, window_start=self.start,
            window=duration(since.total_seconds()), host_dir=HOST_DIR)
        self._rows: list[fleet.FleetRow] | None = None
        self._all: FleetData | None = None
        self._pages: FleetData | None = None
        self._changes: changes_mod.Raw | None = None
        self._changes_soon: Future[changes_mod.Raw] | None = None   # read_ahead's
        self._runs_soon: Future[fleetdata.Runs] | None = None
        self._pics_soon: Future[fleetpics.Pictures] | None = None
        self.rels = relations(con)

    @property
    def rows(self) -> list[fleet.FleetRow]:
        if self._rows is None:
            self._rows = fleet.load(self.con, self.start, self.hosts, self.rels)
        return self._rows

    @property
    def data(self) -> FleetData:
        """The fleet's newest rows and windows (the overview and the GPU page)."""
        if self._all is None:
            self._all = FleetData(self.con, self.rels, self.start, self.end,
                                  [r.name for r in self.rows],
                                  runs=self._runs_soon.result() if self._runs_soon else None)
        return self._all

    def prepare(self, names: Sequence[str]) -> None:
        """Read the series of these hosts' pages at once (a query per table for all)."""
        changes = self.changes_raw() if len(names) > 1 else None
        if self._all is not None and set(names) == set(self._all.hosts):
            # Every host's page: the overview's reads already hold all of it.
            self._pages = self._all.with_changes(changes)
            return
        self._pages = FleetData(self.con, self.rels, self.start, self.end, names, changes)

    def changes_raw(self) -> changes_mod.Raw:
        """The window's changes of every host: the changes page and the host pages
        share one pass."""
        if self._changes is None:
            self._changes = self._changes_soon.result() if self._changes_soon is not None \
                else changes_mod.raw(self.con, self.start, rels=self.rels)
        return self._changes

    def read_ahead(self, rows: Sequence[fleet.FleetRow], pool: Executor,
                   cursor: Callable[[], Con], size: int | None = None
                   ) -> list[tuple[list[fleet.FleetRow], Future[FleetData]]]:
        """Read what these hosts' pages show on ``pool``'s thread, ``size`` hosts at a
        time (a query per table and chunk), while this thread renders: DuckDB runs a
        query without the GIL, so the other core reads the next chunk while this one
        draws the pages of the last. Each chunk has a cursor of its own (``cursor()``,
        called here), used by one thread at a time. The changes are read first: the
        changes page and every chunk share them; the overview's pictures come before
        them."""
        runs_cur, pics_cur, changes_cur = cursor(), cursor(), cursor()
        runs = pool.submit(fleetdata.probe_runs, runs_cur, self.rels, [r.name for r in rows])
        if {r.name for r in rows} == {r.name for r in self.rows}:
            self._runs_soon = runs       # the overview's reads need the same
        self._pics_soon = pool.submit(self._pictures, pics_cur)
        self._changes_soon = pool.submit(changes_mod.raw, changes_cur, self.start,
                                         rels=self.rels)
        out = []
        size = size or HOST_CHUNK
        for i in range(0, len(rows), size):
            chunk = list(rows[i:i + size])
            out.append((chunk, pool.submit(self._read_chunk, cursor(), chunk, runs)))
        return out

    def _read_chunk(self, con: Con, rows: list[fleet.FleetRow],
                    runs: Future[fleetdata.Runs]) -> FleetData:
        fd = FleetData(con, self.rels, self.start, self.end, [r.name for r in rows],
                       self.changes_raw() if self._changes_soon is not None else None,
                       runs=runs.result())
        # A page asks every query of its chunk (each for all the chunk's hosts): building
        # the first one reads everything the others need.
        hostpage.build(fd, rows[0], self.always_show)
        return fd

    def _render(self, template: str, root: str, **ctx: Any) -> str:
        return self.env.get_template(template).render(root=root, **ctx)

    def pictures(self) -> fleetpics.Pictures:
        if self._pics_soon is not None:
            return self._pics_soon.result()
        return fleetpics.load(self.con, self.rels, self.rows, self.data.windows,
                              self.start, self.end)

    def _pictures(self, con: Con) -> fleetpics.Pictures:
        """:meth:`pictures` on a cursor of its own (read_ahead's thread)."""
        ws = FleetData(con, self.rels, self.start, self.end, [r.name for r in self.rows]).windows
        return fleetpics.load(con, self.rels, self.rows, ws, self.start, self.end)

    def overview(self) -> str:
        rows = self.rows
        last = self.con.execute("SELECT max(finished_at) FROM runs").fetchone() \
            if "runs" in self.rels else None
        return self._render("index.html", "", page="fleet", hosts=rows,
                            groups=fleet.groups(rows), last_run=last[0] if last else None,
                            pollers=pollers_mod.load(self.con, self.start, self.rels),
                            pics=self.pictures())

    def host(self, row: fleet.FleetRow, con: Con | None = None,
             fd: FleetData | None = None) -> str:
        if fd is None:
            fd = self._pages if self._pages is not None and row.name in self._pages.windows \
                else FleetData(con or self.con, self.rels, self.start, self.end, [row.name])
        data = hostpage.build(fd, row, self.always_show)
        return self._render("host.html", "../", page="host", h=data, row=row,
                            axes=svg.Axes())

    def alerts(self) -> str:
        data = alerts_mod.load(self.con, self.start, self.hosts, rels=self.rels)
        pages = {r.name: r.page for r in self.rows}
        return self._render("alerts.html", "", page="alerts", a=data, pages=pages)

    def changes(self) -> str:
        data = changes_mod.sections(self.changes_raw(), self.hosts)
        pages = {r.name: r.page for r in self.rows}
        return self._render("changes.html", "", page="changes", c=data, pages=pages)

    def gpus(self) -> str:
        return self._render("gpus.html", "", page="gpus",
                            g=fleetpics.gpus(self.data, self.rows))

    def pages(self) -> Iterator[tuple[str, Callable[[], str]]]:
        """(relative path, renderer) for every page, the overview first."""
        yield from self.fleet_pages()
        for row in self.rows:
            yield f"{HOST_DIR}/{row.page}", (lambda r=row: self.host(r))

    def fleet_pages(self) -> list[tuple[str, Callable[[], str]]]:
        return [("index.html", self.overview), ("alerts.html", self.alerts),
                ("changes.html", self.changes), ("gpus.html", self.gpus)]

    def digests(self) -> dict[str, str]:
        """page -> a digest of what it shows: a page whose digest did not change since
        the last run need not be written again.

        A host page changes with the host's polls (its ``hosts`` row says when it was
        last polled and how that went), a fleet page with any host's, or with alerts;
        all of them with the window, the settings, the templates, the language and Onion's
        version.
        """
        common = [__version__, i18n.language(), _template_stamp(TEMPLATES),
                  self.since.total_seconds(),
                  sorted(self.hosts or ()), self.always_show,
                  _template_stamp(self.user_templates)]
        out = {}
        for r in self.rows:
            out[f"{HOST_DIR}/{r.page}"] = _digest([*common, r.name, r.status, r.reason,
                                                   r.last_seen, r.last_ok, r.os, r.groups])
        fleet_inputs = [*common, sorted(out.items()), _alert_stamp(self.con, self.rels)]
        for name, _ in self.fleet_pages():
            out[name] = _digest([*fleet_inputs, name])
        return out


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def _template_stamp(folder: Path | None) -> list[Any]:
    if folder is None:
        return []
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns, p.stat().st_size)
                  for p in folder.rglob("*") if p.is_file())


def _alert_stamp(con: Con, rels: set[str]) -> list[Any]:
    """What the alert tables hold now, in a few numbers and a hash (they are small)."""
    out: list[Any] = []
    if "alerts" in rels:
        out.append(hashlib.sha256(repr(con.execute(
            "SELECT * FROM alerts ORDER BY ALL").fetchall()).encode()).hexdigest())
    if "alert_events" in rels:
        out.append(con.execute("SELECT count(*) FROM alert_events").fetchone())
    if "received_batches" in rels:
        out.append(con.execute("SELECT max(received_at) FROM received_batches").fetchone())
    return out


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)   # a reader (a web server) never sees half a page


DIGESTS = ".onion-report.json"


def _old_digests(out: Path) -> dict[str, str]:
    try:
        found = json.loads((out / DIGESTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found.get("pages", {}) if isinstance(found, dict) else {}


def write_report(db: Path, out: Path, user_templates: Path | None = None,
                 since: dt.timedelta = DEFAULT_SINCE, hosts: set[str] | None = None,
                 now: dt.datetime | None = None, always_show: Sequence[str] = (),
                 force: bool = False) -> Path:
    """Write the pages under ``out`` whose inputs changed since the last run (all of
    them with ``force``), and the files they share (:data:`ASSETS`) where those
    differ; returns the overview's path.

    Each page's digest (:meth:`Report.digests`) is kept in ``out/.onion-report.json``:
    a run with no new poll writes nothing, a poll of one host rewrites that host's page
    and the fleet pages. The series of the pages to write are read at once, a query per
    table for all of them.
    """
    with store.reading(db) as con:
        write_pages(con, out, user_templates, since, hosts, now, always_show, force)
    return out / "index.html"


def write_pages(con: Con, out: Path, user_templates: Path | None = None,
                since: dt.timedelta = DEFAULT_SINCE, hosts: set[str] | None = None,
                now: dt.datetime | None = None, always_show: Sequence[str] = (),
                force: bool = False) -> list[str]:
    """:func:`write_report` on an open connection; returns the pages it wrote."""
    report = Report(con, since, hosts, user_templates, now, always_show, shared=True)
    (out / HOST_DIR).mkdir(parents=True, exist_ok=True)
    for name, text in assets(user_templates).items():
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text:
            _write(out / name, text)
    old = {} if force else _old_digests(out)
    new = report.digests()
    written: list[str] = []

    def stale(name: str) -> bool:
        return old.get(name) != new[name] or not (out / name).is_file()

    todo = [r for r in report.rows if stale(f"{HOST_DIR}/{r.page}")]
    cursors: list[Con] = []

    def cursor() -> Con:
        cursors.append(store.cursor(con))
        return cursors[-1]

    chunks: list[tuple[list[fleet.FleetRow], Future[FleetData] | None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onion-report-sql") as pool:
        try:
            if len(todo) > 1:
                chunks.extend(report.read_ahead(todo, pool, cursor))
            for name, render in report.fleet_pages():
                if stale(name):
                    _write(out / name, render())
                    written.append(name)
            if len(todo) == 1:
                chunks.append((todo, None))
            for rows, soon in chunks:
                fd = soon.result() if soon is not None else None
                for row in rows:
                    _write(out / HOST_DIR / row.page, report.host(row, fd=fd))
                    written.append(f"{HOST_DIR}/{row.page}")
        finally:
            for f in (soon for _, soon in chunks if soon is not None):
                f.cancel()   # after an error, the reads not yet begun are not needed
            pool.shutdown(wait=True)
            for c in cursors:
                c.close()
    keep = {r.page for r in report.rows}
    for gone in (out / HOST_DIR).glob("*.html"):
        if gone.name not in keep:   # a host that left the inventory or the --limit
            gone.unlink()
    if new != old:
        _write(out / DIGESTS, json.dumps({"version": 1, "pages": new}, indent=0))
    return written
