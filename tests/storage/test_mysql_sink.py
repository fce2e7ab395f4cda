"""The MySQL sink against a real MariaDB server (Debian's package, a server in a temp
folder on loopback: tests/mysqld.py, one per session): the contract (the conformance
suite runs it too, through :func:`mysql_subject`), every type exactly, the hosts table,
and what a down or refusing server costs."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from onion.core.errors import ConfigError, SinkError, StorageError
from onion.core.types import FLOAT32_MAX, INT_RANGES
from onion.core.types import LogicalType as T
from onion.storage.batch import Batch
from onion.storage.mysql import (
    MySQLSink,
    Target,
    from_mysql,
    ident,
    insert_statement,
    select_expr,
)
from onion.storage.schema import CORE, ROW_PREFIX, ColumnSpec, TableSpec
from onion.storage.sink import Sink, SinkContext, Written
from tests import mysqld
from tests.sshd import free_port
from tests.storage.test_conformance import OTHER, SAMPLES, TS, U64_MAX, Subject, batch, row

SPECS = {"samples": SAMPLES, "other": OTHER, "hosts": CORE["hosts"], "runs": CORE["runs"]}


_databases = itertools.count(1)


@pytest.fixture
def db(mysql_server: mysqld.MariaDB) -> str:
    """A fresh database of the test user's (one server serves the whole session)."""
    return mysql_server.create_database(f"t{next(_databases)}")


# -- the conformance suite's subject --------------------------------------------------------


def read_rows(server: mysqld.MariaDB, database: str, table: str,
              spec: TableSpec | None = None, order: str = "run_id, host") -> list[dict[str, Any]]:
    """A table's rows as Python values, read over a connection of its own (what another
    process would see), FLOAT columns at their full 32 bits."""
    spec = spec or SPECS.get(table)
    con = server.admin(database)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                        "TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                        [database, table])
            names = [r[0] for r in cur.fetchall()]
            kinds = {c.name: c.type for c in spec.columns} if spec else {}
            cols = ", ".join(select_expr(n, kinds[n]) if n in kinds else ident(n)
                             for n in names)
            cur.execute(f"SELECT {cols} FROM {ident(table)} ORDER BY {order}")
            return [{n: from_mysql(kinds[n], v) if n in kinds else v
                     for n, v in zip(names, r, strict=True)} for r in cur.fetchall()]
    finally:
        con.close()


def mysql_subject(server: mysqld.MariaDB) -> Subject:
    """The MySQL sink for the shared conformance cases. ``make(folder)`` gives a database
    of that folder's own (the same one when called again with it: "a new process");
    ``make(file)`` a sink whose server is down (nothing listens on its port)."""

    def make(path: Path) -> Sink:
        if path.is_file():
            return MySQLSink("mysql", Target("127.0.0.1", free_port(), server.user, "down",
                                             server.password, connect_timeout=2))
        database = server.create_database(
            "c_" + hashlib.sha256(str(path).encode()).hexdigest()[:16])
        dsn = (f"mysql://{server.user}:{quote(server.password, safe='')}@127.0.0.1:"
               f"{server.port}/{database}")
        return MySQLSink.from_config("mysql", {"type": "mysql", "dsn": dsn},
                                     SinkContext(path / "o.duckdb", path))

    def read(sink: Any, table: str) -> list[dict[str, Any]]:
        return read_rows(server, sink.target.database, table)

    def break_midway(sink: Any, tmp: Path) -> None:
        # A column too narrow for the second table's value: strict mode refuses the row.
        sink.ensure_schema({"other": OTHER})
        server.sql("ALTER TABLE `other` MODIFY `n` TINYINT", database=sink.target.database)

    return Subject("mysql", make, read, break_midway)


# -- helpers --------------------------------------------------------------------------------


