from __future__ import annotations

import pytest

from onion.core.errors import ConfigError
from onion.inventory.ansible_vars import jump_from_args
from onion.inventory.loader import load
from tests.inventory.conftest import DATA


def by_name(path):
    return {h.name: h for h in load(path)}


def test_ini_groups_ranges_and_order():
    hosts = load(DATA / "ansible_ini" / "hosts.ini")
    assert [h.name for h in hosts] == [
        "gateway.example.com", "login1.example.com", "login2.example.com",
        "node01.example.com", "node02.example.com", "node03.example.com",
        "node04.example.com", "gpua.example.com", "gpub.example.com"]
    h = {h.name: h for h in hosts}
    assert h["gateway.example.com"].groups == ("ungrouped",)
    assert h["node01.example.com"].groups == ("cluster", "compute")


def test_ini_connection_vars_become_fields():
    h = by_name(DATA / "ansible_ini" / "hosts.ini")
    gw = h["gateway.example.com"]
    assert (gw.address, gw.user, gw.port) == ("192.0.2.1", "admin", None)
    assert "ansible_host" not in gw.vars and "ansible_user" not in gw.vars
    assert h["login1.example.com"].port == 2222
    node = h["node01.example.com"]
    assert node.jump == "admin@gateway.example.com"
    # the rest of the common args stays available to the transport
    assert "StrictHostKeyChecking" in node.vars["ansible_ssh_common_args"]


def test_ini_precedence_child_over_parent_host_over_group():
    h = by_name(DATA / "ansible_ini" / "hosts.ini")
    # compute is a child of cluster: its ansible_user and probes win
    assert h["node02.example.com"].user == "hpc"
    assert h["node02.example.com"].vars["probes"] == {"gpu": False}
    # login has no ansible_user: the parent's applies
    assert h["login1.example.com"].user == "clusteradmin"
    assert h["login1.example.com"].vars["probes"] == {"gpu": True}
    # all:vars reach every host, ungrouped ones included
    for host in h.values():
        assert host.vars["ansible_python_interpreter"] == "/usr/bin/python3"


def test_ini_values_quotes_literals_and_repeated_hosts():
    h = by_name(DATA / "ansible_ini" / "hosts.ini")
    gpu = h["gpua.example.com"]
    assert gpu.vars["note"] == "has a GPU"
    assert gpu.vars["slots"] == 8
    assert gpu.address == "10.0.0.5"
    assert h["node03.example.com"].vars["rack"] == "r2"
    assert h["node03.example.com"].groups == ("cluster", "compute")
    assert h["node01.example.com"].vars["ansible_become"] == "true"  # as Ansible: a string


def test_group_vars_and_host_vars_folders():
    h = by_name(DATA / "ansible_ini" / "hosts.ini")
    assert h["login2.example.com"].key_files == ("~/.ssh/login2_ed25519",)
    assert h["login1.example.com"].key_files == ()
    assert h["login1.example.com"].vars["thresholds"] == {"load_1m": 8}


def test_yaml_inventory():
    h = by_name(DATA / "ansible.yml")
    assert list(h) == ["bastion.example.com", "web1.example.com", "web2.example.com",
                       "web3.example.com", "db1.example.com"]
    assert h["bastion.example.com"].address == "198.51.100.7"
    assert h["bastion.example.com"].groups == ("ungrouped",)
    assert h["web2.example.com"].port == 2201
    assert h["web1.example.com"].groups == ("prod", "web")
    assert h["web1.example.com"].vars == {"http_port": 80, "env": "prod"}  # child wins
    db = h["db1.example.com"]
    assert (db.user, db.key_files, db.jump) == ("postgres", ("~/.ssh/db",),
                                               "ops@bastion.example.com")
    assert db.vars["http_port"] == 8080


def test_group_priority_and_same_depth_name_order(write):
    path = write("inv.ini", "[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\n[b:vars]\nx=b\n")
    assert load(path)[0].vars["x"] == "b"
    path = write("inv2.ini", "[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\nansible_group_priority=5\n"
                             "[b:vars]\nx=b\n")
    assert load(path)[0].vars["x"] == "a"


def test_ini_host_port_ipv6_and_local(write):
    path = write("inv.ini", "[db]\ndb1:5022\n[2001:db8::1]:2200\nfe80::2\n"
                            "me ansible_connection=local\n")
    h = {x.name: x for x in load(path)}
    assert h["db1"].port == 5022
    assert h["2001:db8::1"].port == 2200
    assert h["fe80::2"].port is None
    assert h["me"].local and "ansible_connection" not in h["me"].vars


def test_inventory_hostname_template(write):
    path = write("inv.yml", "all:\n  vars:\n    ansible_host: '{{ inventory_hostname }}.mgmt'\n"
                            "  hosts:\n    n1.lab:\n")
    assert load(path)[0].address == "n1.lab.mgmt"


