"""How a big report is made fast and small, and that nothing it shows changes for it: the
charts drawn in Python as the partial draws them, the template texts looked up once, the
host pages' reads on a second thread a chunk at a time, the recent polls, the SQL tally."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from markupsafe import Markup

from onion.core import i18n
from onion.reports import render, series, svg
from onion.reports.fleetdata import RECENT_FAILED, RECENT_POLLS, FleetData
from onion.reports.sql import Timed, relations
from onion.storage import duck as store
from tests.reports import fleet_data
from tests.reports.conftest import _insert

END = dt.datetime(2026, 12, 1, 12, 0)


@pytest.fixture(autouse=True)
def _english_after():
    yield
    i18n.use("en")


def _charts() -> list[svg.Chart]:
    pts = [(float(t), 40.0 + t % 7) for t in range(0, 3600, 60)]
    return [
        svg.Chart("CPU <use>", "%", [svg.Series("busy", pts), svg.Series("<b>x</b>", pts[:5])],
                  0, 3600, 90, y_max=100, failed=[600.0]),
        # The second line ends before the host's last poll: "last …, as of …".
        svg.Chart("Load", "", [svg.Series("1 min", pts), svg.Series("5 min", pts[:-3])],
                  0, 3600, 90, last_poll=pts[-1][0]),
        svg.Chart("empty", "B/s", [], 0, 3600, 90),
    ]


@pytest.mark.parametrize("lang", ["en", "qps", "sv"])
def test_a_chart_drawn_in_python_is_the_partials_markup(lang):
    """host.html draws a chart with svg.figure unless the user has a _chart.html: the
    markup is the same either way, in every language."""
    i18n.use(lang)
    env = render.environment()
    assert env.globals["chart_figure"] is svg.figure
    partial = env.get_template("_chart.html")
    for c in _charts():
        for axes in (None, svg.Axes()):
            ctx = {"c": c} if axes is None else {"c": c, "axes": axes}
            assert str(svg.figure(c, axes)) == partial.render(**ctx), (lang, c.title)
    assert "stale" in str(svg.figure(_charts()[1]))


def test_a_users_chart_partial_is_still_used(fleet9, tmp_path):
    mine = tmp_path / "templates"
    mine.mkdir()
    (mine / "_chart.html").write_text("<figure>mine: {{ c.title }}</figure>")
    assert render.environment(mine).globals["chart_figure"] is None
    with store.reading(fleet9) as con:
        report = render.Report(con, since=dt.timedelta(days=1), user_templates=mine,
                               now=END + dt.timedelta(seconds=1))
        page = report.host(report.rows[0])
    assert "<figure>mine: CPU use</figure>" in page and "<figure class" not in page


def test_template_texts_behave_as_jinjas_new_style_gettext(monkeypatch):
    env = render.environment()
    t = env.from_string('{{ _("a %%(x)s b", x=v) }}|{{ _("over 90 %%") }}|'
                        '{{ ngettext("%(num)s host", "%(num)s hosts", n) }}')
    assert t.render(v="<i>", n=2) == "a %(x)s b|over 90 %|2 hosts"
    t = env.from_string('{{ _("now %(value)s", value=v) }}|{{ _("Fleet") }}')
    assert t.render(v="<i>") == "now &lt;i&gt;|Fleet"
    # Looked up once per language and text: the language in use counts, not the first.
    i18n.use("qps")
    assert t.render(v="1") == "⟦now 1⟧|⟦Fleet⟧"
    i18n.use("en")
    assert t.render(v="1") == "now 1|Fleet"
    # A translation is text: its markup is escaped, as data is.
    monkeypatch.setattr(i18n, "_", lambda m: f"<b>{m}</b>")
    fresh = render.environment().from_string('{{ _("Fleet") }}')
    assert fresh.render() == "&lt;b&gt;Fleet&lt;/b&gt;"
    assert isinstance(render._template_gettext()[0]("x"), Markup)


def test_points_from_a_query_carry_their_array(tmp_path):
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.generate(con, hosts=2, days=1, end=END)
    with store.reading(db) as con:
        ws = series.windows(con, END - dt.timedelta(days=1), END)
        load = series.gauges_many(con, ws, "cpu", ["avg(load_1m)"])["node000"][""][0]
    assert isinstance(load, series.Points) and load.array.shape == (len(load), 2)
    assert [tuple(r) for r in load.array.tolist()] == list(load)
    # Drawn from the array or from the tuples: the same chart.
    w = ws["node000"]
    a = svg.Chart("l", "", [svg.Series("x", load)], w.t0, w.t1, w.gap_s)
    b = svg.Chart("l", "", [svg.Series("x", list(load))], w.t0, w.t1, w.gap_s)
    assert str(svg.draw(a)) == str(svg.draw(b))


@pytest.fixture
def fleet9(tmp_path) -> Path:
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.generate(con, hosts=9, days=1, end=END)
    return db


def test_pages_read_ahead_in_chunks_are_the_pages_read_at_once(fleet9, tmp_path, monkeypatch):
    """write_pages reads the host pages' data on a second thread, a chunk of hosts at a
    time, on cursors of their own: every page is as Report renders it alone."""
    monkeypatch.setattr(render, "HOST_CHUNK", 4)              # chunks of 4, 4 and 1
    out = tmp_path / "site"
    now = END + dt.timedelta(seconds=1)
    with store.reading(fleet9) as con:
        timed = Timed(con)
        written = render.write_pages(timed, out, since=dt.timedelta(days=1), now=now)
        assert len(written) == 4 + 9
        report = render.Report(con, since=dt.timedelta(days=1), now=now, shared=True)
        for name, page in report.pages():
            assert (out / name).read_text(encoding="utf-8") == page(), name
    # Each chunk's queries were asked on a cursor of the connection, counted in one tally.
    assert timed.queries > 3 * 10 and timed.seconds > 0


def test_the_sql_tally_counts_every_cursor(fleet9):
    with store.reading(fleet9) as con:
        timed = Timed(con)
        cur = store.cursor(timed)    # type: ignore[arg-type]
        assert isinstance(cur, Timed)
        timed.execute("SELECT 1").fetchall()
        cur.execute("SELECT count(*) FROM polls").fetchall()
        cur.close()
    assert timed.queries == 2 and len(timed.slowest) == 2


def test_recent_polls_are_the_newest_and_the_failed_before_them(tmp_path):
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.ensure_schema(con)
        polls = []
        for k in range(60):
            ts = END - dt.timedelta(minutes=5 * (60 - k))
            # Failed: polls 3, 6, … up to 30 (ten of them before the newest ten),
            # 45 and 46, and the last but one.
            bad = (k % 3 == 0 and 3 <= k <= 33) or k in (45, 46, 58)
            polls.append({"run_id": k, "host": "n1", "ts": ts, "os": "linux",
                          "status": "unreachable" if bad else "ok", "connect_s": 0.1})
        _insert(con, "polls", polls)
    with store.reading(db) as con:
        fd = FleetData(con, relations(con), END - dt.timedelta(days=1), END, ["n1"])
        shown = fd.polls("n1")
    ts = [r["ts"] for r in shown]
    assert ts == sorted(ts, reverse=True)
    newest = [p["ts"] for p in polls[-RECENT_POLLS:]]
    older_failed = [p["ts"] for p in polls[:-RECENT_POLLS] if p["status"] != "ok"]
    # Of the failed ones, the newest RECENT_FAILED in all (58, 46, 45 and seven older).
    failed_newest = [p["ts"] for p in polls if p["status"] != "ok"][::-1][:RECENT_FAILED]
    want = sorted(set(newest) | (set(older_failed) & set(failed_newest)), reverse=True)
    assert ts == want and len(ts) == RECENT_POLLS + RECENT_FAILED - 1
