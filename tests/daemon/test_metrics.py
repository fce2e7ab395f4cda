"""The Prometheus exposition of ``/metrics``, over databases written by the real store path
and read through the locked-down connection; parsed back with prometheus_client's parser."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from onion.cli.main import main
from onion.core.status import HostStatus, ProbeStatus
from onion.daemon.metrics import CONTENT_TYPE, Family, MetricKind, Sample, exposition, fleet
from onion.inventory.model import Host
from onion.poller.collect import HostResult, ProbeResult
from onion.poller.run import make_batch
from onion.probes.base import OS
from onion.probes.registry import installed
from onion.storage import duck as store
from onion.storage.schema import tables_for
from tests.synthetic import history, store_batch

# Values from remote machines that a careless writer would let break the format.
HOSTILE_HOST = 'evil"host\\\n} ,x="1"{ ü☃\r\t'
HOSTILE_MOUNT = '/mnt/we"ird\\dir\nname} {a="b"},=é'
HOSTILE_DEVICE = '//srv/share"\\\n'
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def scrape(db: Path) -> tuple[str, dict[str, Any]]:
    """The exposition of a database, and its families as the parser reads them back."""
    with store.reading(db) as con:
        text = exposition(fleet(con))
    parsed = {m.name: m for m in text_string_to_metric_families(text)}
    return text, parsed


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with store.reading(db) as con:
        return con.execute(sql).fetchall()


def values(parsed: dict[str, Any], name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """One family's samples: (host, *labels) -> value."""
    return {(s.labels["host"], *(s.labels[k] for k in labels)): s.value
            for s in parsed[name].samples}


def record(cls: type, **given: Any) -> Any:
    """A probe record with the fields given and NULL in every other one."""
    return cls(**{f.name: given.get(f.name) for f in dataclasses.fields(cls)})


def store_hosts(db: Path, results: list[HostResult], probe_names: list[str]) -> None:
    """One run of these host results, written as `onion poll` writes its batch."""
    probes = [installed()[n] for n in probe_names]
    run_id = int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    store_batch(db, make_batch(run_id, results, probes,
                               {"run_id": run_id, "hosts": len(results)}))


