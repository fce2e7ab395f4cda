"""Connections kept open between rounds, against a real sshd: reused, replaced when the
host dropped them or they grew old, not retried before the backoff after a failure."""

from __future__ import annotations

import asyncio
import time

import psutil
import pytest

from onion.inventory.model import Host
from onion.poller.run import poll_hosts, transport_options
from onion.poller.transport import KeepOptions, SSHTransport
from onion.probes import registry
from tests.daemon.conftest import needs_sshd
from tests.sshd import free_port
from tests.test_ssh_poll import make_config

pytestmark = needs_sshd


def _probes():
    return registry.select(registry.installed(), ["memory"])


def _host(lab, i: int, **kw) -> Host:
    s = lab.servers[i]
    return Host(name=f"k{i}", address=kw.get("address", s.addr), port=kw.get("port", s.port),
                user="root", key_files=(str(lab.key),))


async def _rounds(cfg, hosts, transport, n: int) -> list:
    out = []
    for _ in range(n):
        out.append(await poll_hosts(cfg, hosts, _probes(), ssh=transport))
    return out


def test_one_login_for_many_rounds_and_a_fresh_one_when_the_host_drops_it(lab, tmp_path):
    cfg = make_config(tmp_path, lab.known)
    before = lab.logins(0)

    async def go():
        t = SSHTransport(transport_options(cfg), KeepOptions())
        try:
            first = await _rounds(cfg, [_host(lab, 0)], t, 3)
            assert t.open_connections == 1
            logins_kept = lab.logins(0) - before
            # The host drops the session (sshd's child for it killed: a reboot, a restart).
            for child in psutil.Process(lab.servers[0].proc.pid).children(recursive=True):
                child.kill()
            await asyncio.sleep(0.3)
            again = await _rounds(cfg, [_host(lab, 0)], t, 2)
            return first, logins_kept, again, t.open_connections
        finally:
            await t.aclose()

    first, logins_kept, again, open_after = asyncio.run(go())
    assert [r[0].status for r in first + again] == ["ok"] * 5
    assert logins_kept == 1
    assert lab.logins(0) - before == 2          # one reconnect, not one per round
    assert open_after == 1


def test_an_old_connection_is_replaced(lab, tmp_path):
    cfg = make_config(tmp_path, lab.known)
    before = lab.logins(1)

    async def go():
        t = SSHTransport(transport_options(cfg), KeepOptions(max_age=0.2))
        try:
            await _rounds(cfg, [_host(lab, 1)], t, 1)
            time.sleep(0.3)
            return await _rounds(cfg, [_host(lab, 1)], t, 1)
        finally:
            await t.aclose()

    (res,), = asyncio.run(go())
    assert res.status == "ok"
    assert lab.logins(1) - before == 2


def test_a_failed_connect_waits_out_its_backoff(lab, tmp_path):
    cfg = make_config(tmp_path, lab.known)
    down = Host(name="down", address="127.0.0.1", port=free_port(), user="root",
                key_files=(str(lab.key),))

    async def go():
        t = SSHTransport(transport_options(cfg), KeepOptions(backoff_min=30, backoff_max=60))
        try:
            (a,), = await _rounds(cfg, [down], t, 1)
            tried = t.connects
            (b,), = await _rounds(cfg, [down], t, 1)
            return a, b, tried, t.connects
        finally:
            await t.aclose()

    a, b, tried, after = asyncio.run(go())
    assert a.status == "unreachable" and "refused" in a.reason
    assert b.status == "unreachable" and "not tried again" in b.reason
    assert after == tried                       # no connect attempt during the backoff


def test_a_changed_address_reconnects(lab, tmp_path):
    cfg = make_config(tmp_path, lab.known)

    async def go():
        t = SSHTransport(transport_options(cfg), KeepOptions())
        try:
            await _rounds(cfg, [_host(lab, 2)], t, 1)
            moved = Host(name="k2", address=lab.servers[3].addr, port=lab.servers[3].port,
                         user="root", key_files=(str(lab.key),))
            n = t.connects
            (res,), = await _rounds(cfg, [moved], t, 1)
            return res, t.connects - n, t.open_connections
        finally:
            await t.aclose()

    res, connects, still_open = asyncio.run(go())
    assert res.status == "ok" and connects == 1 and still_open == 1


@pytest.mark.parametrize("left", [0, 1])
def test_forget_closes_hosts_that_left(lab, tmp_path, left):
    cfg = make_config(tmp_path, lab.known)

    async def go():
        t = SSHTransport(transport_options(cfg), KeepOptions())
        try:
            hosts = [_host(lab, 0), _host(lab, 1)]
            await _rounds(cfg, hosts, t, 1)
            assert t.open_connections == 2
            await t.forget([hosts[1 - left].name])
            return t.open_connections
        finally:
            await t.aclose()

    assert asyncio.run(go()) == 1


def test_a_host_cut_mid_command_is_not_kept_with_its_channel(lab, tmp_path):
    """The round's deadline cuts a host that never answers: its connection, with the
    channel left open mid-command, is closed, not kept for the next round."""
    import asyncssh

    from tests import fault_server as fs

    pub = lab.key.with_suffix(".pub").read_text()
    stalled = fs.FaultHost(fs.stall(), asyncssh.generate_private_key("ssh-ed25519"), pub)
    known = tmp_path / "known_hosts"
    known.write_text(lab.known.read_text() + stalled.known_hosts_line())
    cfg = make_config(tmp_path, known, run_timeout=1.5)
    host = Host(name="stalled", address=stalled.addr, port=stalled.port, user="root",
                key_files=(str(lab.key),))

    async def go():
        t = SSHTransport(transport_options(cfg), KeepOptions())
        try:
            (res,), = await _rounds(cfg, [host, _host(lab, 0)][:1], t, 1)
            return res, t.open_connections
        finally:
            await t.aclose()

    try:
        res, still_open = asyncio.run(go())
    finally:
        stalled.close()
    assert res.status == "timeout" and "whole-run deadline" in res.reason
    assert still_open == 0
