"""Pollers forwarding to a central Onion, with real daemons, sshd and TLS on loopback:
every host stored once per round, nothing lost or doubled when the central is killed,
an acknowledgement is lost or a poller is killed mid-send; drops are counted and told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from onion.storage.queue import QUARANTINE
from tests.daemon.conftest import DaemonProc, Lab, needs_sshd
from tests.daemon.forwarding import DroppingProxy, central, poller

pytestmark = needs_sshd


def many_hosts(lab: Lab, path: Path, n: int) -> Path:
    """``n`` inventory hosts spread over the lab's sshd servers."""
    lines = ["[nodes]"]
    for i in range(n):
        s = lab.servers[i % 3]
        lines.append(f"n{i:02d} ansible_host={s.addr} ansible_port={s.port} ansible_user=root "
                     f"ansible_ssh_private_key_file={lab.key}")
    path.write_text("\n".join(lines) + "\n")
    return path


def cron_poll(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONION_CONFIG": str(config)}
    env.pop("ONION_DB", None)
    return subprocess.run([sys.executable, "-m", "onion.cli", "poll", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def local_runs(config: Path) -> set[int]:
    db = config.parent / "data" / "onion.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}


def until(what, timeout: float = 60.0, step: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


def waiting(d: DaemonProc) -> int:
    return sum(d.status()["queue"].values())


def test_three_shards_feed_one_central_each_host_once(lab, tmp_path, start_daemon):
    c = central(tmp_path / "c", lab, ["p1", "p2", "p3"])
    cd = start_daemon(c.config, tmp_path / "central.log")
    inv = many_hosts(lab, tmp_path / "hosts.ini", 30)
    pollers = [start_daemon(poller(tmp_path / f"p{k}", lab, c, f"p{k}", inv, shard=f"{k}/3",
                                   interval="4s"), tmp_path / f"p{k}.log")
               for k in (1, 2, 3)]
    for p in pollers:
        p.wait_rounds(2, timeout=120)
    for p in pollers:
        until(lambda p=p: waiting(p) == 0)
    shards = {s["name"]: s["shard"] for s in cd.status()["central"]["pollers"]}
    assert shards == {"p1": "1/3", "p2": "2/3", "p3": "3/3"}
    # Which poller polled which host: every host by exactly one of them.
    owners = cd.query("SELECT h.host, list(DISTINCT b.origin) FROM polls h JOIN "
                      "received_batches b USING (run_id) GROUP BY h.host")
    assert len(owners) == 30 and all(len(o) == 1 for _, o in owners), owners
    assert {o[0] for _, o in owners} == {"p1", "p2", "p3"}
    # Each batch once, each host once per batch.
    assert cd.query("SELECT count(*) FROM (SELECT run_id, host FROM polls "
                    "WHERE run_id IN (SELECT run_id FROM received_batches) "
                    "GROUP BY ALL HAVING count(*) > 1)") == [[0]]
    for k, p in enumerate(pollers, 1):
        p.stop()
        runs = local_runs(p.config)
        got = {r[0] for r in cd.query(f"SELECT origin_run_id FROM received_batches "
                                      f"WHERE origin = 'p{k}'")}
        assert runs == got, (k, runs ^ got)
    # A batch is sent again only after a send the poller saw fail (on a loaded machine an
    # answer can come after the poller gave up); the central then stores it once and
    # counts a duplicate. A duplicate without a failed send is a bug. (The poller says a
    # failure when it changes, not at each retry: a count of lines bounds nothing.)
    resent = sum(p.log.read_text().count("(batches wait in ") for p in pollers)
    duplicates = cd.status()["central"]["duplicates"]
    assert duplicates == 0 or resent > 0, duplicates
    page = cd.client.text("/metrics")
    assert f'onion_central_batches_total{{outcome="duplicates"}} {duplicates}' in page
    assert 'onion_central_poller_last_batch_age_seconds{poller="p2"}' in page


def test_central_killed_for_20_s_loses_and_doubles_nothing(lab, tmp_path, start_daemon):
    c = central(tmp_path / "c", lab, ["hpc1"])
    cd = start_daemon(c.config, tmp_path / "central.log")
    inv = lab.inventory(tmp_path / "p.ini", [0, 1, 2])
    p = start_daemon(poller(tmp_path / "p", lab, c, "hpc1", inv), tmp_path / "p.log")
    p.wait_rounds(2)
    cd.proc.kill()                                   # kill -9
    cd.proc.wait(10)
    down_at = p.status()["rounds"]["rounds"]
    time.sleep(20)
    queued = waiting(p)
    assert p.status()["rounds"]["rounds"] >= down_at + 5 and queued >= 5
    cd = start_daemon(c.config, tmp_path / "central2.log")
    until(lambda: waiting(p) == 0, timeout=90)
    p.stop()
    runs = local_runs(p.config)
    got = cd.query("SELECT origin_run_id, count(*) FROM received_batches GROUP BY ALL")
    assert {r for r, _ in got} == runs and all(n == 1 for _, n in got)  # 0 lost, 0 doubled
    per_run = cd.query("SELECT b.origin_run_id, count(*), count(DISTINCT p.host) FROM polls p "
                       "JOIN received_batches b USING (run_id) GROUP BY ALL")
    assert len(per_run) == len(runs) and all(n == 3 and h == 3 for _, n, h in per_run)
    # (A batch the central stored as it was killed is sent again and answered duplicate:
    # at least once on the wire, exactly once in the database.)


def test_lost_acknowledgement_and_poller_killed_mid_send_store_once(lab, tmp_path,
                                                                     start_daemon):
    c = central(tmp_path / "c", lab, ["hpc1"])
    cd = start_daemon(c.config, tmp_path / "central.log")
    proxy = DroppingProxy(c.port, c.cert, c.key)
    try:
        inv = lab.inventory(tmp_path / "p.ini", [0])
        pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv, url=f"https://127.0.0.1:{proxy.port}")
        proxy.drop.set()                       # the central stores, the poller never hears
        p = start_daemon(pcfg, tmp_path / "p.log")
        until(lambda: proxy.dropped >= 2)
        assert waiting(p) >= 1                 # not acknowledged: still queued here
        p.proc.kill()                          # kill -9 while its batches are unacknowledged
        p.proc.wait(10)
        stored = cd.query("SELECT count(*) FROM received_batches")[0][0]
        assert stored >= 1
        proxy.drop.clear()
        p = start_daemon(pcfg, tmp_path / "p2.log")   # catches up first, then polls
        until(lambda: waiting(p) == 0 and p.status()["rounds"]["rounds"] >= 1)
        p.stop()
    finally:
        proxy.close()
    runs = local_runs(pcfg)
    got = cd.query("SELECT origin_run_id, count(*) FROM received_batches GROUP BY ALL")
    assert {r for r, _ in got} == runs and all(n == 1 for _, n in got)
    assert cd.query("SELECT count(*) FROM (SELECT run_id, host FROM polls GROUP BY ALL "
                    "HAVING count(*) > 1)") == [[0]]
    assert cd.status()["central"]["duplicates"] >= 1  # resent, answered 200, not stored


def test_a_full_queue_drops_exactly_the_counted_batches_and_tells_the_central(
        lab, tmp_path, start_daemon):
    c = central(tmp_path / "c", lab, ["hpc1"])       # not started yet: the central is down
    inv = lab.inventory(tmp_path / "p.ini", [0])
    pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv, sink='max_queue_bytes = "1KiB"')
    for _ in range(4):
        r = cron_poll(pcfg)
        # Stored here; exit 1 (and one line for cron) says the central's copy waits.
        assert r.returncode == 1 and "sink central failed" in r.stderr, r.stderr
    local = local_runs(pcfg)
    db = pcfg.parent / "data" / "onion.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        dropped = {int(d.split()[1]) for (d,) in con.execute(
            "SELECT detail FROM storage_events WHERE action = 'queue_dropped'").fetchall()}
    assert len(dropped) == 3 and dropped < local  # each new one pushed the older out
    cd = start_daemon(c.config, tmp_path / "central.log")
    r = cron_poll(pcfg)
    assert r.returncode == 0, r.stderr
    got = {r[0] for r in cd.query("SELECT origin_run_id FROM received_batches")}
    assert got == local_runs(pcfg) - dropped     # exactly the dropped ones missing
    gaps = cd.query("SELECT table_name, detail FROM storage_events "
                    "WHERE action = 'poller_gap' ORDER BY detail")
    assert [t for t, _ in gaps] == ["hpc1"] * 3
    assert {int(d.split()[3]) for _, d in gaps} == dropped
    assert all("max_queue_bytes" in d for _, d in gaps)
    assert cd.status()["central"]["pollers"][0]["gaps"] == 3
    page = cd.client.text("/report/index.html")   # the central's report says it
    assert "poller hpc1: 3 rounds dropped" in page and "max_queue_bytes" in page
    assert not list((pcfg.parent / "data").glob("onion.duckdb.spool/gaps/*"))  # told once


