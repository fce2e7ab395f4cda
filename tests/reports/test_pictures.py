"""Charts honest about time, the fleet's pictures, the GPU page, ``[report] always_show``
and pages written only when their data changed: on real databases built here."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from onion.core import config
from onion.core.errors import ConfigError
from onion.core.natural import natural_key
from onion.reports import fleet, hostpage, render, series, svg
from onion.reports.names import host_filename
from onion.storage import duck as store
from tests.reports import fleet_data
from tests.reports.conftest import _insert

END = dt.datetime(2026, 12, 1, 12, 0)


def _epoch(t: dt.datetime) -> float:
    return t.replace(tzinfo=dt.UTC).timestamp()


def _poll(con: duckdb.DuckDBPyConnection, host: str, ts: dt.datetime, k: int,
          status: str = "ok", **tables: list[dict]) -> None:
    run = int(_epoch(ts) * 1e6)
    base = {"run_id": run, "host": host, "ts": ts}
    _insert(con, "polls", [{**base, "status": status, "os": "linux", "connect_s": 0.01,
                            "command_s": 0.1 + k / 1000}])
    if status != "ok":
        return
    _insert(con, "probe_results", [{**base, "probe": t, "status": "ok", "records": len(rows)}
                                   for t, rows in tables.items()])
    for table, rows in tables.items():
        _insert(con, table, [{**base, **r} for r in rows])


def _host_row(con: duckdb.DuckDBPyConnection, host: str, last: dt.datetime,
              status: str = "ok") -> None:
    con.execute("INSERT INTO hosts (host, address, port, groups, os, first_seen, last_seen, "
                "last_ok, last_status) VALUES (?, ?, 22, [], 'linux', ?, ?, ?, ?) "
                "ON CONFLICT (host) DO UPDATE SET last_seen = excluded.last_seen, "
                "last_ok = excluded.last_ok, last_status = excluded.last_status",
                [host, host, last, last, last, status])


def _cpu(k: int, load: float) -> dict:
    return {"ncpu": 8, "load_1m": load, "load_5m": load / 2, "load_15m": 1.0,
            "user_seconds": 30.0 * k, "system_seconds": 5.0 * k, "idle_seconds": 400.0 * k}


@pytest.fixture
def minute_polls(tmp_path) -> Path:
    """Three hours of 60 s polls with a little jitter (never exactly 60 s apart)."""
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.ensure_schema(con)
        t = END - dt.timedelta(hours=3)
        for k in range(180):
            ts = t + dt.timedelta(seconds=60 * k + (0.4 if k % 2 else 0))
            _poll(con, "n1", ts, k, cpu=[_cpu(k, 1 + (k % 7) / 3)],
                  memory=[{"total_bytes": 1000, "available_bytes": 400 + k, "used_bytes": 1}])
        _host_row(con, "n1", ts)
    return db


def _page(db: Path, host: str, since: dt.timedelta, now: dt.datetime,
          always: tuple[str, ...] = ()) -> hostpage.HostPage:
    with store.reading(db) as con:
        (row,) = [r for r in fleet.load(con, now - since) if r.name == host]
        return hostpage.load(con, row, now - since, now, always_show=always)


def _chart(page: hostpage.HostPage, title: str) -> svg.Chart:
    return next(c for g in page.groups for c in g.charts if c.title == title)


def test_minute_polls_are_not_averaged_away_and_lines_end_at_the_last_poll(minute_polls):
    now = END + dt.timedelta(seconds=30)
    page = _page(minute_polls, "n1", dt.timedelta(hours=2), now)
    assert page.window.step == 0                     # each poll a point, never 120 s buckets
    with store.reading(minute_polls) as con:
        last_ts, last_load = con.execute(
            "SELECT ts, load_1m FROM cpu ORDER BY ts DESC LIMIT 1").fetchone()
        polls_in_window = con.execute("SELECT count(*) FROM cpu WHERE ts >= ?",
                                      [now - dt.timedelta(hours=2)]).fetchone()[0]
    load = _chart(page, "Load average")
    one_min = load.series[0]
    assert one_min.points[-1] == (_epoch(last_ts), last_load)
    assert len(one_min.points) == polls_in_window
    assert load.legend[0].last == svg.fmt(last_load, "") and not load.legend[0].stale
    # The gauge (load), the memory gauge and the rate (CPU use) end at the same time.
    ends = {_chart(page, t).series[0].points[-1][0] for t in ("CPU use", "Memory used",
                                                              "Load average")}
    assert ends == {_epoch(last_ts)}


def test_a_long_window_buckets_but_keeps_the_newest_sample_alone(tmp_path):
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.generate(con, hosts=2, days=7, end=END)
    page = _page(db, "node001", dt.timedelta(days=7), END + dt.timedelta(seconds=1))
    assert page.window.step == 7200                  # 84 points over 7 days
    with store.reading(db) as con:
        last_ts, last_load, last_mem = con.execute(
            "SELECT c.ts, c.load_1m, 100 * (1 - m.available_bytes / m.total_bytes) FROM cpu c "
            "JOIN memory m USING (host, ts) WHERE host = 'node001' ORDER BY ts DESC LIMIT 1"
        ).fetchone()
    load = _chart(page, "Load average")
    assert load.series[0].points[-1] == pytest.approx((_epoch(last_ts), last_load))
    mem = _chart(page, "Memory used")
    assert mem.series[0].points[-1] == pytest.approx((_epoch(last_ts), last_mem))
    assert mem.legend[0].last == svg.fmt(last_mem, "%")
    assert _chart(page, "CPU use").series[0].points[-1][0] == _epoch(last_ts)
    assert 80 <= len(load.series[0].points) <= 2 * series.POINTS


def test_a_rate_is_a_line_from_the_second_poll(tmp_path):
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.ensure_schema(con)
        for k in range(3):
            ts = END - dt.timedelta(minutes=10 - 5 * k)
            _poll(con, "n1", ts, k, cpu=[_cpu(k + 1, 1.0)])
        _host_row(con, "n1", ts)
    page = _page(db, "n1", dt.timedelta(days=7), END + dt.timedelta(minutes=1))
    use = _chart(page, "CPU use")
    assert len(use.series[0].points) == 2            # polls 2 and 3
    drawn = str(svg.draw(use))
    assert re.search(r'<path d="M[^"]+"', drawn) and "<circle" not in drawn


def test_a_down_hosts_legend_says_last_and_when(tmp_path):
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.ensure_schema(con)
        for k in range(5):
            ts = END - dt.timedelta(minutes=25 - 5 * k)
            _poll(con, "n1", ts, k, "ok" if k < 3 else "unreachable", cpu=[_cpu(k + 1, 2.0 + k)])
        _host_row(con, "n1", ts, "unreachable")
    page = _page(db, "n1", dt.timedelta(hours=1), END)
    load = _chart(page, "Load average")
    assert load.legend[0].stale and load.legend[0].last == "4.00"
    assert load.legend[0].last_when == "2026-12-01 11:45 UTC"


def test_choose_step():
    assert series.choose_step(2 * 3600, 60.3) == 0          # 120 points: every poll
    assert series.choose_step(86400, 300) == 0              # 288 points: every poll
    assert series.choose_step(7 * 86400, 60) == 7200        # 84 points, 6 px apart
    assert series.choose_step(7 * 86400, 300) == 7200
    assert series.choose_step(3600, 0) == 30


def test_always_show_is_a_setting_written_by_init(tmp_path):
    assert config.Config().report.always_show == []
    assert 'always_show = []' in config.EXAMPLE
    good = tmp_path / "good.toml"
    good.write_text('[report]\nalways_show = ["eth0", "/dev/shm", "ib*"]\n')
    assert config.load(good).report.always_show == ["eth0", "/dev/shm", "ib*"]
    for bad in ('always_show = "eth0"', "always_show = [1]", 'always_show = [""]'):
        path = tmp_path / "bad.toml"
        path.write_text(f"[report]\n{bad}\n")
        with pytest.raises(ConfigError, match="always_show"):
            config.load(path)


def test_always_show_charts_idle_and_pseudo_items(tmp_path):
    db = tmp_path / "o.duckdb"
    mounts = [("/", "ext4", 40.0), ("/dev/shm", "tmpfs", 1.0), ("/run", "tmpfs", 1.0)]
    with duckdb.connect(str(db)) as con:
        fleet_data.ensure_schema(con)
        for k in range(3):
            ts = END - dt.timedelta(minutes=10 - 5 * k)
            _poll(con, "n1", ts, k,
                  network=[{"interface": i, "up": True, "rx_bytes": n * k, "tx_bytes": n * k}
                           for i, n in (("eth0", 0), ("eth1", 0), ("ib0", 10**6))],
                  filesystems=[{"mount": m, "fstype": f, "used_pct": u} for m, f, u in mounts])
        _host_row(con, "n1", ts)
    since = dt.timedelta(hours=1)
    plain = _page(db, "n1", since, END)
    shown = _page(db, "n1", since, END, ("eth0", "/dev/shm"))

    def titles(page: hostpage.HostPage, anchor: str) -> list[str]:
        return [c.title for g in page.groups if g.anchor == anchor for c in g.charts]

    assert titles(plain, "net") == ["ib0"] and titles(plain, "fs") == ["/"]
    assert titles(shown, "net") == ["ib0", "eth0"]
    assert titles(shown, "fs") == ["/", "/dev/shm"]
    (net,) = [g for g in shown.groups if g.anchor == "net"]
    assert "1 idle interface (nothing in the window): eth1" in net.note


@pytest.fixture
def fleet8(tmp_path) -> Path:
    """Eight synthetic hosts over a day: node007 down for the last two hours, GPUs on
    node000 and node004, and who uses node000's GPUs."""
    db = tmp_path / "o.duckdb"
    with duckdb.connect(str(db)) as con:
        fleet_data.generate(con, hosts=8, days=1, end=END)
        last = con.execute("SELECT max(ts) FROM polls WHERE host = 'node000'").fetchone()[0]
        run = con.execute("SELECT max(run_id) FROM polls WHERE host = 'node000'").fetchone()[0]
        base = {"run_id": run, "host": "node000", "ts": last}
        _insert(con, "probe_results", [{**base, "probe": "gpu_processes", "status": "ok",
                                        "records": 2}])
        _insert(con, "gpu_processes", [
            {**base, "uuid": "GPU-node000-1", "pid": 10 + i, "used_memory_bytes": m << 30,
             "process_name": "python3", "uid": 1000 + i, "user": u}
            for i, (u, m) in enumerate((("alice", 40), ("bob", 2)))])
    return db


