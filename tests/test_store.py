"""The store's batch path: Python columns into DuckDB without losing a value."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import duckdb
import pytest

from onion.storage import duck as store

COLUMNS = [("a", "UINTEGER"), ("b", "UBIGINT"), ("c", "FLOAT"), ("d", "DOUBLE"),
           ("e", "BIGINT"), ("s", "VARCHAR"), ("ts", "TIMESTAMP"), ("g", "VARCHAR[]"),
           ("f", "BOOLEAN")]
T0 = dt.datetime(2026, 11, 28, 12, 0, 0)
ROWS = [
    (1, (1 << 64) - 1, 0.5, 1e300, -(1 << 63), "x", T0, ["g1"], True),
    (None, None, None, None, None, None, None, None, None),
    ((1 << 32) - 1, 0, -1.5, -0.0, 7, "ü ' \\n", T0 + dt.timedelta(seconds=300), [], False),
    (4, 5, 2.25, 3.5, 6, "y", T0.replace(tzinfo=dt.UTC) + dt.timedelta(hours=1), ["a", "b"], None),
]


@pytest.fixture
def con():
    c = duckdb.connect()
    c.execute("CREATE TABLE t (" + ", ".join(f"{n} {t}" for n, t in COLUMNS) + ")")
    yield c
    c.close()


PATHS = ["appender", "lists", "numpy"]


def use_path(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """The appender (the default below NUMPY_MIN_ROWS), list parameters (where DuckDB has
    no appender) or numpy arrays (a big batch), for every table whatever its size."""
    monkeypatch.setattr(store, "_numpy_loaded", lambda: False)   # as in a cron poll
    if path == "lists":
        monkeypatch.setattr(store, "_APPENDER", False)
    elif path == "numpy":
        monkeypatch.setattr(store, "NUMPY_MIN_ROWS", 0)
        monkeypatch.setattr(store, "TYPED_MIN_ROWS", 1)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("copies", [1, store.TYPED_MIN_ROWS, store.NUMPY_MIN_ROWS])
def test_every_value_and_null_survives(con, monkeypatch, copies: int, path: str) -> None:
    # Typed numpy columns are masked where NULL, timestamps datetime64; the appender and
    # list parameters take Python values. An aware timestamp is stored as its UTC wall time.
    use_path(monkeypatch, path)
    con.execute("SET TimeZone = 'Asia/Tokyo'")  # must not shift anything
    rows = ROWS * copies
    store.insert_rows(con, "t", COLUMNS, rows)
    got = con.execute("SELECT * FROM t ORDER BY rowid").fetchall()
    want = [tuple(v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in r)
            for r in rows]
    assert got == want


@pytest.mark.parametrize("path", PATHS)
def test_a_value_numpy_cannot_take_still_goes_through_duckdb(con, monkeypatch,
                                                             path: str) -> None:
    use_path(monkeypatch, path)
    # A huge int in a BIGINT column is not silently wrapped: DuckDB refuses it.
    with pytest.raises(duckdb.Error):
        store.insert_rows(con, "t", COLUMNS, [(1, 2, 0.0, 0.0, 1 << 70, "s", T0, [], True)])
    with pytest.raises(duckdb.Error):  # and a FLOAT out of range does not become inf
        store.insert_rows(con, "t", COLUMNS, [(1, 2, 1e300, 0.0, 1, "s", T0, [], True)])
    store.insert_rows(con, "t", COLUMNS, [(1, 2, 0.0, 0.0, "12", "s", T0, [], True),
                                          (1.6, 2, 0.0, 0.0, 1, "s", T0, [], True)])
    # Not numpy's truncation: DuckDB's own cast (rounding) for a float in an int column.
    assert con.execute("SELECT a, e FROM t").fetchall() == [(1, 12), (2, 1)]


@pytest.mark.parametrize("path", PATHS)
def test_nan_is_null_and_an_aware_time_its_utc_wall_time_on_every_path(con, monkeypatch,
                                                                        path: str) -> None:
    use_path(monkeypatch, path)
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    aware = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    store.insert_rows(con, "t", COLUMNS, [(1, 2, float("nan"), float("nan"), 3, "s", aware,
                                           ["a"], None)] * 3)
    assert con.execute("SELECT c, d, ts FROM t").fetchall() == \
        [(None, None, dt.datetime(2024, 1, 1, 0, 0))] * 3


def test_a_small_batch_is_stored_without_numpy(tmp_path) -> None:
    """numpy's import is 80-100 ms of a cron poll's CPU: fewer rows than NUMPY_MIN_ROWS
    go through the appender, and the poll of one host never imports it."""
    code = (
        "import sys, datetime as dt\n"
        "import duckdb\n"
        "from onion.storage import duck as store\n"
        f"con = duckdb.connect({str(tmp_path / 'x.duckdb')!r})\n"
        "con.execute('CREATE TABLE t (a BIGINT, b DOUBLE, c VARCHAR[], d TIMESTAMP)')\n"
        "store.insert_rows(con, 't', [('a', 'BIGINT'), ('b', 'DOUBLE'), ('c', 'VARCHAR[]'),"
        " ('d', 'TIMESTAMP')], [(i, i / 2, ['x'], dt.datetime(2024, 1, 1)) for i in range(300)])\n"
        "assert con.execute('SELECT count(*), sum(a) FROM t').fetchone() == (300, 44850)\n"
        "print('numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]


def test_numpy_once_imported_is_used_for_a_small_batch(con, monkeypatch) -> None:
    """A process that has imported numpy (a daemon, an earlier big batch) has paid for it:
    a small batch's tables of TYPED_MIN_ROWS or more go as typed arrays; smaller ones and
    a cron poll's (numpy never imported) through the appender."""
    used: list[str] = []
    real = store._arrays
    monkeypatch.setattr(store, "_arrays", lambda *a: used.append("numpy") or real(*a))
    rows = ROWS * store.TYPED_MIN_ROWS
    monkeypatch.setattr(store, "_numpy_loaded", lambda: True)
    store.insert_rows(con, "t", COLUMNS, rows)
    store.insert_rows(con, "t", COLUMNS, ROWS)          # a few rows: the appender still
    assert used == ["numpy"]
    monkeypatch.setattr(store, "_numpy_loaded", lambda: False)
    store.insert_rows(con, "t", COLUMNS, rows)
    assert used == ["numpy"]
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 2 * len(rows) + len(ROWS)