def test_block_stops_new_rounds_instead_of_dropping(lab, tmp_path):
    c = central(tmp_path / "c", lab, ["hpc1"])       # down
    inv = lab.inventory(tmp_path / "p.ini", [0])
    pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv,
                  sink='max_queue_bytes = "1KiB"\nwhen_full = "block"')
    assert cron_poll(pcfg).returncode == 1          # stored here, waits for the central
    r = cron_poll(pcfg)
    assert r.returncode == 1 and "the queue for sink central is full" in r.stderr
    assert "when_full" in r.stderr and len(local_runs(pcfg)) == 1


def test_a_batch_the_central_refuses_goes_to_the_dead_letter_folder(lab, tmp_path,
                                                                    start_daemon):
    c = central(tmp_path / "c", lab, ["hpc1"], extra="max_batch_bytes = 1024\n")
    cd = start_daemon(c.config, tmp_path / "central.log")
    inv = lab.inventory(tmp_path / "p.ini", [0])
    pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv)
    assert cron_poll(pcfg).returncode == 0
    spool = pcfg.parent / "data" / "onion.duckdb.spool"
    dead = list((spool / QUARANTINE).iterdir())
    assert len(dead) == 1 and dead[0].name.endswith(".central")
    reason = (dead[0] / "REASON").read_text()
    assert "HTTP 413" in reason and "max_batch_bytes" in reason
    assert (dead[0] / "batch.json.gz").exists()
    assert not [e for e in spool.iterdir() if e.name.isdecimal()]   # nothing left waiting
    assert cd.status()["central"]["batches"] == 0