def configured(server: mysqld.MariaDB, database: str, tmp: Path, password: str | None = None,
               **extra: Any) -> MySQLSink:
    """A sink from its [sinks.my] table, its password in a file."""
    (tmp / "mysql.password").write_text((password or server.password) + "\n")
    table = {"type": "mysql", "dsn": server.dsn(database), "password_file": "mysql.password",
             "connect_timeout": "5s", **extra}
    return MySQLSink.from_config("my", table, SinkContext(tmp / "o.duckdb", tmp))


def put(sink: Sink, b: Batch) -> Written:
    sink.open()
    sink.ensure_schema(b.tables)
    return sink.write(b)


def ledger(server: mysqld.MariaDB, database: str) -> list[tuple]:
    return server.sql("SELECT batch_id, `rows` FROM _onion_batches ORDER BY batch_id",
                      database=database)


# -- settings -------------------------------------------------------------------------------


def test_settings_are_checked(tmp_path: Path) -> None:
    ctx = SinkContext(tmp_path / "o.duckdb", tmp_path)
    cases = (({"dsn": "postgresql://u@h/d"}, "mysql://"),
             ({"dsn": "mysql://h/d"}, "user and the database"),
             ({"dsn": "mysql://u@h/"}, "user and the database"),
             ({"dsn": "mysql://u:s3cret@h:port/d"}, "port cannot be read"),
             ({"dsn": "mysql://u@h/d?ssl=1"}, "options go in the sink's settings"),
             ({"dsn": "mysql://u@h/d", "passwd": "x"},
              r"unknown setting\(s\) passwd \(known: connect_timeout, dsn, password_file, "),
             ({"dsn": "mysql://u:s3cret@h/d", "password_file": "pw"}, "keep one"),
             ({"dsn": "mysql://u@h/d", "password_file": "nope"}, "password_file"),
             ({"dsn": "mysql://u@h/d", "connect_timeout": "soon"}, "not a duration"),
             ({"dsn": "mysql://u@h/d", "timeout": "0"}, "between 1s"),
             ({"dsn": "mysql://u@h/d", "tls_ca": "no-ca.pem"}, "tls_ca"),
             ({}, "dsn"))
    (tmp_path / "pw").write_text("s3cret\n")
    for table, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            MySQLSink.from_config("my", {"type": "mysql", **table}, ctx)
        assert "s3cret" not in str(info.value)
    sink = MySQLSink.from_config("my", {"type": "mysql", "dsn": "mariadb://u@db:3307/onion",
                                        "password_file": "pw", "connect_timeout": "3s"}, ctx)
    t = sink.target
    assert (t.host, t.port, t.user, t.database, t.password) == ("db", 3307, "u", "onion",
                                                                "s3cret")
    assert t.connect_timeout == 3 and t.timeout == 300
    assert "s3cret" not in sink.where and "s3cret" not in repr(t)
    quoted = MySQLSink.from_config("my", {"dsn": "mysql://u%40x:p%2Fw@h/d%2Db"}, ctx).target
    assert (quoted.user, quoted.password, quoted.database, quoted.port) == \
        ("u@x", "p/w", "d-b", 3306)


# -- the contract ---------------------------------------------------------------------------


def test_a_replayed_batch_is_stored_once(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path)
    b = batch(1, [row(counter=1, label="a"), row(host="n2", counter=2, label="b")])
    assert put(sink, b) is Written.STORED
    assert put(sink, b) is Written.DUPLICATE
    sink.close()
    sink.close()                                   # twice is fine
    again = configured(mysql_server, db, tmp_path)   # a new process: the ledger is there
    assert put(again, b) is Written.DUPLICATE
    central = batch(7, [row(run_id=7, counter=3)])
    central.origin = "poller-a"
    assert put(again, central) is Written.STORED
    assert [r["counter"] for r in read_rows(mysql_server, db, "samples")] == [1, 2, 3]
    # runs + samples rows, in the same transaction as the rows themselves
    assert ledger(mysql_server, db) == [("1", 3), ("poller-a/7", 2)]
    again.close()


