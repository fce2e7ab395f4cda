"""The views' models hold what the database holds (the database file, read-only)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.gui.qt import need_qt

need_qt()

from onion.gui import data, tables  # noqa: E402
from onion.gui.models import SORT_ROLE, FilterProxy, TableModel  # noqa: E402
from onion.gui.remote import inline  # noqa: E402
from tests.gui.conftest import DOWN, FIRING, HOSTS  # noqa: E402

DAY = dt.timedelta(days=1)


def _sql(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module")
def fleet(gui_db: Path) -> tuple[data.FleetSnapshot, tables.Table]:
    snap = data.load_fleet(data.DatabaseSource(gui_db), DAY)
    return snap, tables.fleet_table(snap)


def test_fleet_rows_are_the_hosts_table(gui_db: Path, fleet) -> None:
    _snap, table = fleet
    want = {h for (h,) in _sql(gui_db, "SELECT host FROM hosts")}
    assert len(want) == HOSTS
    assert set(table.keys) == want and table.rows == HOSTS
    by_host = dict(zip(table.keys, table.cells, strict=True))
    marks = dict(zip(table.keys, table.marks, strict=True))
    status, _reason = _sql(gui_db, "SELECT last_status, last_reason FROM hosts WHERE host = ?",
                          [DOWN])[0]
    assert status != "ok"
    assert by_host[DOWN][1].startswith(status) and marks[DOWN] == tables.Mark.DOWN
    # The firing alert is in its host's row, and only there.
    host, rule, _item = FIRING
    assert rule in by_host[host][8]
    assert all(rule not in cells[8] for h, cells in by_host.items() if h != host)
    # Problems first: the down host leads, as on the report's fleet page.
    assert table.keys[0] == DOWN


def test_fleet_values_match_sql(gui_db: Path, fleet) -> None:
    _snap, table = fleet
    mem = dict(_sql(gui_db, "SELECT host, 100 * (1 - coalesce(available_bytes, total_bytes - "
                            "used_bytes) / nullif(total_bytes, 0)) FROM latest_memory"))
    fs = dict(_sql(gui_db, "SELECT host, max(used_pct) FROM latest_filesystems GROUP BY host"))
    for name, cells in zip(table.keys, table.cells, strict=True):
        assert cells[4].startswith(f"{mem[name]:.0f} %"), (name, cells[4])
        assert f"{fs[name]:.0f} %" in cells[5], (name, cells[5])
    gpu_hosts = {h for (h,) in _sql(gui_db, "SELECT DISTINCT host FROM latest_gpu")}
    assert gpu_hosts
    for name, cells in zip(table.keys, table.cells, strict=True):
        assert (cells[7] != "—") == (name in gpu_hosts), (name, cells[7])


def test_model_sorts_and_filters(qtbot, gui_db: Path, fleet) -> None:
    _snap, table = fleet
    model = TableModel(table)
    proxy = FilterProxy()
    proxy.setSourceModel(model)
    assert model.rowCount() == HOSTS and model.columnCount() == len(tables.FLEET_COLUMNS)
    assert model.index(0, 0).data() == table.keys[0]
    # Memory column, ascending: the SQL's order.
    proxy.sort(4)
    shown = [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    mem = [h for h, _ in _sql(gui_db, "SELECT host, 100 * (1 - available_bytes / total_bytes) "
                                      "AS m FROM latest_memory ORDER BY m, host")]
    assert shown == mem
    assert [proxy.index(r, 4).data(SORT_ROLE) for r in range(HOSTS)] == list(range(HOSTS))
    # Host names sort naturally, and the filter reads every column.
    proxy.sort(0)
    assert [proxy.index(r, 0).data() for r in range(HOSTS)] == sorted(table.keys)
    proxy.setFilterFixedString(FIRING[1])
    assert proxy.rowCount() == 1 and proxy.index(0, 0).data() == FIRING[0]
    proxy.setFilterFixedString("UNREACHABLE")  # case does not matter
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == [DOWN]


def test_host_view_holds_the_hosts_rows(gui_db: Path) -> None:
    host = "node004"   # has GPUs (every fourth host)
    snap = data.load_host(data.DatabaseSource(gui_db), host, DAY)
    assert snap.page is not None
    procs = _sql(gui_db, "SELECT count(*) FROM latest_processes WHERE host = ?", [host])[0][0]
    assert snap.page.process_count == procs > 0
    top = _sql(gui_db, "SELECT pid FROM latest_processes WHERE host = ? "
                       "ORDER BY cpu_pct DESC LIMIT 1", [host])[0][0]
    assert snap.page.top_cpu[0]["pid"] == top
    mounts = [m for (m,) in _sql(gui_db, "SELECT mount FROM latest_filesystems WHERE host = ? "
                                         "ORDER BY used_pct DESC, mount", [host])]
    assert [r["mount"] for r in snap.filesystems] == mounts
    gpus = _sql(gui_db, "SELECT count(*) FROM latest_gpu WHERE host = ?", [host])[0][0]
    assert len(snap.page.gpus) == gpus == 4
    assert {r["interface"] for r in snap.network} == {
        i for (i,) in _sql(gui_db, "SELECT interface FROM latest_network WHERE host = ?",
                           [host])}
    assert all(r["rx_bytes_per_s"] is not None for r in snap.network)
    titles = {g.title for g in snap.page.groups}
    assert {"CPU and memory", "File systems", "Network", "GPUs"} <= titles
    table = tables.dict_table(snap.page.top_cpu, ["pid", "cpu_pct"])
    assert table.cells[0][0] == str(top) and table.cells[0][1].endswith("%")


def test_unknown_host_is_said(gui_db: Path) -> None:
    snap = data.load_host(data.DatabaseSource(gui_db), "no-such-host", DAY)
    assert snap.page is None


def test_alerts_and_changes(gui_db: Path) -> None:
    src = data.DatabaseSource(gui_db)
    now, history = tables.alerts_tables(data.load_alerts(src, DAY))
    firing = [i for i, m in enumerate(now.marks) if m == tables.Mark.FIRING]
    assert len(firing) == 1
    row = now.cells[firing[0]]
    assert FIRING[1] in row and FIRING[0] in row
    assert now.rows == _sql(gui_db, "SELECT count(*) FROM alerts")[0][0]
    assert history.rows == _sql(gui_db, "SELECT count(*) FROM alert_events")[0][0] == 2
    changes = tables.changes_table(data.load_changes(src, DAY))
    assert changes.rows > 0
    assert any("/etc/passwd" in c[2] for c in changes.cells)  # a watched file changed


def test_the_database_is_never_written(gui_db: Path) -> None:
    before = hashlib.sha256(gui_db.read_bytes()).hexdigest()
    src = data.DatabaseSource(gui_db)
    data.load_fleet(src, DAY)
    data.load_host(src, "node000", DAY)
    data.load_alerts(src, DAY)
    assert hashlib.sha256(gui_db.read_bytes()).hexdigest() == before
    assert not gui_db.with_name(gui_db.name + ".wal").exists()


def test_parameters_inlined_as_literals() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert inline("SELECT ? WHERE a = '?' AND b = $x", [1]) == \
        "SELECT 1 WHERE a = '?' AND b = $x"
    assert inline("SELECT * FROM t WHERE h = $host AND ts >= $start::TIMESTAMP -- $no",
                  {"host": "it's", "start": when}) == \
        "SELECT * FROM t WHERE h = 'it''s' AND ts >= TIMESTAMP '2026-01-02 03:04:05'" \
        "::TIMESTAMP -- $no"
    assert inline('SELECT "$x", $t', {"t": ["a", None, 2.5]}) == \
        "SELECT \"$x\", ['a', NULL, 2.5]"
    with duckdb.connect() as con:  # what inline writes, DuckDB reads back as the value
        got = con.execute(inline("SELECT $a, $b, $c, $d", {
            "a": "x'; DROP TABLE t; --", "b": when, "c": float("nan"), "d": True})).fetchone()
    assert got[0] == "x'; DROP TABLE t; --" and got[1] == when and got[2] != got[2] and got[3]


def test_stale_rows_are_marked(fleet) -> None:
    """Stale: no poll for three of the rounds' intervals (here 5 min, from the runs)."""
    snap, _table = fleet
    assert snap.stale_after == dt.timedelta(minutes=15)
    later = dataclasses.replace(snap, now=snap.now + dt.timedelta(hours=1))
    t = tables.fleet_table(later)
    marks = dict(zip(t.keys, t.marks, strict=True))
    assert marks.pop(DOWN) == tables.Mark.DOWN   # down outranks stale
    assert set(marks.values()) == {tables.Mark.STALE}
    assert "stale: no poll for 1 h" in t.tips[t.keys.index("node000")]


def test_remote_results_read_as_duckdb_reads_them() -> None:
    """What the report's code does with a DuckDB result works on the API's answer."""
    from onion.gui.remote import Result

    sql = "SELECT * FROM (VALUES ('a', 1.5, 2), ('b', NULL, 3)) t(k, x, n)"
    with duckdb.connect() as con:
        local = con.execute(sql).fetchnumpy()
        rel = con.execute(sql)
        remote = Result([d[0] for d in rel.description], rel.fetchall()).fetchnumpy()
    assert list(remote) == list(local) == ["k", "x", "n"]
    assert list(remote["k"]) == list(local["k"]) == ["a", "b"]

    def floats(col):  # as reports.series reads a value column
        return np.ma.filled(np.ma.asarray(col).astype(float), np.nan).tolist()

    for c in ("x", "n"):
        assert str(floats(remote[c])) == str(floats(local[c]))
    assert floats(remote["x"])[0] == 1.5 and np.isnan(floats(remote["x"])[1])