def test_heatmaps_and_sparklines_cover_the_fleet(fleet8):
    with store.reading(fleet8) as con:
        rep = render.Report(con, since=dt.timedelta(days=1), now=END + dt.timedelta(seconds=1))
        pics = rep.pictures()
        page = rep.overview()
    cpu = str(pics.cpu_heat)
    labels = re.findall(r'<text class="hl"[^>]*><title>([^<]*)</title>', cpu)
    assert labels == sorted((f"node00{i}" for i in range(8)), key=natural_key)
    assert 'data-rows="8"' in cpu
    assert 'class="down"' in cpu                    # node007's last two hours
    assert re.findall(r'<text class="hl"[^>]*><title>([^<]*)</title>', str(pics.gpu_heat)) \
        == ["node000", "node004"]
    assert page.count('<svg class="spark"') == 8 + 8 + 2      # CPU, memory, GPU hosts
    assert f'href="hosts/{host_filename("node003")}"' in cpu
    assert 'href="gpus.html"' in page


def test_gpu_page_lists_every_gpu_and_who_uses_it(fleet8):
    with store.reading(fleet8) as con:
        rep = render.Report(con, since=dt.timedelta(days=1), now=END + dt.timedelta(seconds=1))
        page = rep.gpus()
        data = render.fleetpics.gpus(rep.data, rep.rows)
    assert [(g.host, g.row["index"]) for g in data.gpus] == [
        (h, i) for h in ("node000", "node004") for i in range(4)]
    used = {g.row["uuid"]: [u["user"] for u in g.users] for g in data.gpus}
    assert used["GPU-node000-1"] == ["alice", "bob"] and used["GPU-node004-1"] == []
    assert "8 GPUs on 2 hosts" in page and "alice" in page and "NVIDIA H100" in page


