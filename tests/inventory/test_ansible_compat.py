"""Onion reads Ansible inventories as Ansible does: the same inventories through the real
`ansible-inventory --list` (ansible-core, a test extra) and through Onion give the same
hosts, groups and variables. Each inventory here is one Onion once read differently."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from onion.inventory import loader

# The connection variables Onion takes out of a host's vars into its own fields.
CONNECTION = {"ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port",
              "ansible_user", "ansible_ssh_user", "ansible_ssh_private_key_file",
              "ansible_private_key_file", "ansible_connection"}


def _ansible_inventory() -> str | None:
    found = shutil.which("ansible-inventory")
    beside = Path(sys.executable).with_name("ansible-inventory")
    return found or (str(beside) if beside.exists() else None)


def ansible_view(path: Path) -> dict[str, tuple[set[str], dict[str, Any]]]:
    tool = _ansible_inventory()
    if tool is None:
        pytest.skip("ansible-inventory is not installed (pip install ansible-core)")
    out = subprocess.run([tool, "-i", str(path), "--list"], capture_output=True, text=True,
                         check=True, timeout=120,
                         env={"ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                              "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                              "HOME": str(path.parent)}).stdout
    data = json.loads(out)
    groups: dict[str, set[str]] = {}

    def walk(group: str, parents: tuple[str, ...]) -> None:
        body = data.get(group, {})
        for h in body.get("hosts", []):
            groups.setdefault(h, set()).update({group, *parents})
        for child in body.get("children", []):
            walk(child, (*parents, group))

    walk("all", ())
    hostvars = data["_meta"]["hostvars"]
    return {h: (g - {"all"}, {k: v for k, v in hostvars.get(h, {}).items()
                              if k not in CONNECTION and k != "ansible_group_priority"})
            for h, g in groups.items()}


def onion_view(path: Path) -> dict[str, tuple[set[str], dict[str, Any]]]:
    return {h.name: (set(h.groups) - {"all"}, {k: v for k, v in h.vars.items()
                                               if k != "ansible_group_priority"})
            for h in loader.load(path)}


INVENTORIES = {
    "hosts-as-a-scalar.yml": "all:\n  children:\n    web:\n      hosts: web1.example.com\n",
    "ranges-children-vars.ini": ("[compute]\nnode[01:03] rack=a\n[gpu]\nnode03 cards=8\n"
                                 "[cluster:children]\ncompute\ngpu\n[cluster:vars]\n"
                                 "site=lab\nrack=z\n"),
    "same-depth-order.ini": "[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\n[b:vars]\nx=b\n",
    "priority.ini": ("[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\nansible_group_priority=5\n"
                     "[b:vars]\nx=b\n"),
}


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_onion_reads_it_as_ansible_inventory_does(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(INVENTORIES[name])
    assert onion_view(path) == ansible_view(path)


def test_group_priority_in_group_vars_as_ansible(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.ini").write_text("[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\n[b:vars]\nx=b\n")
    (inv / "group_vars" / "a.yml").write_text("ansible_group_priority: 5\n")
    assert onion_view(inv) == ansible_view(inv)
