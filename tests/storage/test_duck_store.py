"""The DuckDB store's round path: what it skips must never cost a value.

The schema is checked once per connection (the one that holds the write lock), not once
per call, and hosts whose identity did not change get an UPDATE instead of the upsert.
Each case below fails if a shortcut keeps a stale answer or stores something else than
the plain path would.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from onion.core.types import LogicalType as T
from onion.storage import duck as store
from onion.storage.archive import Retention
from onion.storage.batch import Batch
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.schema import CORE, ROW_PREFIX, ColumnSpec, TableSpec

TS = dt.datetime(2026, 12, 1, 12, 0, 0)


def _spec(*cols: tuple[str, T]) -> TableSpec:
    return TableSpec("samples", ROW_PREFIX + tuple(ColumnSpec(n, t) for n, t in cols))


SAMPLES = _spec(("n", T.BIGINT))
GROWN = _spec(("n", T.BIGINT), ("extra", T.VARCHAR))


def batch(run_id: int, spec: TableSpec = SAMPLES, rows: int = 3,
          hosts: list[dict[str, Any]] | None = None) -> Batch:
    data: dict[str, dict[str, list[Any]]] = {"runs": {c: [None] for c in CORE["runs"].names}}
    data["runs"].update(run_id=[run_id], started_at=[TS])
    data["samples"] = {c: [None] * rows for c in spec.names}
    data["samples"].update(run_id=[run_id] * rows, host=["n1"] * rows, ts=[TS] * rows,
                           n=list(range(rows)))
    if "extra" in spec.names:
        data["samples"]["extra"] = ["x"] * rows
    if hosts:
        data["hosts"] = {c: [h.get(c) for h in hosts] for c in CORE["hosts"].names}
    return Batch(run_id, {**CORE, "samples": spec}, data)


def sink_at(tmp: Path) -> DuckDBSink:
    return DuckDBSink("duckdb", tmp / "o.duckdb", tmp / "archive", Retention(), None)


def store_round(sink: DuckDBSink, b: Batch) -> None:
    """As fanout does it: the schema, then the batch."""
    sink.open()
    sink.ensure_schema(b.tables)
    sink.write(b)


def count_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = store.ensure_schema

    def counted(con: Any, tables: Any) -> None:
        calls.append(1)
        real(con, tables)
    monkeypatch.setattr(store, "ensure_schema", counted)
    return calls


def forget_samples(con: duckdb.DuckDBPyConnection) -> None:
    """The database as it was before the samples table existed (a restored copy, or
    one another Onion changed): no spec, no views, no table."""
    views = [v for (v,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE "
        "'%samples%'").fetchall()]
    for v in views:
        con.execute(f'DROP VIEW IF EXISTS "{v}"')
    con.execute("DROP TABLE hot.samples")
    con.execute("DELETE FROM table_specs WHERE name = 'samples'")


def samples(db: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT * FROM hot.samples ORDER BY run_id, n").fetchall()


def test_the_schema_is_checked_once_per_connection(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_checks(monkeypatch)
    sink = sink_at(tmp_path)
    store_round(sink, batch(1))
    store_round(sink, batch(2))
    assert len(calls) == 1  # not once in ensure_schema and again in the batch's transaction
    sink.close()
    store_round(sink, batch(3))
    assert len(calls) == 2  # a new connection checks again
    sink.close()
    assert [r[0] for r in samples(tmp_path / "o.duckdb")] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_a_schema_changed_while_the_sink_was_closed_is_migrated(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)   # a daemon's: it lives on from round to round
    store_round(sink, batch(1))
    sink.close()
    with duckdb.connect(str(tmp_path / "o.duckdb")) as con:
        forget_samples(con)
    store_round(sink, batch(2))
    sink.close()
    assert [r[0] for r in samples(tmp_path / "o.duckdb")] == [2, 2, 2]
    with store.reading(tmp_path / "o.duckdb") as con:   # and its view is back
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (3,)


def test_a_grown_spec_on_the_same_connection_is_migrated(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    store_round(sink, batch(1))
    store_round(sink, batch(2, GROWN))
    sink.close()
    got = samples(tmp_path / "o.duckdb")
    assert [(r[0], r[-1]) for r in got] == [(1, None)] * 3 + [(2, "x")] * 3


def test_a_failed_write_makes_the_next_one_check_again(tmp_path: Path) -> None:
    sink = sink_at(tmp_path)
    store_round(sink, batch(1))
    assert sink.con is not None
    forget_samples(sink.con)   # under the open connection: the check said yes before
    with pytest.raises(Exception, match="samples"):
        store_round(sink, batch(2))
    store_round(sink, batch(2))  # the queue's retry: checked again, migrated, stored
    sink.close()
    assert [r[0] for r in samples(tmp_path / "o.duckdb")] == [2, 2, 2]


def host(name: str, at: dt.datetime, ok: bool, address: str = "10.0.0.1",
         groups: tuple[str, ...] = ("web",)) -> dict[str, Any]:
    return {"host": name, "address": address, "port": 22, "user": "onion",
            "groups": list(groups), "os": "linux", "first_seen": at, "last_seen": at,
            "last_ok": at if ok else None, "last_status": "ok" if ok else "timeout",
            "last_reason": None if ok else "no answer"}


def test_hosts_keep_first_seen_and_last_ok_whichever_way_they_are_stored(
        tmp_path: Path) -> None:
    t = [TS + dt.timedelta(minutes=5 * i) for i in range(4)]
    sink = sink_at(tmp_path)
    store_round(sink, batch(1, hosts=[host("n1", t[0], True), host("n2", t[0], True)]))
    # The same identity: the UPDATE of the state columns. A failed poll keeps last_ok.
    store_round(sink, batch(2, hosts=[host("n1", t[1], False), host("n2", t[1], True)]))
    # n1 moved and changed groups (the upsert), n2 unchanged and down, n3 is new.
    store_round(sink, batch(3, hosts=[host("n1", t[2], True, "10.0.0.9", ("db", "web")),
                                      host("n2", t[2], False), host("n3", t[2], True)]))
    sink.close()
    with duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True) as con:
        got = con.execute('SELECT host, address, groups, first_seen, last_seen, last_ok, '
                          'last_status, last_reason FROM hosts ORDER BY host').fetchall()
    assert got == [
        ("n1", "10.0.0.9", ["db", "web"], t[0], t[2], t[2], "ok", None),
        ("n2", "10.0.0.1", ["web"], t[0], t[2], t[1], "timeout", "no answer"),
        ("n3", "10.0.0.1", ["web"], t[2], t[2], t[2], "ok", None),
    ]


def test_a_batch_stores_the_same_as_lists_and_as_numpy_arrays(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A small batch goes through the appender (or list parameters, where DuckDB has no
    appender), a big one as numpy arrays (one choice for the whole batch): each stores
    every row, the hosts' upsert and UPDATE alike."""
    hosts = [{"host": "n1", "address": "10.0.0.1", "port": 22, "last_seen": TS,
              "last_ok": TS, "last_status": "ok", "first_seen": TS}]
    got = {}
    for mode in ("appender", "lists", "numpy"):
        monkeypatch.setattr(store, "_APPENDER", mode != "lists")
        monkeypatch.setattr(store, "_numpy_loaded", lambda: False)
        monkeypatch.setattr(store, "NUMPY_MIN_ROWS", 0 if mode == "numpy" else 16384)
        monkeypatch.setattr(store, "TYPED_MIN_ROWS", 1 if mode == "numpy" else 256)
        sink = sink_at(tmp_path / mode)
        (tmp_path / mode).mkdir()
        store_round(sink, batch(1, rows=5, hosts=hosts))
        store_round(sink, batch(2, rows=5, hosts=[{**hosts[0], "last_status": "failed",
                                                   "last_ok": None}]))
        assert sink.con is not None
        got[mode] = (sink.con.execute("SELECT run_id, host, ts, n FROM samples "
                                      "ORDER BY run_id, n").fetchall(),
                     sink.con.execute("SELECT * FROM hosts").fetchall())
        sink.close()
    assert got["appender"] == got["lists"] == got["numpy"]
    assert len(got["lists"][0]) == 10 and got["lists"][1][0][0] == "n1"
