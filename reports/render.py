"""Render the HTML report from the database: a library call (the daemon serves it too).

    pages = Report(con, since=dt.timedelta(days=7)).pages()   # {"index.html": "<!doctype…"}
    write_report(db_path, out_dir)                            # the same, written to a folder

jinja2 with autoescape on; a user template folder, when given, comes first in the
loader chain, so any template (``base.html``, a partial, ``style.css``) can be replaced.
Every page is self-contained: its style is inline, its charts are inline SVG, its one
small script (table sorting and filtering; pages work without it) is allowed by hash in
a Content-Security-Policy that forbids every fetch. So the folder works offline, from a
mail, and a string that slipped past escaping still could not run or phone home.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports import fleet, hostpage, svg
from onion.reports import pollers as pollers_mod
from onion.reports.filters import age, duration, epoch, human_bytes, number, timestamp
from onion.reports.sql import Con, relations
from onion.storage import duck as store

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_SINCE = dt.timedelta(days=7)
HOST_DIR = "hosts"


def environment(user_templates: Path | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if user_templates:
        loaders.append(jinja2.FileSystemLoader(str(user_templates)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(bytes=human_bytes, ts=timestamp, duration=duration, num=number,
                       svg=svg.draw, epoch=epoch)
    return env


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Report:
    """The pages of one report: a fixed window, host selection and template set."""

    def __init__(self, con: Con, since: dt.timedelta = DEFAULT_SINCE,
                 hosts: set[str] | None = None, user_templates: Path | None = None,
                 now: dt.datetime | None = None) -> None:
        self.con = con
        self.hosts = hosts
        self.end = now or _utcnow()
        self.start = self.end - since
        self.since = since
        self.env = environment(user_templates)
        self.env.globals["ago"] = lambda v: age(v, self.end)
        script = self.env.get_template("_script.js.html").render()
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        self.env.globals.update(
            script=Markup(script),  # noqa: S704 - our template, not data; allowed by hash
            script_hash=f"sha256-{digest}", generated=self.end, window_start=self.start,
            window=duration(since.total_seconds()), host_dir=HOST_DIR)
        self._rows: list[fleet.FleetRow] | None = None
        self.rels = relations(con)

    @property
    def rows(self) -> list[fleet.FleetRow]:
        if self._rows is None:
            self._rows = fleet.load(self.con, self.start, self.hosts, self.rels)
        return self._rows

    def _render(self, template: str, root: str, **ctx: Any) -> str:
        return self.env.get_template(template).render(root=root, **ctx)

    def overview(self) -> str:
        rows = self.rows
        last = self.con.execute("SELECT max(finished_at) FROM runs").fetchone() \
            if "runs" in self.rels else None
        return self._render("index.html", "", page="fleet", hosts=rows,
                            groups=fleet.groups(rows), last_run=last[0] if last else None,
                            pollers=pollers_mod.load(self.con, self.start, self.rels))

    def host(self, row: fleet.FleetRow, con: Con | None = None) -> str:
        data = hostpage.load(con or self.con, row, self.start, self.end, self.rels)
        return self._render("host.html", "../", page="host", h=data, row=row)

    def alerts(self) -> str:
        data = alerts_mod.load(self.con, self.start, self.hosts, rels=self.rels)
        pages = {r.name: r.page for r in self.rows}
        return self._render("alerts.html", "", page="alerts", a=data, pages=pages)

    def changes(self) -> str:
        data = changes_mod.load(self.con, self.start, self.hosts, rels=self.rels)
        pages = {r.name: r.page for r in self.rows}
        return self._render("changes.html", "", page="changes", c=data, pages=pages)

    def pages(self) -> Iterator[tuple[str, Callable[[], str]]]:
        """(relative path, renderer) for every page, the overview first."""
        yield "index.html", self.overview
        yield "alerts.html", self.alerts
        yield "changes.html", self.changes
        for row in self.rows:
            yield f"{HOST_DIR}/{row.page}", (lambda r=row: self.host(r))


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)   # a reader (a web server) never sees half a page


def write_report(db: Path, out: Path, user_templates: Path | None = None,
                 since: dt.timedelta = DEFAULT_SINCE, hosts: set[str] | None = None,
                 now: dt.datetime | None = None, workers: int | None = None) -> Path:
    """Write every page under ``out``; returns the overview's path.

    Host pages render on a few threads, each with its own cursor: DuckDB runs the
    queries without the GIL, which is where a host page spends its time.
    """
    with store.reading(db) as con:
        report = Report(con, since, hosts, user_templates, now)
        (out / HOST_DIR).mkdir(parents=True, exist_ok=True)
        for name, render in list(report.pages())[:3]:
            _write(out / name, render())
        rows = report.rows

        def one(row: fleet.FleetRow) -> None:
            cur = store.cursor(con)
            try:
                _write(out / HOST_DIR / row.page, report.host(row, cur))
            finally:
                cur.close()

        with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(one, rows))
        keep = {r.page for r in rows}
        for old in (out / HOST_DIR).glob("*.html"):
            if old.name not in keep:   # a host that left the inventory or the --limit
                old.unlink()
    return out / "index.html"
