from __future__ import annotations

from onion.inventory.loader import load
from tests.inventory.conftest import DATA


def test_native_inventory():
    h = {x.name: x for x in load(DATA / "native.yml")}
    assert list(h) == ["login1.example.com", "node01.cluster", "node02.cluster",
                       "node03.cluster", "node04.cluster", "workstation"]
    login = h["login1.example.com"]
    assert (login.address, login.port, login.user, login.jump) == (
        "192.0.2.10", 2222, "monitor", "admin@gateway.example.com")
    assert login.key_files == ("~/.ssh/onion_ed25519",)
    assert login.groups == ("ungrouped",)
    assert login.vars == {"probes": {"gpu": False}, "watch_files": ["/etc/passwd"]}


def test_native_precedence():
    h = {x.name: x for x in load(DATA / "native.yml")}
    n1, n3, n4 = h["node01.cluster"], h["node03.cluster"], h["node04.cluster"]
    # group settings: compute (child) over defaults; keys from the parent group cluster
    assert (n1.user, n1.jump) == ("hpc", "login1.example.com")
    assert n1.key_files == ("~/.ssh/cluster_a", "~/.ssh/cluster_b")
    # vars: cluster replaces defaults' probes; gpu (a deeper group) replaces cluster's
    assert n1.vars == {"probes": {"gpu": False, "cluster": True}, "site": "lab"}
    assert n3.vars["probes"] == {"gpu": True}
    assert n3.groups == ("cluster", "compute", "gpu")
    # host settings and vars override every group
    assert n4.user == "root"
    assert n4.vars["probes"] == {"gpu": False, "cpu": True}


def test_native_local_host_and_host_groups():
    ws = {x.name: x for x in load(DATA / "native.yml")}["workstation"]
    assert ws.local and ws.groups == ("desk",)


def test_plain_list():
    h = {x.name: x for x in load(DATA / "hosts.txt")}
    assert list(h) == ["login1.example.com", "login2.example.com", "node01.cluster",
                       "node02.cluster", "node03.cluster", "2001:db8::7", "2001:db8::8",
                       "2001:db8::9"]
    assert (h["login2.example.com"].user, h["login2.example.com"].port) == ("admin", 2222)
    assert h["login1.example.com"].port == 2200  # listed twice: the later line wins
    assert h["2001:db8::7"].port == 2222
    assert h["2001:db8::8"].port is None
    assert h["2001:db8::9"].user == "ops"
    assert all(x.groups == ("ungrouped",) for x in h.values())
