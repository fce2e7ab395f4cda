"""End to end against SSH servers that answer as FreeBSD, OpenBSD, NetBSD and macOS hosts."""

from __future__ import annotations

import asyncssh
import duckdb
import pytest

from onion.inventory.model import Host
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.probes import registry
from onion.probes.base import OS
from tests.replay_server import ReplayHost, fixture_parts

OSES = [OS.FREEBSD, OS.OPENBSD, OS.MACOS, OS.NETBSD]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    user_key.write_private_key(root / "id_user")
    probes = registry.select(registry.installed())
    servers = {os: ReplayHost(os, probes, asyncssh.generate_private_key("ssh-ed25519"),
                              user_key.export_public_key("openssh").decode(),
                              addr=f"127.0.0.{10 + i}")
               for i, os in enumerate(OSES)}
    known = root / "known_hosts"
    known.write_text("".join(s.known_hosts_line() for s in servers.values()))
    yield root, servers, known, probes
    for s in servers.values():
        s.close()


def test_poll_bsd_and_macos_hosts(hosts, tmp_path):
    root, servers, known, probes = hosts
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    cfg.ssh.known_hosts, cfg.ssh.config, cfg.ssh.agent = [str(known)], [], False
    inventory = [Host(name=f"{os.value}-box", address=s.addr, port=s.port, user="admin",
                      key_files=(str(root / "id_user"),)) for os, s in servers.items()]
    summary = run_poll(cfg, inventory, probes)
    assert {r.host.name: r.status for r in summary.results} == {
        h.name: "ok" for h in inventory}
    assert all(s.commands == ["/bin/sh -s"] for s in servers.values())  # one channel each
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    for os in OSES:
        host = f"{os.value}-box"
        assert con.execute("SELECT os FROM polls WHERE host = ?", [host]).fetchone()[0] == os.value
        states = dict(con.execute("SELECT probe, status FROM probe_results WHERE host = ?",
                                  [host]).fetchall())
        for probe in probes:
            if not probe.supports(os):
                assert states[probe.name] == "unsupported", (os, probe.name)
                continue
            if fixture_parts(os, probe) is None:
                continue
            assert states[probe.name] == "ok", (os, probe.name, states[probe.name])
            n = con.execute(f"SELECT count(*) FROM {probe.name} WHERE host = ?",
                            [host]).fetchone()[0]
            assert n > 0, (os, probe.name)
    unsupported = set(con.execute("SELECT host || ':' || probe FROM probe_results "
                                  "WHERE status = 'unsupported'").fetchall())
    assert ("openbsd-box:modules",) in unsupported
    assert ("macos-box:temperatures",) in unsupported
    reasons = con.execute("SELECT reason FROM probe_results WHERE host = 'openbsd-box' "
                          "AND probe = 'modules'").fetchone()[0]
    assert "loadable" in reasons
    assert ("netbsd-box:gpu",) in unsupported
    assert ("netbsd-box:gpu_processes",) in unsupported
    assert ("netbsd-box:modules",) not in unsupported  # NetBSD loads modules (modstat)


def test_every_supported_probe_has_a_replay_fixture():
    for probe in registry.installed().values():
        for os in OSES:
            if probe.supports(os):
                assert fixture_parts(os, probe) is not None, (probe.name, os)