def test_a_wrong_token_keeps_the_batches_until_it_is_fixed(lab, tmp_path, start_daemon):
    c = central(tmp_path / "c", lab, ["hpc1"])
    cd = start_daemon(c.config, tmp_path / "central.log")
    inv = lab.inventory(tmp_path / "p.ini", [0])
    pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv)
    right = c.tokens["hpc1"].read_text()
    c.tokens["hpc1"].write_text("x" * 40 + "\n")
    r = cron_poll(pcfg, "-v")
    assert "HTTP 401" in r.stderr + r.stdout
    state = json.loads((pcfg.parent / "data" / "forward-central.json").read_text())
    assert state["failures"] == 1 and "401" in state["last_error"]
    c.tokens["hpc1"].write_text(right)
    time.sleep(2.1)                           # past the backoff (1-2 s in this config)
    assert cron_poll(pcfg).returncode == 0
    assert {r[0] for r in cd.query("SELECT origin_run_id FROM received_batches")} == \
        local_runs(pcfg)
    assert not (pcfg.parent / "data" / "forward-central.json").exists()


def test_a_silent_poller_fires_poller_stale_and_resolves_when_it_sends(lab, tmp_path,
                                                                       start_daemon):
    c = central(tmp_path / "c", lab, ["hpc1"], stale_after="3s")
    cd = start_daemon(c.config, tmp_path / "central.log")
    cd.wait_rounds(1)
    until(lambda: cd.query("SELECT count(*) FROM alerts WHERE rule = 'poller_stale' "
                           "AND host = 'hpc1' AND state = 'firing'") == [[1]], timeout=60)
    inv = lab.inventory(tmp_path / "p.ini", [0])
    pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv)
    assert cron_poll(pcfg).returncode == 0
    until(lambda: cd.query("SELECT state FROM alerts WHERE rule = 'poller_stale'") in
          ([], [["resolved"]]), timeout=30)
    assert "<h2>Pollers</h2>" in cd.client.text("/report/index.html")
    events = cd.query("SELECT event FROM alert_events WHERE rule = 'poller_stale' ORDER BY ts")
    assert [e for (e,) in events][-1] == "resolved"


def test_the_central_stores_into_postgresql_too(lab, tmp_path, start_daemon, pg):
    import psycopg

    pw = tmp_path / "pg.password"
    pw.write_text(pg.password + "\n")
    c = central(tmp_path / "c", lab, ["hpc1"], extra="")
    c.config.write_text(c.config.read_text() + f"""
[sinks.pg]
type = "postgresql"
dsn = "{pg.dsn()}"
password_file = "{pw}"
schema = "central"
""")
    cd = start_daemon(c.config, tmp_path / "central.log")
    inv = lab.inventory(tmp_path / "p.ini", [0, 1])
    pcfg = poller(tmp_path / "p", lab, c, "hpc1", inv)
    for _ in range(2):
        assert cron_poll(pcfg).returncode == 0
    with psycopg.connect(pg.dsn(), password=pg.password) as con:
        ids = {r[0] for r in con.execute("SELECT batch_id FROM central._onion_batches")}
        hosts = con.execute("SELECT DISTINCT host FROM central.polls ORDER BY 1").fetchall()
    assert {f"hpc1/{r}" for r in local_runs(pcfg)} <= ids   # the poller's, by its ids
    assert [h for (h,) in hosts] == ["node0", "node1", "node3"]  # and the central's own
    assert cd.status()["central"]["batches"] == 2
