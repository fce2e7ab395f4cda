"""Dead, stalled, dropped and slow hosts over real SSH: each costs only itself.

Every fault is a real server on loopback: OpenSSH ``sshd`` for the healthy host, and
asyncssh servers (tests/fault_server.py) that authenticate and then misbehave. The run's
wall time is bounded by the configured deadlines, not by the slowest host; the bounds
asserted here are the deadlines plus slack, far below what the faults would take.
"""

from __future__ import annotations

import time
from pathlib import Path

import asyncssh
import duckdb
import pytest

from onion.core import config
from onion.inventory.model import Host
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.probes import registry
from tests import fault_server as fs
from tests.sshd import SSHD, SilentServer, free_port, home_dir, keygen, start_sshd

pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")

SLOW_S = 10.0   # per command on the slow host


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow")
    user_key = keygen(root / "id_user")
    pub = user_key.with_suffix(".pub").read_text()
    probes = registry.select(registry.installed())
    sshd = start_sshd(root / "sshd", "127.0.0.2", [user_key], home_dir(root))
    silent = SilentServer("127.0.0.1")

    def fault(behaviour: fs.Behaviour, **kw) -> fs.FaultHost:
        return fs.FaultHost(behaviour, asyncssh.generate_private_key("ssh-ed25519"), pub, **kw)

    faults = {
        "replayed": fault(fs.answer(probes)),
        "stalls-in-login": fault(fs.answer(probes), auth_delay=fs.STALL_S),
        "stalls-after-exec": fault(fs.stall()),
        "drops-midway": fault(fs.drop_midway(probes)),
        "slow-commands": fault(fs.slow(probes, SLOW_S)),
    }
    known = root / "known_hosts"
    known.write_text(sshd.known_hosts_line() +
                     "".join(f.known_hosts_line() for f in faults.values()))
    yield {"root": root, "key": user_key, "sshd": sshd, "silent": silent, "faults": faults,
           "known": known, "probes": probes}
    for f in faults.values():
        f.close()
    silent.close()
    sshd.stop()


def make_config(tmp: Path, known: Path, **poller) -> config.Config:
    cfg = load_config(None, str(tmp / "onion.duckdb"))
    cfg.ssh.known_hosts = [str(known)]
    cfg.ssh.config = []
    cfg.ssh.agent = False
    cfg.ssh.accept_new_file = str(tmp / "accepted")
    for k, v in poller.items():
        setattr(cfg.poller, k, v)
    return cfg


def hosts_of(lab) -> list[Host]:
    key = (str(lab["key"]),)
    silent = lab["silent"]
    out = [
        Host(name="good", address=lab["sshd"].addr, port=lab["sshd"].port, user="root",
             key_files=key),
        Host(name="closed-port", address="127.0.0.1", port=free_port("127.0.0.1"), user="root",
             key_files=key),
        Host(name="silent-tcp", address=silent.addr, port=silent.port, user="root",
             key_files=key),
    ]
    out += [Host(name=name, address=f.addr, port=f.port, user="root", key_files=key)
            for name, f in lab["faults"].items()]
    return out


