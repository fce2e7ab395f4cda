"""The report's pure parts: file names, windows, formatting, SVG charts."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from onion.reports import filters, svg
from onion.reports.names import host_filename, parse_since

HOSTILE = ["../../etc/passwd", "a/b", "..", ".", "", "CON", "nul", "x" * 5000,
           "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "{{ 7*7 }}",
           "host\x00name", "höst-ü", "Node01", "node01", " lead space", "-rf", "a\nb"]


@pytest.mark.parametrize("name", HOSTILE)
def test_host_filename_is_safe(name):
    f = host_filename(name)
    assert re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,39}-[0-9a-f]{10}\.html|host-[0-9a-f]{10}\.html", f)
    assert ".." not in f and len(f) < 64


def test_host_filenames_never_collide():
    names = {host_filename(n) for n in HOSTILE}
    assert len(names) == len(HOSTILE)          # Node01 and node01 differ too
    assert host_filename("node01") == host_filename("node01")


@pytest.mark.parametrize(("text", "seconds"), [("7d", 7 * 86400), ("12h", 43200),
                                                ("30m", 1800), ("2w", 14 * 86400),
                                                ("1d12h", 129600), (" 90s ", 90)])
def test_parse_since(text, seconds):
    assert parse_since(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-1d", "0d", "7d;rm"])
def test_parse_since_rejects(text):
    with pytest.raises(ValueError):
        parse_since(text)


def test_formatting():
    assert filters.human_bytes(1536) == "1.5 KiB"
    assert filters.human_bytes(None) == "—"
    assert filters.duration(93784) == "1 d 2 h"
    assert filters.duration(59) == "59 s"
    now = dt.datetime(2026, 1, 2)
    assert filters.age(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert filters.epoch(dt.datetime(1970, 1, 2)) == "86400"


def _chart(points, **kw):
    return svg.Chart("t", kw.pop("unit", "%"), [svg.Series("s", points)], 0, 1000,
                     kw.pop("gap_s", 100), **kw)


def test_chart_breaks_at_gaps_and_marks_failed_polls():
    pts = [(t, 50.0) for t in (0, 60, 120, 600, 660)]
    out = str(svg.draw(_chart(pts, failed=[300])))
    path = re.search(r'<path d="([^"]+)"', out).group(1)
    assert path.count("M") == 2                      # two segments: the gap broke the line
    assert 'class="failed"' in out
    assert "UTC" in out


def test_chart_isolated_point_is_a_dot_and_empty_chart_says_so():
    assert "<circle" in str(svg.draw(_chart([(500, 1.0)])))
    assert "no data in this window" in str(svg.draw(_chart([])))


def test_chart_escapes_labels():
    c = svg.Chart("<script>x</script>", "°C", [svg.Series('"><img src=x>', [(0, 1), (10, 2)])],
                  0, 10, 100)
    out = str(svg.draw(c))
    assert "<script>" not in out and "<img" not in out
    assert "&lt;img" in out


def test_byte_rate_axis_uses_binary_units():
    c = svg.Chart("net", "B/s", [svg.Series("rx", [(0, 0), (10, 5 * 2**20)])], 0, 10, 100)
    out = str(svg.draw(c))
    assert "MiB/s" in out
    assert c.legend[0].last == "5.0 MiB/s"


def test_flat_line_gets_a_readable_axis():
    c = svg.Chart("t", "°C", [svg.Series("s", [(0, 60.0), (10, 60.0)])], 0, 10, 100, y_min=None)
    axis = re.search(r'<g class="yl"[^>]*>(.*?)</g>', str(svg.draw(c))).group(1)
    labels = re.findall(r'>([^<]+)</text>', axis)
    assert labels and all(len(x) < 10 for x in labels)
    assert any(x.startswith("60") for x in labels)


def test_hosts_are_listed_in_natural_order(tmp_path):
    import datetime as dt

    from onion.reports import fleet
    from onion.storage import duck as store
    from onion.storage.archive import Retention
    from onion.storage.duckdb_sink import DuckDBSink
    from onion.storage.schema import CORE
    from tests.storage.test_conformance import batch, row

    names = ["127.0.0.10", "127.0.0.2", "node10", "node9", "127.0.0.1"]
    b = batch(1, [row(counter=1)])
    now = dt.datetime(2026, 12, 1, 12)
    cols = {c: [None] * len(names) for c in CORE["hosts"].names}
    cols.update(host=names, last_status=["ok"] * len(names), last_seen=[now] * len(names))
    b.data["hosts"] = cols
    sink = DuckDBSink("duckdb", tmp_path / "o.duckdb", tmp_path / "a", Retention())
    sink.ensure_schema(b.tables)
    sink.write(b)
    sink.close()
    cols["last_status"][0] = "unreachable"                 # 127.0.0.10 is down
    b2 = batch(2, [row(run_id=2, counter=1)])
    b2.data["hosts"] = cols
    sink.write(b2)
    sink.close()
    with store.reading(tmp_path / "o.duckdb") as con:
        rows = fleet.load(con, now - dt.timedelta(days=1))
    assert [r.name for r in rows] == ["127.0.0.10", "127.0.0.1", "127.0.0.2", "node9", "node10"]
    # The group table counts as the headline does: a down host is down, not also a problem.
    (g,) = fleet.groups(rows)
    assert (g.hosts, g.down, g.problems) == (5, 1, sum(r.up and r.rank < 3 for r in rows))


def test_one_change_on_many_hosts_is_one_row():
    import datetime as dt

    from onion.reports import changes

    t = dt.datetime(2026, 12, 1, 12)
    rows = [{"host": f"node{i}", "path": "/etc/passwd", "change": "content",
             "ts": t - dt.timedelta(minutes=i)} for i in (10, 2, 1)]
    rows.append({"host": "node2", "path": "/etc/shadow", "change": "mode", "ts": t})
    rows.sort(key=lambda r: r["ts"], reverse=True)       # as the page's queries give them
    section = changes._section("Watched files changed", rows, None, "files")
    assert len(section.rows) == 4 and len(section.groups) == 2
    passwd = next(g for g in section.groups if g.row["path"] == "/etc/passwd")
    assert passwd.hosts == ["node1", "node2", "node10"]
    minutes = dt.timedelta(minutes=1)
    assert (passwd.first, passwd.last) == (t - 10 * minutes, t - minutes)
    reboots = changes._section("Reboots", rows, None, "reboots")
    assert len(reboots.groups) == 4                       # each host's own


def test_a_value_older_than_the_hosts_last_poll_says_as_of_when(tmp_path):
    import datetime as dt

    from onion.probes import registry
    from onion.reports import fleet
    from onion.reports.render import Report
    from onion.storage import duck as store
    from onion.storage import schema
    from onion.storage.archive import Retention
    from onion.storage.batch import Batch
    from onion.storage.duckdb_sink import DuckDBSink

    tables = schema.tables_for(registry.installed().values())
    t_ok, t_down = dt.datetime(2026, 12, 1, 7, 21), dt.datetime(2026, 12, 1, 7, 26)

    def one(run_id: int, ts: dt.datetime, status: str, with_cpu: bool) -> Batch:
        data: dict = {"runs": {c: [None] for c in tables["runs"].names}}
        data["runs"].update(run_id=[run_id], started_at=[ts])
        data["hosts"] = {c: [None, None] for c in tables["hosts"].names}
        data["hosts"].update(host=["down1", "up1"], last_status=[status, "ok"],
                             last_seen=[ts, ts], last_ok=[t_ok, ts])
        hosts = ["down1", "up1"] if with_cpu else ["up1"]
        data["cpu"] = {c: [None] * len(hosts) for c in tables["cpu"].names}
        data["cpu"].update(run_id=[run_id] * len(hosts), host=hosts, ts=[ts] * len(hosts),
                           ncpu=[8] * len(hosts), load_1m=[3.5] * len(hosts))
        return Batch(run_id, tables, data)

    sink = DuckDBSink("duckdb", tmp_path / "o.duckdb", tmp_path / "a", Retention())
    for b in (one(1, t_ok, "ok", True), one(2, t_down, "unreachable", False)):
        sink.ensure_schema(b.tables)
        sink.write(b)
    sink.close()
    with store.reading(tmp_path / "o.duckdb") as con:
        rows = {r.name: r for r in fleet.load(con, t_ok - dt.timedelta(days=1))}
        page = Report(con, since=dt.timedelta(days=1), now=t_down).overview()
    assert rows["down1"].facts["cpu_ts"] == t_ok and rows["up1"].facts["cpu_ts"] == t_down
    down = page.split('data-search="down1')[1].split("</tr>")[0]
    up = page.split('data-search="up1')[1].split("</tr>")[0]
    assert "as of 2026-12-01 07:21 UTC" in down and 'class=" stale"' in down
    assert "as of" not in up


def test_idle_devices_and_pseudo_file_systems_get_a_line_not_a_chart(tmp_path):
    import datetime as dt

    from onion.probes import registry
    from onion.reports import fleet, hostpage
    from onion.storage import duck as store
    from onion.storage import schema
    from onion.storage.archive import Retention
    from onion.storage.batch import Batch
    from onion.storage.duckdb_sink import DuckDBSink

    assert hostpage._active({"sda": [[(0, 5.0)]], "loop0": [[(0, 0.0)], [(0, None)]],
                             "loop10": [[]], "loop2": [[(1, 0.0)]]}) == (
        {"sda": [[(0, 5.0)]]}, ["loop0", "loop2", "loop10"])
    tables = schema.tables_for(registry.installed().values())
    t0 = dt.datetime(2026, 12, 1, 7)
    sink = DuckDBSink("duckdb", tmp_path / "o.duckdb", tmp_path / "a", Retention())
    for k in range(3):
        ts = t0 + dt.timedelta(minutes=5 * k)
        data: dict = {"runs": {c: [None] for c in tables["runs"].names}}
        data["runs"].update(run_id=[k + 1], started_at=[ts])
        data["hosts"] = {c: [None] for c in tables["hosts"].names}
        data["hosts"].update(host=["n1"], last_status=["ok"], last_seen=[ts], last_ok=[ts])
        mounts = [("/", "ext4", 40.0), ("/dev/shm", "tmpfs", 1.0), ("/sys/fs/cgroup", "cgroup2",
                                                                    0.0)]
        data["filesystems"] = {c: [None] * 3 for c in tables["filesystems"].names}
        data["filesystems"].update(run_id=[k + 1] * 3, host=["n1"] * 3, ts=[ts] * 3,
                                   mount=[m for m, _, _ in mounts],
                                   fstype=[f for _, f, _ in mounts],
                                   used_pct=[u for _, _, u in mounts])
        b = Batch(k + 1, tables, data)
        sink.ensure_schema(b.tables)
        sink.write(b)
    sink.close()
    with store.reading(tmp_path / "o.duckdb") as con:
        (row,) = fleet.load(con, t0 - dt.timedelta(days=1))
        page = hostpage.load(con, row, t0 - dt.timedelta(hours=1), t0 + dt.timedelta(hours=1))
    (fs,) = [g for g in page.groups if g.anchor == "fs"]
    assert [c.title for c in fs.charts] == ["/"]
    assert "2 kernel and memory file systems not charted: /dev/shm, /sys/fs/cgroup" in fs.note