def test_two_writers_of_one_batch_store_it_once(mysql_server, db, tmp_path):
    sinks = [configured(mysql_server, db, tmp_path) for _ in range(2)]
    for s in sinks:
        s.ensure_schema({**CORE, "samples": SAMPLES})
    b = batch(1, [row(counter=n, host=f"n{n}") for n in range(300)])
    start = threading.Barrier(2)
    got: list[Written] = []

    def go(sink: MySQLSink) -> None:
        start.wait()
        got.append(sink.write(b))

    threads = [threading.Thread(target=go, args=(s,)) for s in sinks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == [Written.DUPLICATE, Written.STORED]
    assert len(read_rows(mysql_server, db, "samples")) == 300
    for s in sinks:
        s.close()


def test_a_failure_mid_batch_stores_nothing_and_a_retry_stores_all(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path)
    assert put(sink, batch(1, [row(counter=1)])) is Written.STORED
    sink.ensure_schema({"other": OTHER})
    mysql_server.sql("CREATE TRIGGER no_other BEFORE INSERT ON `other` FOR EACH ROW "
                     "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'",
                     database=db)
    bad = batch(2, [row(run_id=2, counter=2)], tables=(SAMPLES, OTHER),
                other=[row(run_id=2, n=1000)])
    with pytest.raises(StorageError, match="refused by the test"):
        put(sink, bad)
    assert [r["counter"] for r in read_rows(mysql_server, db, "samples")] == [1]
    assert [r["run_id"] for r in read_rows(mysql_server, db, "runs", order="run_id")] == [1]
    assert ledger(mysql_server, db) == [("1", 2)]
    mysql_server.sql("DROP TRIGGER no_other", database=db)
    assert put(sink, bad) is Written.STORED          # handed over again from the queue
    assert [r["counter"] for r in read_rows(mysql_server, db, "samples")] == [1, 2]
    assert [r["n"] for r in read_rows(mysql_server, db, "other")] == [1000]
    sink.close()


def test_a_new_column_is_added_and_types_are_mysql_s(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path)
    narrow = TableSpec("samples", (*ROW_PREFIX, ColumnSpec("counter", T.UBIGINT)))
    assert put(sink, batch(1, [row(counter=1)], tables=(narrow,))) is Written.STORED
    assert put(sink, batch(2, [row(run_id=2, counter=2, label="new", tags=["x"])])) \
        is Written.STORED
    rows = read_rows(mysql_server, db, "samples")
    assert [(r["counter"], r["label"], r["tags"]) for r in rows] == \
        [(1, None, None), (2, "new", ["x"])]
    types = dict(mysql_server.sql(
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'samples'"))
    assert types == {"run_id": "bigint(20) unsigned", "host": "varchar(255)",
                     "ts": "datetime(6)", "counter": "bigint(20) unsigned", "gauge": "float",
                     "ratio": "double", "label": "mediumtext", "flag": "tinyint(1)",
                     "seen": "datetime(6)", "tags": "longtext", "small": "int(11)"}
    indexes = mysql_server.sql("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema."
                               f"STATISTICS WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = "
                               "'samples' ORDER BY SEQ_IN_INDEX")
    assert indexes == [("host_ts", "host"), ("host_ts", "ts")]
    engine = mysql_server.sql("SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
                              f"WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'samples'")
    assert engine == [("InnoDB", "utf8mb4_bin")]
    sink.close()


EVERY = TableSpec("every", ROW_PREFIX + tuple(
    ColumnSpec(f"c_{t.name.lower()}", t) for t in T) + (ColumnSpec("we`ird %s 'x'", T.VARCHAR),))


def test_every_type_survives_exactly(mysql_server, db, tmp_path):
    ints = {f"c_{t.name.lower()}": r for t, r in INT_RANGES.items()}
    low = row(**{k: lo for k, (lo, _) in ints.items()}, c_float=-FLOAT32_MAX,
              c_double=5e-324, c_boolean=False, c_varchar="",
              c_timestamp=dt.datetime(1970, 1, 1), c_varchar_list=[])
    high = row(host="n2", **{k: hi for k, (_, hi) in ints.items()}, c_float=3.5,
               c_double=1 / 3, c_boolean=True,
               c_varchar="ünïcode 🧅 \"q\" 'x' `b` \\ %s\n;\t\x00end",
               c_timestamp=dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
               c_varchar_list=["a", "ü \"q\"", "", "🧅"], **{"we`ird %s 'x'": "odd name"})
    exact = row(host="n3", c_float=16777216.0, c_double=sys.float_info.max,
                c_timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, 6), c_varchar_list=("t", "u"))
    aware = row(host="n4", c_timestamp=dt.datetime(2026, 1, 2, 5, 4, 5, 6,
                                                   tzinfo=dt.timezone(dt.timedelta(hours=2))))
    empty = row(host="n5")
    b = batch(1, [low, high, exact, aware, empty], tables=(EVERY,))
    sink = configured(mysql_server, db, tmp_path)
    assert put(sink, b) is Written.STORED
    got = read_rows(mysql_server, db, "every", EVERY)
    exact["c_varchar_list"] = ["t", "u"]           # a tuple reads back as a list
    aware["c_timestamp"] = dt.datetime(2026, 1, 2, 3, 4, 5, 6)   # naive UTC
    for want, have in zip([low, high, exact, aware, empty], got, strict=True):
        for name in EVERY.names:
            w, h = want.get(name), have[name]
            assert h == w and type(h) is type(w), (want["host"], name, h, w)
    assert got[1]["c_ubigint"] == U64_MAX
    sink.close()


def test_hosts_keep_one_row_and_the_last_good_poll(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path)
    spec = CORE["hosts"]
    later = TS + dt.timedelta(minutes=5)

    def hosts_batch(run_id: int, hosts: list[dict[str, Any]]) -> Batch:
        b = batch(run_id, [row(run_id=run_id, counter=1)])
        b.data["hosts"] = {c: [h.get(c) for h in hosts] for c in spec.names}
        return b

    assert put(sink, hosts_batch(1, [
        {"host": "n1", "address": "10.0.0.1", "first_seen": TS, "last_seen": TS,
         "last_ok": TS, "last_status": "ok", "groups": ["web"], "port": 22},
        {"host": "N1", "address": "10.0.0.9", "first_seen": TS, "last_ok": TS}])) \
        is Written.STORED
    assert put(sink, hosts_batch(2, [   # a failed poll: no last_ok
        {"host": "n1", "address": "10.0.0.2", "first_seen": later, "last_seen": later,
         "last_ok": None, "last_status": "unreachable", "groups": ["web", "db"],
         "port": 2222}])) is Written.STORED
    got = read_rows(mysql_server, db, "hosts", order="host")
    assert [(h["host"], h["address"], h["first_seen"], h["last_seen"], h["last_ok"],
             h["last_status"], h["groups"], h["port"]) for h in got] == [
        ("N1", "10.0.0.9", TS, None, TS, None, None, None),   # binary: another host
        ("n1", "10.0.0.2", TS, later, TS, "unreachable", ["web", "db"], 2222)]
    sink.close()


def test_a_hostile_table_name_is_refused(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path)
    assert put(sink, batch(1, [row(counter=1)])) is Written.STORED
    for name in ("x`; DROP TABLE samples; --", "a.b", "", "x" * 65, "ünï"):
        evil = TableSpec(name, ROW_PREFIX)
        b = batch(2, [row(run_id=2)], tables=(evil,))
        with pytest.raises(SinkError, match="cannot name a MySQL table"):
            put(sink, b)
        with pytest.raises(SinkError, match="cannot name a MySQL table"):
            sink.write(b)
    assert [r["counter"] for r in read_rows(mysql_server, db, "samples")] == [1]
    assert ledger(mysql_server, db) == [("1", 2)]
    sink.close()


# -- servers that are down, refuse, or go away ---------------------------------------------


def test_a_down_server_is_a_sink_error(mysql_server, tmp_path):
    port = free_port()
    sink = MySQLSink("my", Target("127.0.0.1", port, "onion", "onion", "pw-xyz",
                                  connect_timeout=2))
    where = re.escape(f"mysql://onion@127.0.0.1:{port}/onion: Can't connect")
    with pytest.raises(SinkError, match=where):
        put(sink, batch(1, [row(counter=1)]))
    health = sink.health()
    assert not health.ok and "Can't connect" in health.detail and "pw-xyz" not in health.detail
    sink.close()
    sink.close()


def test_the_password_file_and_a_wrong_password(mysql_server, db, tmp_path):
    good = configured(mysql_server, db, tmp_path)
    health = good.health()
    assert health.ok and "MariaDB" in health.detail, health
    good.close()
    bad = configured(mysql_server, db, tmp_path, password="not-the-password")
    with pytest.raises(SinkError, match="Access denied for user 'onion'") as info:
        bad.open()
    assert "not-the-password" not in str(info.value)
    assert "not-the-password" not in repr(info.value.__cause__)
    health = bad.health()
    assert not health.ok and "Access denied" in health.detail
    assert "not-the-password" not in health.detail
    in_dsn = MySQLSink.from_config("my", {"dsn": mysql_server.dsn(db).replace(
        "onion@", f"onion:{quote(mysql_server.password, safe='')}@")},
        SinkContext(tmp_path / "o.duckdb", tmp_path))
    assert in_dsn.health().ok
    in_dsn.close()


def test_a_unix_socket(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path, unix_socket=str(mysql_server.socket))
    assert put(sink, batch(1, [row(counter=1)])) is Written.STORED
    assert sink.where == f"mysql://onion@socket {mysql_server.socket}/{db}"
    sink.close()


def test_tls_checks_the_server_certificate(mysql_server, db, tmp_path):
    if mysql_server.tls_ca is None:
        pytest.skip("openssl is not installed: the test server has no TLS")
    sink = configured(mysql_server, db, tmp_path, tls_ca=str(mysql_server.tls_ca))
    assert put(sink, batch(1, [row(counter=1)])) is Written.STORED
    with sink.con.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert cur.fetchone()[1].startswith("TLS")
    sink.close()
    assert mysqld._tls(tmp_path / "other")        # a CA that did not sign the server's
    stranger = configured(mysql_server, db, tmp_path, tls_ca=str(tmp_path / "other/ca.pem"))
    with pytest.raises(SinkError, match="certificate verify failed"):
        stranger.open()
    assert not stranger.health().ok


def test_a_dropped_connection_costs_one_write(mysql_server, db, tmp_path):
    sink = configured(mysql_server, db, tmp_path)
    assert put(sink, batch(1, [row(counter=1)])) is Written.STORED
    mysql_server.sql(f"KILL {sink.con.thread_id()}")
    with pytest.raises(SinkError, match=r"Lost connection|gone away"):
        sink.write(batch(2, [row(run_id=2, counter=2)]))
    assert sink.health().ok                          # connected again
    assert put(sink, batch(2, [row(run_id=2, counter=2)])) is Written.STORED
    assert [r["counter"] for r in read_rows(mysql_server, db, "samples")] == [1, 2]
    sink.close()


def test_big_batches_go_in_multi_row_statements_within_the_packet(mysql_server, db, tmp_path):
    import pymysql.cursors
    for spec in (SAMPLES, CORE["hosts"], EVERY):
        sql = insert_statement(spec.name, spec, spec.names)
        assert pymysql.cursors.RE_INSERT_VALUES.match(sql), sql   # one statement per chunk
    # A server that takes small packets only: statements are cut to fit.
    mysql_server.sql("SET GLOBAL max_allowed_packet = 65536")
    try:
        sink = configured(mysql_server, db, tmp_path)
        rows = [row(host=f"n{i:05}", counter=i, label="x" * 100) for i in range(2500)]
        assert put(sink, batch(1, rows)) is Written.STORED
        sink.close()
    finally:
        mysql_server.sql("SET GLOBAL max_allowed_packet = 16777216")
    got = read_rows(mysql_server, db, "samples")
    assert [r["counter"] for r in got] == list(range(2500))
    assert ledger(mysql_server, db) == [("1", 2501)]