def test_pages_are_written_only_when_their_data_changed(fleet8, tmp_path):
    out = tmp_path / "site"
    since = dt.timedelta(days=1)
    with store.reading(fleet8) as con:
        first = render.write_pages(con, out, since=since, now=END)
    assert len(first) == 4 + 8
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    with store.reading(fleet8) as con:
        again = render.write_pages(con, out, since=since, now=END + dt.timedelta(minutes=5))
    assert again == []
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.html")} == stamps
    # A new poll of one host: its page and the fleet pages, nothing else.
    ts = END + dt.timedelta(minutes=5)
    with duckdb.connect(str(fleet8)) as con:
        _poll(con, "node002", ts, 1, cpu=[_cpu(10**6, 9.0)])
        _host_row(con, "node002", ts)
    with store.reading(fleet8) as con:
        third = render.write_pages(con, out, since=since, now=ts + dt.timedelta(seconds=1))
    assert sorted(third) == sorted(["index.html", "alerts.html", "changes.html", "gpus.html",
                                    f"hosts/{host_filename('node002')}"])
    assert "9.00" in (out / "hosts" / host_filename("node002")).read_text()
    with store.reading(fleet8) as con:   # --force writes everything
        assert len(render.write_pages(con, out, since=since, now=ts, force=True)) == 12


