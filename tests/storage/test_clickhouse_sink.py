"""The ClickHouse sink: the contract on ClickHouse inside this process (chDB; the
conformance suite runs it too), and against a real server when ONION_CLICKHOUSE_URL
names one (there is none in the package registries here)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest

from onion.core.errors import ConfigError, SinkError
from onion.storage.clickhouse import ClickHouseSink, from_json
from onion.storage.schema import CORE
from onion.storage.sink import SinkContext, Written
from tests.storage.test_conformance import OTHER, SAMPLES, TS, U64_MAX, Subject, batch, row

SPECS = {"samples": SAMPLES, "other": OTHER, "hosts": CORE["hosts"]}


def _read(sink: Any, table: str) -> list[dict[str, Any]]:
    sink.open()
    spec = SPECS[table]
    rows = sink.backend.rows(f"SELECT * FROM `{table}` ORDER BY run_id, host")
    return [{k: from_json(spec.column(k).type, v) for k, v in r.items()} for r in rows]


def chdb_subject(_: Any = None) -> Subject:
    def make(tmp: Path) -> ClickHouseSink:
        return ClickHouseSink("ch", f"chdb://{tmp / 'ch'}")

    def break_midway(sink: Any, tmp: Path) -> None:
        sink.ensure_schema({"other": OTHER})
        # The second table refuses the next batch's rows (n = 1000).
        sink.backend.command("ALTER TABLE other_rows ADD CONSTRAINT small CHECK n < 100")

    return Subject("clickhouse-chdb", make, _read, break_midway)


@pytest.fixture
def sink(chdb_engine, tmp_path):
    s = chdb_subject().make(tmp_path)
    yield s
    s.close()


def test_a_batch_cut_half_way_is_invisible_and_whole_after_its_retry(sink, tmp_path):
    chdb_subject().break_midway(sink, tmp_path)
    b = batch(2, [row(run_id=2, counter=2)], tables=(SAMPLES, OTHER),
              other=[row(run_id=2, n=1000)])
    with pytest.raises(SinkError):
        sink.write(b)
    assert _read(sink, "samples") == []                   # its first table's rows: hidden
    assert sink.backend.rows("SELECT count() AS n FROM samples_rows") == [{"n": 1}]
    sink.backend.command("ALTER TABLE other_rows DROP CONSTRAINT small")
    assert sink.write(b) is Written.STORED                # the retry: deduplicated
    assert sink.backend.rows("SELECT count() AS n FROM samples_rows") == [{"n": 1}]
    assert [r["counter"] for r in _read(sink, "samples")] == [2]
    assert [r["n"] for r in _read(sink, "other")] == [1000]


def test_types_partitions_and_order(sink):
    sink.write(batch(1, [row(counter=U64_MAX, tags=None, flag=True),
                         {**row(host="n2", counter=1), "ts": TS + dt.timedelta(days=1)}]))
    cols = {r["name"]: r["type"] for r in sink.backend.rows(
        "SELECT name, type FROM system.columns WHERE table = 'samples_rows'")}
    assert cols["counter"] == "Nullable(UInt64)" and cols["gauge"] == "Nullable(Float32)"
    assert cols["seen"] == "Nullable(DateTime64(6))" and cols["host"] == "String"
    t = sink.backend.rows("SELECT partition_key, sorting_key FROM system.tables "
                          "WHERE name = 'samples_rows'")[0]
    assert t == {"partition_key": "toYYYYMMDD(ts)", "sorting_key": "host, ts"}
    parts = {r["partition"] for r in sink.backend.rows(
        "SELECT DISTINCT partition FROM system.parts WHERE table = 'samples_rows'")}
    assert parts == {"20261201", "20261202"}
    assert _read(sink, "samples")[0]["counter"] == U64_MAX


def test_hosts_keep_one_row_and_the_last_good_poll(sink):
    spec = CORE["hosts"]

    def hosts_batch(run_id: int, last_ok: dt.datetime | None):
        b = batch(run_id, [row(run_id=run_id, counter=1)])
        cols = {c: [None] for c in spec.names}
        cols.update(host=["n1"], address=[f"10.0.0.{run_id}"], last_ok=[last_ok])
        b.data["hosts"] = cols
        return b

    sink.write(hosts_batch(1, TS))
    sink.write(hosts_batch(2, None))
    got = sink.backend.rows("SELECT host, address, last_ok FROM hosts")
    assert got == [{"host": "n1", "address": "10.0.0.2", "last_ok": "2026-12-01 12:00:00.000000"}]


def test_settings_are_checked(tmp_path):
    ctx = SinkContext(tmp_path / "o.duckdb", tmp_path)
    for table, message in (({"dsn": "postgresql://x/y"}, "clickhouse://"),
                           ({"dsn": "chdb:///x", "user": "u"}, "unknown setting"),
                           ({"dsn": "clickhouse://h:8123/d", "password_file": "nope"},
                            "password_file")):
        with pytest.raises(ConfigError, match=message):
            ClickHouseSink.from_config("ch", table, ctx)


SERVER = os.environ.get("ONION_CLICKHOUSE_URL")


@pytest.mark.skipif(not SERVER, reason="no ClickHouse server: set ONION_CLICKHOUSE_URL="
                    "clickhouse://USER:PASSWORD@HOST:8123/DATABASE to test against one")
def test_against_a_clickhouse_server():
    import secrets

    sink = ClickHouseSink("ch", str(SERVER))
    sink.open()
    db = "onion_test_" + secrets.token_hex(4)
    sink.backend.command(f"CREATE DATABASE {db}")
    sink.close()
    base, _, _ = str(SERVER).rpartition("/")
    sink = ClickHouseSink("ch", f"{base}/{db}")
    try:
        b = batch(1, [row(counter=U64_MAX, label="x", seen=TS, tags=["a"], flag=True)])
        assert sink.write(b) is Written.STORED and sink.write(b) is Written.DUPLICATE
        got = _read(sink, "samples")
        assert got[0]["counter"] == U64_MAX and got[0]["tags"] == ["a"]
    finally:
        sink.backend.command(f"DROP DATABASE {db}")
        sink.close()