def test_each_fault_gets_its_status_and_the_run_is_bounded(lab, tmp_path):
    cfg = make_config(tmp_path, lab["known"], connect_timeout=2.0, command_timeout=4.0,
                      run_timeout=120.0)
    t0 = time.monotonic()
    summary = run_poll(cfg, hosts_of(lab), lab["probes"])
    elapsed = time.monotonic() - t0
    print(f"\nrun with 6 faulty hosts of 8: {elapsed:.2f} s "
          f"(connect {cfg.poller.connect_timeout:g} s, command {cfg.poller.command_timeout:g} s)")
    r = {x.host.name: x for x in summary.results}
    for name, x in r.items():
        print(f"  {name:18} {x.status:12} {x.reason}")
    assert {n: x.status for n, x in r.items()} == {
        "good": "ok", "replayed": "ok", "closed-port": "unreachable",
        "silent-tcp": "timeout", "stalls-in-login": "timeout",
        "stalls-after-exec": "timeout", "drops-midway": "unreachable",
        "slow-commands": "timeout"}
    assert "refused" in r["closed-port"].reason
    assert "no SSH session within 2 s" in r["silent-tcp"].reason
    assert "no SSH session within 2 s" in r["stalls-in-login"].reason
    assert "command did not finish in 4 s" in r["stalls-after-exec"].reason
    assert "command did not finish in 4 s" in r["slow-commands"].reason
    assert "connection lost" in r["drops-midway"].reason
    # Connected hosts carry their connect time; the stalled ones their command time.
    assert r["stalls-after-exec"].connect_s is not None
    assert r["stalls-after-exec"].command_s >= cfg.poller.command_timeout
    # What a dropped host sent before the drop is kept; the rest is "lost", with why.
    dropped = r["drops-midway"].probes
    kept = [p for p in dropped.values() if p.status == "ok"]
    lost = [p for p in dropped.values() if p.status == "lost"]
    assert kept and lost
    assert all("connection lost" in p.reason for p in lost)
    assert all(p.status == "lost" for p in r["slow-commands"].probes.values())
    # Deadlines bound the run: the slow host alone needs SLOW_S per section (minutes).
    assert elapsed < cfg.poller.connect_timeout + cfg.poller.command_timeout + 6
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    polls = dict(con.execute("SELECT host, status FROM polls").fetchall())
    assert polls == {n: x.status for n, x in r.items()}
    assert all(reason for (reason,) in con.execute(
        "SELECT reason FROM polls WHERE status <> 'ok'").fetchall())
    for table in ("memory", "cpu", "processes", "network"):
        stored = {h for (h,) in con.execute(f"SELECT DISTINCT host FROM {table}").fetchall()}
        assert {"good", "replayed"} <= stored, table
        assert stored <= {"good", "replayed", "drops-midway"}, table
    lost_rows = con.execute("SELECT count(*) FROM probe_results "
                            "WHERE host = 'drops-midway' AND status = 'lost'").fetchone()[0]
    assert lost_rows == len(lost)


def test_whole_run_deadline_cuts_hosts_still_running(lab, tmp_path):
    cfg = make_config(tmp_path, lab["known"], connect_timeout=2.0, command_timeout=60.0,
                      run_timeout=4.0)
    hosts = [h for h in hosts_of(lab) if h.name in ("good", "stalls-after-exec",
                                                      "slow-commands", "replayed")]
    t0 = time.monotonic()
    summary = run_poll(cfg, hosts, lab["probes"])
    elapsed = time.monotonic() - t0
    print(f"\nrun cut at the whole-run deadline ({cfg.poller.run_timeout:g} s): {elapsed:.2f} s")
    r = {x.host.name: x for x in summary.results}
    assert r["good"].status == "ok" and r["replayed"].status == "ok"
    for name in ("stalls-after-exec", "slow-commands"):
        assert r[name].status == "timeout"
        assert "whole-run deadline of 4 s" in r[name].reason
    assert elapsed < cfg.poller.run_timeout + 6   # not command_timeout (60 s)
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM polls").fetchone()[0] == 4
    assert {h for (h,) in con.execute("SELECT DISTINCT host FROM memory").fetchall()} == {
        "good", "replayed"}


def test_one_slow_command_on_a_real_host_costs_only_its_section(lab, tmp_path):
    """On a real sshd host a command that takes SLOW_S under a smaller section budget is
    cut on the host; the host's other sections arrive and the host is ok."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sleepy.py").write_text(
        "from dataclasses import dataclass\n"
        "from onion.probes.base import OS, Part, Probe, col\n\n\n"
        "@dataclass(frozen=True, slots=True, kw_only=True)\n"
        "class N:\n    n: int = col('UINTEGER')\n\n\n"
        "PROBE = Probe(name='aaa_sleepy', record=N,\n"
        f"              parts={{OS.LINUX: (Part('x', sh='sleep {SLOW_S:g}; echo 1', "
        "guard=True),)},\n"
        "              parsers={OS.LINUX: lambda p: [N(n=int(p['x']))]})\n")
    probes = registry.select(registry.available([plugins]), ["aaa_sleepy", "memory", "cpu"])
    cfg = make_config(tmp_path, lab["known"], connect_timeout=3.0, command_timeout=20.0,
                      section_timeout=2)
    good = hosts_of(lab)[0]
    t0 = time.monotonic()
    r = run_poll(cfg, [good], probes).results[0]
    elapsed = time.monotonic() - t0
    print(f"\nreal host with one {SLOW_S:g} s command under a 2 s budget: {elapsed:.2f} s")
    assert r.status == "ok"
    assert r.probes["aaa_sleepy"].status == "timeout"
    assert r.probes["memory"].status == "ok" and r.probes["cpu"].status == "ok"
    assert elapsed < SLOW_S
