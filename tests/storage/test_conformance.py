"""The contract every sink keeps (onion.storage.sink), run against each built-in sink.

A sink plugin's author can run the same cases against their own sink: add a
:class:`Subject` for it (how to build one in a folder, how to read a table back, and how
to make a write fail half-way) to ``SUBJECTS``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from onion.core.errors import StorageError
from onion.core.plugins import import_file
from onion.core.types import LogicalType as T
from onion.storage import duck as store
from onion.storage.archive import Retention
from onion.storage.batch import Batch
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.jsonl import JSONLinesSink
from onion.storage.schema import CORE, ROW_PREFIX, ColumnSpec, TableSpec
from onion.storage.sink import Sink, Written
from tests.conftest import EXAMPLE_PLUGINS

TS = dt.datetime(2026, 12, 1, 12, 0, 0)
U64_MAX = (1 << 64) - 1


def _spec(name: str, *cols: tuple[str, T]) -> TableSpec:
    return TableSpec(name, ROW_PREFIX + tuple(ColumnSpec(n, t) for n, t in cols))


SAMPLES = _spec("samples", ("counter", T.UBIGINT), ("gauge", T.FLOAT), ("ratio", T.DOUBLE),
                ("label", T.VARCHAR), ("flag", T.BOOLEAN), ("seen", T.TIMESTAMP),
                ("tags", T.VARCHAR_LIST), ("small", T.INTEGER))
OTHER = _spec("other", ("n", T.BIGINT))


def batch(run_id: int, rows: list[dict[str, Any]], tables: tuple[TableSpec, ...] = (SAMPLES,),
          other: list[dict[str, Any]] | None = None) -> Batch:
    specs = {**CORE, **{t.name: t for t in tables}}
    data: dict[str, dict[str, list[Any]]] = {
        "runs": {c: [None] for c in CORE["runs"].names}}
    data["runs"]["run_id"] = [run_id]
    data["runs"]["started_at"] = [TS]
    for spec, values in ((tables[0], rows), (OTHER, other)):
        if values is None or spec.name not in specs:
            continue
        data[spec.name] = {c: [r.get(c) for r in values] for c in spec.names}
    return Batch(run_id, specs, data)


def row(**kw: Any) -> dict[str, Any]:
    return {"run_id": kw.pop("run_id", 1), "host": kw.pop("host", "n1"), "ts": TS, **kw}


@dataclasses.dataclass
class Subject:
    name: str
    make: Callable[[Path], Sink]
    read: Callable[[Sink, str], list[dict[str, Any]]]
    break_midway: Callable[[Sink, Path], None]   # the next write fails on its 2nd table


def _duck_make(tmp: Path) -> Sink:
    return DuckDBSink("duckdb", tmp / "o.duckdb", tmp / "archive", Retention(), None)


def _duck_read(sink: Any, table: str) -> list[dict[str, Any]]:
    sink.close()
    with store.reading(sink.db_path) as con:
        rel = con.execute(f'SELECT * FROM "{table}" ORDER BY run_id, host')
        names = [d[0] for d in rel.description]
        return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]


def _duck_break(sink: Any, tmp: Path) -> None:
    # A CHECK that the second table's rows fail: DuckDB aborts the whole transaction.
    sink.open()
    sink.ensure_schema({"other": OTHER})
    sink.con.execute("ALTER TABLE hot.other ALTER COLUMN n SET DATA TYPE TINYINT")


def _jsonl_make(tmp: Path) -> Sink:
    return JSONLinesSink("text", tmp / "jsonl", rotate_bytes=4096)


def _jsonl_read(sink: Any, table: str) -> list[dict[str, Any]]:
    out = []
    folder = sink.path / table
    for f in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        out += [json.loads(line) for line in f.read_text().splitlines()]
    for r in out:
        for k in ("ts", "seen"):
            if isinstance(r.get(k), str):
                r[k] = dt.datetime.fromisoformat(r[k])
        r.pop("table", None)
    return sorted(out, key=lambda r: (r["run_id"], r["host"]))


def _jsonl_break(sink: Any, tmp: Path) -> None:
    # The second table's folder cannot be made: a file stands where it would go.
    sink.path.mkdir(parents=True, exist_ok=True)
    (sink.path / "other").write_text("in the way")


# The plugin author's guide's example sink, loaded as the drop-in file it is.
lite = import_file(EXAMPLE_PLUGINS / "sqlite_sink.py")


def _lite_make(tmp: Path) -> Sink:
    return lite.SQLiteSink("lite", tmp / "lite" / "o.sqlite")


def _lite_read(sink: Any, table: str) -> list[dict[str, Any]]:
    spec = {"samples": SAMPLES, "other": OTHER}[table]
    sink.open()
    cur = sink.con.execute(f'SELECT * FROM "{table}" ORDER BY run_id, host')
    names = [d[0] for d in cur.description]
    return [{n: lite.from_sqlite(spec.column(n).type, v) for n, v in zip(names, r, strict=True)
             if n in spec.names} for r in cur.fetchall()]


def _lite_break(sink: Any, tmp: Path) -> None:
    sink.ensure_schema({"other": OTHER})
    sink.con.execute("CREATE TRIGGER no_other BEFORE INSERT ON other "
                     "BEGIN SELECT RAISE(ABORT, 'refused'); END")


SUBJECTS = [Subject("duckdb", _duck_make, _duck_read, _duck_break),
            Subject("jsonl", _jsonl_make, _jsonl_read, _jsonl_break),
            Subject("sqlite-example", _lite_make, _lite_read, _lite_break)]


# Sinks of database servers: the server (a session fixture of tests/storage/conftest.py)
# starts when a case first needs it; each module builds its Subject on that server.
SERVERS = {"postgresql": ("pg", "tests.storage.test_postgres_sink", "pg_subject"),
           "mysql": ("mysql_server", "tests.storage.test_mysql_sink", "mysql_subject"),
           "clickhouse-chdb": ("chdb_engine", "tests.storage.test_clickhouse_sink",
                               "chdb_subject")}


@pytest.fixture(params=[*SUBJECTS, *SERVERS],
                ids=lambda s: s.name if isinstance(s, Subject) else s)
def subject(request: pytest.FixtureRequest) -> Subject:
    if isinstance(request.param, Subject):
        return request.param
    fixture, module, factory = SERVERS[request.param]
    server = request.getfixturevalue(fixture)
    return getattr(importlib.import_module(module), factory)(server)


def _write(sink: Sink, b: Batch) -> Written:
    sink.open()
    sink.ensure_schema(b.tables)
    return sink.write(b)


def test_a_replayed_batch_is_stored_once(subject: Subject, tmp_path: Path) -> None:
    sink = subject.make(tmp_path)
    b = batch(1, [row(counter=1, label="a"), row(host="n2", counter=2, label="b")])
    assert _write(sink, b) is Written.STORED
    assert _write(sink, b) is Written.DUPLICATE
    sink.close()
    again = subject.make(tmp_path)  # a new process: the ledger is on disk
    assert _write(again, b) is Written.DUPLICATE
    assert [r["counter"] for r in subject.read(again, "samples")] == [1, 2]
    again.close()


def test_a_failure_mid_batch_stores_nothing(subject: Subject, tmp_path: Path) -> None:
    sink = subject.make(tmp_path)
    assert _write(sink, batch(1, [row(counter=1)])) is Written.STORED
    subject.break_midway(sink, tmp_path)
    bad = batch(2, [row(run_id=2, counter=2)], tables=(SAMPLES, OTHER),
                other=[row(run_id=2, n=1000)])
    with pytest.raises(StorageError):
        _write(sink, bad)
    assert [r["counter"] for r in subject.read(sink, "samples")] == [1]
    sink.close()


def test_a_new_column_is_added(subject: Subject, tmp_path: Path) -> None:
    sink = subject.make(tmp_path)
    narrow = _spec("samples", ("counter", T.UBIGINT))
    assert _write(sink, batch(1, [row(counter=1)], tables=(narrow,))) is Written.STORED
    assert _write(sink, batch(2, [row(run_id=2, counter=2, label="new")])) is Written.STORED
    rows = subject.read(sink, "samples")
    assert [(r["counter"], r.get("label")) for r in rows] == [(1, None), (2, "new")]
    sink.close()


def test_values_survive_exactly(subject: Subject, tmp_path: Path) -> None:
    sink = subject.make(tmp_path)
    full = row(counter=U64_MAX, gauge=3.5, ratio=1 / 3, label="ünïcode \"q\" 'x'\n;",
               flag=True, seen=dt.datetime(2026, 1, 2, 3, 4, 5, 6), tags=["a", "b"],
               small=-(1 << 31))
    empty = row(host="n2")
    assert _write(sink, batch(1, [full, empty])) is Written.STORED
    got = subject.read(sink, "samples")
    for want, have in zip([full, empty], got, strict=True):
        for name in SAMPLES.names:
            assert have.get(name) == want.get(name), (name, have.get(name), want.get(name))
    sink.close()


def test_a_down_destination_is_a_storage_error(subject: Subject, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sink = subject.make(blocker)  # its folder would be below a plain file
    with pytest.raises(StorageError):
        _write(sink, batch(1, [row(counter=1)]))
    assert not sink.health().ok
    sink.close()


def test_the_database_is_readable_while_the_sink_is_closed(tmp_path: Path) -> None:
    sink = _duck_make(tmp_path)
    _write(sink, batch(1, [row(counter=1)]))
    sink.close()
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM samples").fetchone() == (1,)
    con.close()