def test_paths_are_compact_and_exact():
    assert svg._path([0, 2, 4, 6, 8], [5, 5, 5, 7, 6]) == "M0 5h4l2 2 2-1"
    assert svg._steps(0, 5, np.array([2, 2, 2, 2, 2]), np.array([0, 0, 2, -1, 0])) == \
        "M0 5h4l2 2 2-1h2"
    # A level line is one stroke, in whole pixels.
    c = svg.Chart("t", "%", [svg.Series("s", [(0, 50.0), (500, 50.0), (1000, 50.0)])],
                  0, 1000, 600, y_max=100)
    out = str(svg.draw(c))
    assert re.search(r'<g class="ln"><path d="M58 86h490" stroke="[^"]+">', out)
    # Steps too long for the table of texts are written all the same.
    assert svg._joined(np.array([5000, -7000, 3, -2])) == "5000-7000 3-2"
    assert svg._joined(np.array([5, -7, 0, 3])) == "5-7 0 3"
    spark = str(svg.spark({0: 0.0, 1: 100.0, 3: 50.0}, 4, "CPU <b>"))
    assert '<path d="M1 100l2-100"/>' in spark and "<rect" in spark   # the lone column 3
    assert "CPU &lt;b&gt;: 50 %" in spark


def test_more_points_than_pixels_are_thinned_but_keep_their_spikes():
    # 5000 points that zigzag, on a 490 px plot: at most four a pixel column, the spike
    # and the gap still drawn.
    pts = [(float(t), 10.0 + 10 * (t % 2)) for t in range(5000) if not 3000 <= t < 3100]
    pts[2500] = (2500.0, 90.0)
    c = svg.Chart("t", "%", [svg.Series("s", pts)], 0, 5000, 10, y_max=100)
    path = re.search(r'<g class="ln"[^>]*><path d="([^"]+)"', str(svg.draw(c))).group(1)
    numbers = [int(v) for v in re.findall(r"-?\d+", path)]
    assert 1000 < len(numbers) <= 2 * 4 * (svg.WIDTH - svg.LEFT - svg.RIGHT)
    # Up 70 % of the 152 px plot and down again: the spike is drawn.
    assert min(numbers) < -100
    assert path.count("M") == 2                           # broken at the gap, only there
    assert c.legend[0].peak == "90 %"
