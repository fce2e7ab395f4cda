"""Jump hosts against real OpenSSH servers: one connection to a bastion per round,
shared by every target behind it, and closed when they are done."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from onion.core.errors import ConfigError
from onion.inventory.model import Host, parse_jump
from onion.pipeline.round import run_poll
from onion.probes import registry
from tests.sshd import SSHD, free_port, home_dir, keygen, start_sshd
from tests.test_ssh_poll import make_config

pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("jump")
    key = keygen(root / "id_user")
    home = home_dir(root)
    # INFO: sshd logs one "Accepted publickey" line per connection.
    bastion = start_sshd(root / "bastion", "127.0.0.8", [key], home, log_level="INFO")
    targets = [start_sshd(root / f"t{i}", f"127.0.0.{i}", [key], home, log_level="INFO")
               for i in (9, 10, 11)]
    known = root / "known_hosts"
    known.write_text("".join(s.known_hosts_line() for s in [bastion, *targets]))
    yield {"key": key, "bastion": bastion, "targets": targets, "known": known}
    for s in [bastion, *targets]:
        s.stop()


def _logins(server) -> int:
    return server.log.read_text().count("Accepted publickey")


def _open_to(port: int) -> list:
    proc = psutil.Process()
    conns = getattr(proc, "net_connections", proc.connections)  # psutil < 6 spells it so
    return [c for c in conns("tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED]


def test_parse_jump():
    assert [(h.name, h.user, h.port) for h in parse_jump("a@gw:2200,[::1]:23,plain")] == [
        ("gw", "a", 2200), ("::1", None, 23), ("plain", None, None)]
    assert parse_jump("none") == ()
    for bad in ("gw:port", "gw:0", "g w", "a@", ""):
        with pytest.raises(ConfigError, match="jump host"):
            parse_jump(bad)
    assert Host(name="t", jump="u@gw:2").jump_hosts[0].port == 2


def test_one_bastion_connection_per_round_shared_and_closed(lab, tmp_path):
    b = lab["bastion"]
    via = f"root@{b.addr}:{b.port}"
    hosts = [Host(name=f"node{i}", address=t.addr, port=t.port, user="root",
                  key_files=(str(lab["key"]),), jump=via)
             for i, t in enumerate(lab["targets"])]
    # One at a time: the bastion connection must outlive each target, not be redone.
    cfg = make_config(tmp_path, lab["known"], concurrency=1)
    probes = registry.select(registry.installed(), ["memory"])
    before = _logins(b)
    summary = run_poll(cfg, hosts, probes)
    assert [r.status for r in summary.results] == ["ok", "ok", "ok"], \
        [r.reason for r in summary.results]
    assert _logins(b) - before == 1
    assert _open_to(b.port) == []  # closed once the last target was done
    for t in lab["targets"]:
        assert _open_to(t.port) == []

    run_poll(cfg, hosts, probes)   # the next round: one more, not three
    assert _logins(b) - before == 2


def test_a_dead_bastion_costs_only_its_targets(lab, tmp_path):
    dead = free_port("127.0.0.12")
    t = lab["targets"]
    key = (str(lab["key"]),)
    behind = [Host(name=f"behind{i}", address=t[i].addr, port=t[i].port, user="root",
                   key_files=key, jump=f"root@127.0.0.12:{dead}") for i in (0, 1)]
    direct = Host(name="direct", address=t[2].addr, port=t[2].port, user="root", key_files=key)
    cfg = make_config(tmp_path, lab["known"])
    summary = run_poll(cfg, [*behind, direct], registry.select(registry.installed(), ["memory"]))
    status = {r.host.name: r for r in summary.results}
    assert status["direct"].status == "ok"
    for name in ("behind0", "behind1"):
        assert status[name].status == "unreachable"
        assert "jump host 127.0.0.12" in status[name].reason
