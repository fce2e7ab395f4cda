"""Bad input: every error is a ConfigError naming the file, and the line where known."""

from __future__ import annotations

import re

import pytest

from onion.core.errors import ConfigError
from onion.inventory.loader import load

CASES = [
    # (file name, text, expected message: the file and line are checked as well)
    ("inv.ini", "[web]\nw1\n[web:hosts\n", r"inv.ini:3: invalid section"),
    ("inv.ini", "[web]\nw1\n[web:kids]\n", r"inv.ini:3: section \[web:kids\] has unknown type"),
    ("inv.ini", "[web]\nw1 ansible_port\n", r"inv.ini:2: expected key=value .* 'ansible_port'"),
    ("inv.ini", "[web]\nw1 note='unclosed\n", r"inv.ini:2: cannot split host line"),
    ("inv.ini", "[web]\nnode[05:01]\n", r"inv.ini:2: bad host pattern .* start comes after"),
    ("inv.ini", "[web]\nw1\n[web:vars]\njust words\n", r"inv.ini:4: expected key=value"),
    ("inv.ini", "[web:vars]\nx=1\n", r"inv.ini:1: \[web:vars\] is for a group that is never"),
    ("inv.ini", "[all:children]\nweb\nnope\n[web]\nw1\n",
     r"inv.ini:3: \[all:children\] names group 'nope', which is never declared"),
    ("inv.ini", "[a:children]\nb\n[b:children]\na\n", r"inv.ini: groups are children of each"),
    ("inv.ini", "[web]\nw1 ansible_port=ssh\n", r"inv.ini: host 'w1': ansible_port must be"),
    ("inv.yml", "all:\n  hosts:\n    - web1\n", r"inv.yml:2: hosts of group 'all' must be a"),
    ("inv.yml", "all:\n  host:\n    web1:\n", r"inv.yml:2: group 'all' has unknown key 'host'"),
    ("inv.yml", "all:\n  hosts:\n    a:\n    a:\n", r"inv.yml:4: duplicate key 'a' \(first on li"),
    ("inv.yml", "all:\n  hosts: [\n", r"inv.yml:\d+: not valid YAML"),
    ("inv.yml", "- a\n- b\n", r"inv.yml: not an inventory"),
    ("inv.yml", "all:\n  hosts:\n    h: 5\n", r"inv.yml:3: variables of host 'h' must be"),
    ("inv.yml", "onion: 2\n", r"inv.yml:1: unsupported Onion inventory version 2"),
    ("inv.yml", "onion: 1\nhosts:\n  a:\n    adress: x\n", r"inv.yml:4: unknown key 'adress'"),
    ("inv.yml", "onion: 1\nhosts:\n  a:\n    port: '22'\n", r"inv.yml:4: port must be a number"),
    ("inv.yml", "onion: 1\nhosts:\n  a:\n    port: 0\n", r"inv.yml:4: port must be a number"),
    ("inv.yml", "onion: 1\nhosts:\n  a:\n    local: yes please\n", r"inv.yml:4: local must be"),
    ("inv.yml", "onion: 1\nhosts:\n  a: [1]\n", r"inv.yml:3: host 'a' must be a mapping"),
    ("inv.yml", "onion: 1\ngroups:\n  all:\n    vars: {}\n", r"inv.yml:3: 'all' is implicit"),
    ("inv.yml", "onion: 1\ngroups:\n  g:\n    hosts: {a: 1}\n", r"inv.yml:4: hosts must be a list"),
    ("inv.yml", "onion: 1\nhosts:\n  a: {key: k, keys: [k]}\n", r"inv.yml:3: give `key` or `keys`"),
    ("inv.yml", "onion: 1\ngroups: [a]\n", r"inv.yml:2: groups must be a mapping"),
    ("inv.yml", "onion: 1\nextra: 1\n", r"inv.yml:2: unknown key 'extra' in the top level"),
    ("inv.yml", "onion: 1\ngroups:\n  a: {children: [b]}\n  b: {children: [a]}\n",
     r"inv.yml: groups are children of each other: .*a -> b -> a|b -> a -> b"),
    ("hosts.txt", "ok\nuser@host:port\n", r"hosts.txt:2: bad host 'host:port'"),
    ("hosts.txt", "a b\n", r"hosts.txt:1: expected one \[user@\]host\[:port\] per line"),
    ("hosts.txt", "@h\n", r"hosts.txt:1: empty user name"),
    ("hosts.txt", "h:99999\n", r"hosts.txt:1: .*out of range"),
]


@pytest.mark.parametrize(("name", "text", "message"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(write, name, text, message):
    path = write(name, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert re.search(message, str(info.value)), str(info.value)
    assert str(info.value).startswith(str(path)), "the message starts with the file name"


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.ini: inventory file not found"):
        load(tmp_path / "missing.ini")
    binary = tmp_path / "hosts"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"hosts: not a UTF-8 text file"):
        load(binary)
