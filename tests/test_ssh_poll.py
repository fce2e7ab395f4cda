"""Polling real OpenSSH servers on loopback, with faults in the same run."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from onion.core import config
from onion.inventory.model import Host
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.probes import registry
from tests.sshd import SSHD, SilentServer, free_port, home_dir, keygen, start_sshd

pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    user_key = keygen(root / "id_user")
    stranger_key = keygen(root / "id_stranger")
    home = home_dir(root)
    servers = [start_sshd(root / f"sshd{i}", f"127.0.0.{i}", [user_key], home)
               for i in (2, 3, 4, 5)]
    known = root / "known_hosts"
    # 127.0.0.5 is recorded with another server's key: a changed host key.
    known.write_text("".join(s.known_hosts_line() for s in servers[:3]) +
                     servers[0].known_hosts_line().replace(
                         f"[{servers[0].addr}]:{servers[0].port}",
                         f"[{servers[3].addr}]:{servers[3].port}"))
    silent = SilentServer("127.0.0.6")
    yield {"root": root, "servers": servers, "known": known, "user_key": user_key,
           "stranger_key": stranger_key, "silent": silent}
    silent.close()
    for s in servers:
        s.stop()


def make_config(tmp: Path, known: Path, **poller) -> config.Config:
    cfg = load_config(None, str(tmp / "onion.duckdb"))
    cfg.ssh.known_hosts = [str(known)]
    cfg.ssh.config = []
    cfg.ssh.agent = False
    cfg.ssh.accept_new_file = str(tmp / "accepted_known_hosts")
    cfg.poller.connect_timeout = 3
    cfg.poller.command_timeout = 20
    for k, v in poller.items():
        setattr(cfg.poller, k, v)
    return cfg


def host(name: str, server, key: Path) -> Host:
    return Host(name=name, address=server.addr, port=server.port, user="root",
                key_files=(str(key),), groups=("test",))


def test_poll_with_faults_stores_every_good_host(cluster, tmp_path):
    s = cluster["servers"]
    key = cluster["user_key"]
    closed_port = free_port("127.0.0.7")
    silent = cluster["silent"]
    hosts = [
        host("good1", s[0], key), host("good2", s[1], key), host("good3", s[2], key),
        Host(name="closed", address="127.0.0.7", port=closed_port, user="root",
             key_files=(str(key),)),
        Host(name="silent", address=silent.addr, port=silent.port, user="root",
             key_files=(str(key),)),
        host("changed-key", s[3], key),
        host("refused-key", s[0], cluster["stranger_key"]),
    ]
    cfg = make_config(tmp_path, cluster["known"])
    probes = registry.select(registry.installed())
    t0 = time.monotonic()
    summary = run_poll(cfg, hosts, probes)
    elapsed = time.monotonic() - t0
    status = {r.host.name: r for r in summary.results}
    assert {n: status[n].status for n in status} == {
        "good1": "ok", "good2": "ok", "good3": "ok", "closed": "unreachable",
        "silent": "timeout", "changed-key": "host_key_mismatch", "refused-key": "auth_refused"}
    assert "changed" in status["changed-key"].reason and "--rekey" in status["changed-key"].reason
    # Deadlines, not the slowest host, bound the run (connect_timeout 3 s for the silent one).
    assert elapsed < cfg.poller.connect_timeout + cfg.poller.command_timeout
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    polls = dict(con.execute("SELECT host, status FROM polls").fetchall())
    assert polls == {n: r.status for n, r in status.items()}
    reasons = dict(con.execute("SELECT host, reason FROM polls WHERE status <> 'ok'").fetchall())
    assert all(reasons.values())
    for table in ("processes", "memory", "cpu", "network", "system", "disk_io"):
        rows = con.execute(f"SELECT DISTINCT host FROM {table}").fetchall()
        hosts_with_rows = {r[0] for r in rows}
        assert hosts_with_rows == {"good1", "good2", "good3"}, table
    timings = con.execute("SELECT min(connect_s), min(command_s) FROM polls "
                          "WHERE status = 'ok'").fetchone()
    assert timings[0] > 0 and timings[1] > 0


def test_unknown_host_key_strict_then_accept_new(cluster, tmp_path):
    s = cluster["servers"][0]
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    cfg = make_config(tmp_path, empty)
    probes = registry.select(registry.installed(), ["cpu"])
    h = host("newnode", s, cluster["user_key"])
    r = run_poll(cfg, [h], probes).results[0]
    assert r.status == "host_key_unknown"
    assert "accept-new" in r.reason and "ssh-keyscan" in r.reason
    cfg.ssh.host_key_policy = "accept-new"
    assert run_poll(cfg, [h], probes).results[0].status == "ok"
    recorded = Path(cfg.ssh.accept_new_file).read_text()
    assert recorded == s.known_hosts_line()
    # Recorded once; a second poll is verified against it (strict again).
    cfg.ssh.host_key_policy = "strict"
    assert run_poll(cfg, [h], probes).results[0].status == "ok"


def test_cli_poll_with_inventory_and_limit(cluster, tmp_path):
    from click.testing import CliRunner

    from onion.cli.main import main

    s = cluster["servers"]
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        "[compute]\n" + "".join(
            f"node{i} ansible_host={srv.addr} ansible_port={srv.port} ansible_user=root\n"
            for i, srv in enumerate(s[:3], 1)) +
        "[login]\nlogin1 ansible_host=127.0.0.7 ansible_port=1\n")
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[ssh]\nknown_hosts = ["{cluster["known"]}"]\nconfig = []\nagent = false\n'
                   f'identity_files = ["{cluster["user_key"]}"]\n'
                   f'[poller]\nconnect_timeout = 3.0\n'
                   f'[storage]\ndb = "{tmp_path / "onion.duckdb"}"\n')
    runner = CliRunner()
    r = runner.invoke(main, ["poll", "--config", str(cfg), "-i", str(inv), "-l", "all:!node3",
                             "-v"])
    assert r.exit_code == 0, r.output  # a host down is data, not a failed round
    assert "2/3 hosts ok" in r.output
    r = runner.invoke(main, ["hosts", "--config", str(cfg), "-i", str(inv)])
    lines = {ln.split()[0]: ln for ln in r.output.splitlines() if not ln.startswith(" ")}
    assert "ok" in lines["node1"] and "unreachable" in lines["login1"]
    assert "never polled" in lines["node3"]
    r = runner.invoke(main, ["sql", "--config", str(cfg), "--format", "csv",
                             "SELECT DISTINCT host FROM processes ORDER BY 1"])
    assert r.output.split() == ["host", "node1", "node2"]


def test_the_collector_is_paused_for_the_round_and_back_after(cluster, tmp_path,
                                                              monkeypatch):
    """The cyclic collector is off while a round polls and stores (it walked everything
    the round kept, for nothing) and on again afterwards."""
    import gc

    from onion.pipeline import store

    seen: list[bool] = []
    real = store.store_round

    def spying(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "store_round", spying)
    cfg = make_config(tmp_path, cluster["known"])
    probes = registry.select(registry.installed(), ["cpu"])
    assert gc.isenabled()
    summary = run_poll(cfg, [host("gc1", cluster["servers"][0], cluster["user_key"])], probes)
    assert summary.results[0].status == "ok" and summary.stored
    assert seen == [False] and gc.isenabled()
