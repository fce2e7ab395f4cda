from __future__ import annotations

from pathlib import Path

import pytest

from onion.inventory.loader import detect, load
from onion.inventory.model import LOCALHOST
from tests.inventory.conftest import DATA


def test_no_inventory_is_this_machine():
    assert load(None) == [LOCALHOST]
    assert LOCALHOST.local


@pytest.mark.parametrize(("name", "text", "kind"), [
    ("hosts.yml", "anything", "yaml"),
    ("hosts.json", "{}", "yaml"),
    ("hosts.ini", "a\nb\n", "ini"),
    ("hosts.cfg", "a\n", "ini"),
    ("hosts", "# comment\n[web]\nw1\n", "ini"),
    ("hosts", "w1 ansible_host=10.0.0.1\n", "ini"),
    ("hosts", "---\nall:\n", "yaml"),
    ("hosts", "# c\nonion: 1\n", "yaml"),
    ("hosts", "all:\n  hosts:\n", "yaml"),
    ("hosts.txt", "a\nuser@b:22\n[::1]:2222\n[fe80::1]\n", "plain"),
    ("hosts", "", "plain"),
])
def test_detect(name, text, kind):
    assert detect(Path(name), text) == kind


def test_detect_on_files():
    assert [h.name for h in load(DATA / "inventory_noext")] == ["web1"]
    assert load(DATA / "inventory_noext")[0].address == "10.1.1.1"
    assert [h.port for h in load(DATA / "plain_noext")] == [None, 2022]


def test_names_are_unique_everywhere():
    for name in ("ansible_ini/hosts.ini", "ansible.yml", "native.yml", "hosts.txt"):
        names = [h.name for h in load(DATA / name)]
        assert len(names) == len(set(names)), name


def test_accepts_str_paths():
    assert load(str(DATA / "plain_noext"))[0].name == "alpha"