@pytest.mark.parametrize(("args", "jump"), [
    ("-J admin@gw", "admin@gw"),
    ("-Jgw:2222", "gw:2222"),
    ("-o ProxyJump=a@b,c@d", "a@b,c@d"),
    ("-oProxyJump=gw", "gw"),
    ("-o 'ProxyJump gw'", "gw"),
    ('-o ProxyCommand="ssh -W %h:%p -q ops@gw"', "ops@gw"),
    ('-o ProxyCommand="ssh -p 2022 -l ops -W %h:%p gw"', "ops@gw:2022"),
    ('-o ProxyCommand="nc -X 5 -x proxy:1080 %h %p"', None),
    ("-o StrictHostKeyChecking=no", None),
])
def test_jump_from_args(args, jump):
    assert jump_from_args(args) == jump


def test_directory_inventory_merges_files(write, tmp_path):
    write("inv/10-a.ini", "[web]\nw1 ansible_user=a x=1\n")
    write("inv/20-b.yml", "all:\n  children:\n    db:\n      hosts:\n        w1: {x: 2}\n")
    write("inv/20-b.yml~", "garbage [[[\n")
    (w1,) = load(tmp_path / "inv")
    assert w1.groups == ("web", "db") and w1.user == "a" and w1.vars["x"] == 2


def test_vaulted_values(write):
    text = ("all:\n  hosts:\n    h1:\n      secret: !vault |\n"
            "        $ANSIBLE_VAULT;1.1;AES256\n        6162\n")
    (h1,) = load(write("inv.yml", text))
    assert repr(h1.vars["secret"]) == "<vaulted>"
    bad = text.replace("secret", "ansible_host")
    with pytest.raises(ConfigError, match="vault-encrypted"):
        load(write("bad.yml", bad))


def test_old_ansible_ssh_names_win_as_in_ansible(write):
    path = write("inv.ini", "h1 ansible_host=10.0.0.1 ansible_ssh_host=10.0.0.2 "
                            "ansible_port=22 ansible_ssh_port=2222 ansible_user=a "
                            "ansible_ssh_user=b\n")
    h = load(path)[0]
    assert (h.address, h.port, h.user) == ("10.0.0.2", 2222, "b")


def test_misspelled_connection_and_onion_variables_are_said_once(write, caplog):
    path = write("inv.ini", "[g]\nh1\nh2\n[g:vars]\nansible_prot=2222\nonion_watch=/etc\n"
                            "ansible_become=true\n")
    with caplog.at_level("WARNING", logger="onion.inventory.ansible_vars"):
        load(path)
    said = [r.getMessage() for r in caplog.records]
    assert sum("ansible_prot" in m and "did you mean ansible_port" in m for m in said) == 1
    assert sum("onion_watch" in m and "watch_files" in m for m in said) == 1
    assert not any("ansible_become" in m for m in said)  # Ansible's own: not Onion's to judge


def test_hosts_as_a_scalar(write):
    path = write("inv.yml", "all:\n  children:\n    web:\n      hosts: web1.example.com\n")
    (h,) = load(path)
    assert (h.name, h.groups) == ("web1.example.com", ("web",))


def test_jinja_in_connection_variables_is_rendered_over_the_hosts_vars(write, caplog):
    path = write("inv.ini", "[g]\nw1 myhost=10.0.0.5\nw2 myhost=10.0.0.6 base=2200\n"
                            "w3\n[g:vars]\nansible_host={{ myhost }}\n"
                            "ansible_port={{ base | default(22) }}\n")
    with caplog.at_level("WARNING"):
        hosts = {h.name: h for h in load(path)}
    assert (hosts["w1"].address, hosts["w1"].port) == ("10.0.0.5", 22)
    assert (hosts["w2"].address, hosts["w2"].port) == ("10.0.0.6", 2200)
    # w3 has no myhost: only that host is left out, with the reason.
    assert "w3" not in hosts
    assert any("w3" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records)


def test_a_template_onion_cannot_evaluate_costs_its_host_only(write, caplog):
    path = write("inv.ini", "[web]\nw1 ansible_host='{{ lookup(\"pipe\", \"hostname\") }}'\n"
                            "w2 ansible_host=10.0.0.2\n")
    with caplog.at_level("WARNING"):
        assert [h.name for h in load(path)] == ["w2"]
    assert any("w1" in r.getMessage() and "lookup" in r.getMessage() for r in caplog.records)


def test_group_priority_in_group_vars_files_is_ignored_as_by_ansible(tmp_path):
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.ini").write_text("[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\n[b:vars]\nx=b\n")
    (inv / "group_vars" / "a.yml").write_text("ansible_group_priority: 5\n")
    assert load(inv)[0].vars["x"] == "b"  # same depth: name order, the file's 5 unused