@pytest.fixture(scope="module")
def polled(tmp_path_factory) -> Path:
    """This machine, polled once by `onion poll` (no inventory: the local transport)."""
    tmp = tmp_path_factory.mktemp("polled")
    (tmp / "none.toml").write_text("")
    db = tmp / "onion.duckdb"
    result = CliRunner().invoke(
        main, ["poll", "--config", str(tmp / "none.toml"), "--db", str(db)],
        env={"XDG_DATA_HOME": str(tmp)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """A host with a hostile name and mount point, and a second host that timed out."""
    db = tmp_path_factory.mktemp("hostile") / "onion.duckdb"
    probes = installed()
    fs = probes["filesystems"].record
    mounts = [record(fs, mount=HOSTILE_MOUNT, device=HOSTILE_DEVICE, fstype="cifs",
                     size_bytes=1 << 40, used_bytes=(1 << 40) - 1, used_pct=99.5),
              record(fs, mount="/", device="/dev/sda1", used_bytes=5, inodes_total=9),
              # the same mount point twice (over-mounted): Prometheus refuses duplicates
              record(fs, mount="/", device="/dev/sda2", used_bytes=7, inodes_total=9)]
    nics = [record(probes["network"].record, interface="eth0", up=True, rx_bytes=(1 << 64) - 1),
            record(probes["network"].record, interface="eth1", up=False, rx_bytes=0)]
    cpu = [record(probes["cpu"].record, ncpu=4, load_1m=math.nan, load_5m=math.inf,
                  user_seconds=12.5)]
    gpus = [record(probes["gpu"].record, index=i, uuid=f"GPU-{i}", name="NVIDIA H200",
                   mig_enabled=False, utilization_pct=12.5 * i, ecc_errors_uncorrected=i)
            for i in (0, 1)]
    temps = [record(probes["temperatures"].record, chip="coretemp-isa-0000", sensor=s,
                    celsius=c) for s, c in (("Core 0", 41.0), ("Package id 0", 45.5))]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ok = HostResult(Host(name=HOSTILE_HOST), HostStatus.OK, collected_at=now, os=OS.LINUX,
                    connect_s=0.25, command_s=0.5, bytes_read=1234,
                    probes={"filesystems": ProbeResult("filesystems", ProbeStatus.OK, None, mounts),
                            "network": ProbeResult("network", ProbeStatus.OK, None, nics),
                            "cpu": ProbeResult("cpu", ProbeStatus.OK, None, cpu),
                            "gpu": ProbeResult("gpu", ProbeStatus.OK, None, gpus),
                            "temperatures": ProbeResult("temperatures", ProbeStatus.PARTIAL,
                                                        "1 line left out", temps)})
    down = HostResult(Host(name="down01"), HostStatus.TIMEOUT, "timed out", collected_at=now,
                      connect_s=10.0)
    store_hosts(db, [ok, down], ["filesystems", "network", "cpu", "gpu", "temperatures"])
    return db


# -- a real poll of this machine ------------------------------------------------------------


def test_local_poll_parses_and_matches_the_latest_views(polled):
    text, parsed = scrape(polled)
    assert text.endswith("\n")
    assert all(m.type in ("gauge", "counter") for m in parsed.values())
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            assert NAME.fullmatch(line.split()[2])

    used = dict(((h, m), v) for h, m, v in query(
        polled, "SELECT host, mount, used_bytes FROM latest_filesystems "
                "WHERE used_bytes IS NOT NULL"))
    assert used and values(parsed, "onion_filesystems_used_bytes", "mount") == used

    up = {(h,): int(s == "ok") for h, s in query(polled, "SELECT host, status FROM latest_polls")}
    assert values(parsed, "onion_host_up") == up == {("localhost",): 1}
    total = dict(((h,), v) for h, v in query(polled, "SELECT host, total_bytes FROM latest_memory"))
    assert values(parsed, "onion_memory_total_bytes") == total
    boot = dict(((h,), v) for h, v in query(polled, "SELECT host, epoch(boot_time) "
                                                    "FROM latest_system"))
    assert values(parsed, "onion_system_boot_time_seconds") == boot

    ok = dict(((h, p), int(s == "ok")) for h, p, s in query(
        polled, "SELECT host, probe, status FROM latest_probe_results"))
    assert values(parsed, "onion_probe_ok", "probe") == ok and len(ok) >= 5

    loads = query(polled, "SELECT load_1m FROM latest_cpu")
    assert [s.value for s in parsed["onion_cpu_load_1m"].samples] == pytest.approx(
        [v for (v,) in loads], rel=1e-6)


def test_raw_counters_are_counters(polled):
    _, parsed = scrape(polled)
    rx = parsed["onion_network_rx_bytes"]  # the parser takes `_total` off a counter's name
    assert rx.type == "counter"
    assert {s.name for s in rx.samples} == {"onion_network_rx_bytes_total"}
    want = dict(((h, i), v) for h, i, v in query(
        polled, "SELECT host, interface, rx_bytes FROM latest_network"))
    assert want and values(parsed, "onion_network_rx_bytes", "interface") == want
    assert parsed["onion_cpu_user_seconds"].type == "counter"
    assert parsed["onion_memory_used_bytes"].type == "gauge"


def test_processes_modules_and_files_are_counted_not_listed(polled):
    text, parsed = scrape(polled)
    assert not [n for n in parsed if n.startswith(("onion_processes_", "onion_modules_"))]
    assert 'pid="' not in text and 'path="' not in text
    (n,), = query(polled, "SELECT count(*) FROM latest_processes")
    assert n > 5 and values(parsed, "onion_processes") == {("localhost",): n}


def test_output_is_deterministic(polled):
    with store.reading(polled) as con:
        assert exposition(fleet(con)) == exposition(fleet(con))
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


# -- hostile values, a down host -------------------------------------------------------------


def test_hostile_names_round_trip_exactly(hostile):
    text, parsed = scrape(hostile)
    text.encode("utf-8")
    assert values(parsed, "onion_host_up") == {(HOSTILE_HOST,): 1, ("down01",): 0}
    used = values(parsed, "onion_filesystems_used_bytes", "mount")
    assert used[(HOSTILE_HOST, HOSTILE_MOUNT)] == (1 << 40) - 1
    info = {s.labels["mount"]: s.labels for s in parsed["onion_filesystems_info"].samples}
    assert info[HOSTILE_MOUNT]["device"] == HOSTILE_DEVICE
    assert info[HOSTILE_MOUNT]["fstype"] == "cifs"
    # Every sample is one line: no raw newline escaped the quotes. (A carriage return may
    # stay raw: the format escapes only backslash, quote and newline, and splits on "\n".)
    samples = [line for line in text[:-1].split("\n") if not line.startswith("#")]
    assert len(samples) == sum(len(m.samples) for m in parsed.values())


def test_down_host_and_poll_times(hostile):
    _, parsed = scrape(hostile)
    status = {s.labels["host"]: s.labels["status"] for s in parsed["onion_host_status"].samples}
    assert status == {HOSTILE_HOST: "ok", "down01": "timeout"}
    want = dict(((h,), t) for h, t in query(hostile, "SELECT host, epoch(ts) FROM latest_polls"))
    assert values(parsed, "onion_host_last_poll_timestamp_seconds") == want
    assert values(parsed, "onion_host_poll_duration_seconds") == {
        (HOSTILE_HOST,): 0.75, ("down01",): 10.0}
    assert values(parsed, "onion_host_last_ok_timestamp_seconds").keys() == {(HOSTILE_HOST,)}
    assert values(parsed, "onion_probe_ok", "probe")[(HOSTILE_HOST, "temperatures")] == 0
    assert values(parsed, "onion_probe_ok", "probe")[(HOSTILE_HOST, "gpu")] == 1


def test_values_bool_nan_inf_and_64_bit(hostile):
    _, parsed = scrape(hostile)
    assert values(parsed, "onion_network_up", "interface") == {
        (HOSTILE_HOST, "eth0"): 1, (HOSTILE_HOST, "eth1"): 0}
    # 2**64 - 1 is written as an integer, not rounded through a float
    assert values(parsed, "onion_network_rx_bytes", "interface")[(HOSTILE_HOST, "eth0")] \
        == (1 << 64) - 1
    assert parsed["onion_cpu_load_5m"].samples[0].value == math.inf
    # The store keeps NaN as NULL; NULL is no sample (and a family of none is left out).
    assert query(hostile, "SELECT load_1m FROM latest_cpu") == [(None,)]
    assert "onion_cpu_load_1m" not in parsed and "onion_cpu_load_15m" not in parsed


def test_items_with_two_keys_and_integer_keys(hostile):
    _, parsed = scrape(hostile)
    util = values(parsed, "onion_gpu_utilization_pct", "index", "uuid")
    assert util == {(HOSTILE_HOST, "0", "GPU-0"): 0.0, (HOSTILE_HOST, "1", "GPU-1"): 12.5}
    assert "onion_gpu_index" not in parsed  # a key is a label, not a value
    assert parsed["onion_gpu_ecc_errors_uncorrected"].type == "counter"
    assert values(parsed, "onion_gpu_mig_enabled", "index") == {
        (HOSTILE_HOST, "0"): 0, (HOSTILE_HOST, "1"): 0}
    assert {s.labels["name"] for s in parsed["onion_gpu_info"].samples} == {"NVIDIA H200"}
    want = dict(((h, c, s), v) for h, c, s, v in query(
        hostile, "SELECT host, chip, sensor, celsius FROM latest_temperatures"))
    assert len(want) == 2 and values(parsed, "onion_temperatures_celsius", "chip",
                                     "sensor") == want


def test_one_sample_per_item_even_when_the_rows_repeat_it(hostile):
    (rows,), = query(hostile, "SELECT count(*) FROM latest_filesystems WHERE mount = '/'")
    assert rows == 2
    text, parsed = scrape(hostile)
    root = [s for s in parsed["onion_filesystems_used_bytes"].samples if s.labels["mount"] == "/"]
    assert len(root) == 1
    # gauges do not end in `_total`, the counters' suffix
    assert "onion_filesystems_inodes" in parsed and "onion_filesystems_inodes_total" not in text


def test_only_the_newest_poll_of_a_run(tmp_path):
    """A run may hold several polls of one host (the synthetic history stores a day's polls
    as one batch): the latest views then hold them all, and only the newest counts."""
    db = tmp_path / "history.duckdb"
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=2)
    history(db, tmp_path, start, days=2, hosts=2, every=dt.timedelta(hours=12))
    (per_host,), = query(db, "SELECT max(n) FROM (SELECT count(*) AS n FROM latest_cpu "
                             "GROUP BY host)")
    assert per_host > 1
    _, parsed = scrape(db)
    newest = dict(((h,), v) for h, v in query(
        db, "SELECT host, user_seconds FROM latest_cpu QUALIFY ts = max(ts) OVER (PARTITION "
            "BY host)"))
    assert len(newest) == 2 and values(parsed, "onion_cpu_user_seconds") == newest
    procs = dict(((h,), n) for h, n in query(
        db, "SELECT host, count(*) FROM (SELECT * FROM latest_processes QUALIFY ts = max(ts) "
            "OVER (PARTITION BY host)) GROUP BY host"))
    assert values(parsed, "onion_processes") == procs


# -- young and empty databases ---------------------------------------------------------------


def test_a_new_empty_database(tmp_path):
    db = tmp_path / "new.duckdb"
    duckdb.connect(str(db)).close()
    text, parsed = scrape(db)
    assert text == "" and parsed == {}


def test_schema_without_rows(tmp_path):
    db = tmp_path / "schema.duckdb"
    con = store.connect(db)
    store.ensure_schema(con, tables_for(installed().values()))
    con.close()
    text, parsed = scrape(db)
    assert text == "" and parsed == {}


def test_tables_not_polled_yet_are_left_out(tmp_path):
    db = tmp_path / "young.duckdb"
    mem = record(installed()["memory"].record, total_bytes=1 << 30, used_bytes=1 << 20)
    store_hosts(db, [HostResult(Host(name="n1"), HostStatus.OK, os=OS.LINUX, probes={
        "memory": ProbeResult("memory", ProbeStatus.OK, None, [mem])})], ["memory"])
    _, parsed = scrape(db)
    assert values(parsed, "onion_memory_total_bytes") == {("n1",): 1 << 30}
    assert not [n for n in parsed if n.startswith(("onion_cpu", "onion_filesystems"))]
    assert "onion_host_up" in parsed


# -- the text format on its own --------------------------------------------------------------


@pytest.mark.parametrize("value", [
    'a"b', "back\\slash", "new\nline", "}", '{x="y"}', "ü☃ 日本", "trailing\\", "\\n",
    "\r\t", " spaced ", ",=", "", "#", "a\\\"b",
])
def test_label_values_round_trip(value):
    text = exposition([Family("m", MetricKind.GAUGE, "h", [Sample({"v": value, "w": "x"}, 1)])])
    (m,) = text_string_to_metric_families(text)
    assert m.samples[0].labels == {"v": value, "w": "x"}


def test_names_are_sanitised_and_help_escaped():
    help_text = 'line one\nback\\slash "quoted" ü'
    fam = Family("9 bad-name.ü", MetricKind.COUNTER, help_text,
                 [Sample({"a-b": "1", "__reserved": "2", "9x": "3"}, 2)])
    text = exposition([fam])
    (m,) = text_string_to_metric_families(text)
    assert NAME.fullmatch(m.name + "_total") and m.type == "counter"
    assert m.documentation == help_text
    assert all(LABEL.fullmatch(k) and not k.startswith("__") for k in m.samples[0].labels)
    assert sorted(m.samples[0].labels.values()) == ["1", "2", "3"]


def test_special_values_and_merging():
    text = exposition([
        Family("m", MetricKind.GAUGE, "first", [Sample({"k": "a"}, math.nan),
                                                Sample({"k": "b"}, -math.inf),
                                                Sample({"k": "c"}, True),
                                                Sample({"k": "a"}, 5)]),
        Family("m", MetricKind.GAUGE, "second", [Sample({"k": "d"}, 0.1)]),
        Family("lone", MetricKind.GAUGE, "", [Sample({}, 1e300)]),
    ])
    assert text.count("# TYPE m gauge") == 1 and 'm{k="a"} NaN' in text
    assert 'm{k="b"} -Inf' in text and 'm{k="c"} 1' in text and "lone 1e+300" in text
    parsed = {m.name: m for m in text_string_to_metric_families(text)}
    assert [s.labels["k"] for s in parsed["m"].samples] == ["a", "b", "c", "d"]
    assert parsed["m"].documentation == "first"


def test_unencodable_text_is_replaced_not_raised():
    text = exposition([Family("m", MetricKind.GAUGE, "h\udcff", [Sample({"k": "x\udcff"}, 1)])])
    text.encode("utf-8")
    (m,) = text_string_to_metric_families(text)
    assert m.samples[0].labels == {"k": "x?"}
