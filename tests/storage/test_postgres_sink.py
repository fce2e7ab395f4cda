"""The PostgreSQL sink against a real PostgreSQL server (Debian's package, a cluster in a
temp folder on loopback): the contract (also run by the conformance suite), partitions
by day, the ledger, and what a down or refusing server costs."""

from __future__ import annotations

import datetime as dt
import decimal
import secrets
from pathlib import Path
from typing import Any

import pytest

from onion.core.errors import ConfigError, SinkError, StorageError
from onion.storage.batch import Batch
from onion.storage.postgres import PostgresSink
from onion.storage.schema import CORE
from onion.storage.sink import SinkContext, Written
from tests import pgserver
from tests.storage.test_conformance import OTHER, SAMPLES, TS, U64_MAX, Subject, batch, row

psycopg = pytest.importorskip("psycopg")


def pg_subject(server: pgserver.PGServer) -> Subject:
    def make(tmp: Path) -> PostgresSink:
        if tmp.exists() and tmp.is_file():   # "a destination that is down"
            from tests.sshd import free_port
            return PostgresSink("pg", server.dsn(port=free_port()), server.password,
                                connect_timeout=2)
        schema = "t_" + secrets.token_hex(6)
        marker = tmp / ".pg-schema"
        if marker.exists():                  # the same test's "new process": same schema
            schema = marker.read_text()
        else:
            tmp.mkdir(parents=True, exist_ok=True)
            marker.write_text(schema)
        return PostgresSink("pg", server.dsn(), server.password, schema)

    def read(sink: Any, table: str) -> list[dict[str, Any]]:
        sink.open()
        cur = sink.con.execute(f'SELECT * FROM "{sink.schema}"."{table}" ORDER BY run_id, host')
        names = [d.name for d in cur.description]
        out = []
        for r in cur.fetchall():
            out.append({n: int(v) if isinstance(v, decimal.Decimal) else v
                        for n, v in zip(names, r, strict=True)})
        return out

    def break_midway(sink: Any, tmp: Path) -> None:
        sink.ensure_schema({"other": OTHER})
        sink.con.execute(f'ALTER TABLE "{sink.schema}".other ADD CHECK (n < 100)')
        sink.con.commit()

    return Subject("postgresql", make, read, break_midway)


def test_days_are_partitions_and_the_ledger_is_in_the_same_transaction(pg, tmp_path):
    sink = pg_subject(pg).make(tmp_path)
    day2 = TS + dt.timedelta(days=1)
    b = batch(1, [row(counter=1), {**row(host="n2", counter=2), "ts": day2}])
    assert sink.write(b) is Written.STORED
    parts = sorted(r[0] for r in sink.con.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE p.relname = 'samples' AND n.nspname = %s", [sink.schema]).fetchall())
    assert parts == ["samples_20261201", "samples_20261202", "samples_default"]
    assert sink.con.execute(f'SELECT batch_id, rows FROM "{sink.schema}"._onion_batches'
                            ).fetchall() == [("1", 3)]
    assert sink.write(b) is Written.DUPLICATE
    assert sink.con.execute(f'SELECT count(*) FROM "{sink.schema}".samples').fetchone() == (2,)
    sink.close()


def test_hosts_keep_one_row_and_the_last_good_poll(pg, tmp_path):
    sink = pg_subject(pg).make(tmp_path)
    spec = CORE["hosts"]

    def hosts_batch(run_id: int, last_ok: dt.datetime | None) -> Batch:
        b = batch(run_id, [row(run_id=run_id, counter=1)])
        cols = {c: [None] for c in spec.names}
        cols.update(host=["n1"], address=[f"10.0.0.{run_id}"], last_ok=[last_ok])
        b.data["hosts"] = cols
        return b

    assert sink.write(hosts_batch(1, TS)) is Written.STORED
    assert sink.write(hosts_batch(2, None)) is Written.STORED     # a failed poll
    got = sink.con.execute(f'SELECT host, address, last_ok FROM "{sink.schema}".hosts'
                           ).fetchall()
    assert got == [("n1", "10.0.0.2", TS)]
    sink.close()


def test_exact_u64_and_types(pg, tmp_path):
    sink = pg_subject(pg).make(tmp_path)
    sink.write(batch(1, [row(counter=U64_MAX, tags=["a", "b"], flag=False, small=-5)]))
    types = dict(sink.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'samples'", [sink.schema]).fetchall())
    assert types["counter"] == "numeric" and types["gauge"] == "real"
    assert types["tags"] == "ARRAY" and types["seen"] == "timestamp without time zone"
    assert sink.con.execute(f'SELECT counter::text FROM "{sink.schema}".samples'
                            ).fetchone() == (str(U64_MAX),)
    assert SAMPLES.names[0] == "run_id"
    sink.close()


def test_a_wrong_password_or_a_down_server_is_a_clear_error(pg, tmp_path):
    bad = PostgresSink("pg", pg.dsn(), "not-the-password", connect_timeout=3)
    with pytest.raises(SinkError) as info:
        bad.open()
    assert "password authentication failed" in str(info.value)
    assert "not-the-password" not in str(info.value)
    down = pg_subject(pg).make(tmp_path / "file" if (tmp_path / "file").write_text("x") else
                               tmp_path)
    with pytest.raises(StorageError):
        down.open()
    assert not down.health().ok


def test_settings_are_checked(tmp_path):
    ctx = SinkContext(tmp_path / "o.duckdb", tmp_path)
    for table, message in (({"dsn": "mysql://x/y"}, "postgresql://"),
                           ({"dsn": "postgresql://x/y", "schema": "a;b"}, "schema"),
                           ({"dsn": "postgresql://x/y", "passwd": "z"}, "unknown setting"),
                           ({"dsn": "postgresql://x/y", "password_file": "nope"},
                            "password_file")):
        with pytest.raises(ConfigError, match=message):
            PostgresSink.from_config("pg", table, ctx)
    (tmp_path / "pw").write_text("s3cret\n")
    sink = PostgresSink.from_config("pg", {"dsn": "postgresql://u@h:1/d",
                                           "password_file": "pw"}, ctx)
    assert sink.password == "s3cret" and "s3cret" not in sink.where
