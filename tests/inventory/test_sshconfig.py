from __future__ import annotations

import pytest

from onion.core.errors import ConfigError
from onion.inventory.model import LOCALHOST, Host
from onion.inventory.sshconfig import resolve

CONFIG = """\
# first obtained value wins, so specific blocks come first, as in real configs
Host bastion
    HostName 203.0.113.9
    User jumper
    Port 2022

Host *.cluster !node99.cluster
    User hpc
    ProxyJump bastion
    IdentityFile ~/.ssh/%h_key

Host node01.cluster
    User not-used
    HostName 10.0.0.1

Match user root
    Port 2200

Host *
    User fallback
    Port 22
    IdentityFile ~/.ssh/id_default
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    return [path]


def test_hostname_port_user(config):
    h = resolve(Host(name="bastion"), config)
    assert (h.address, h.port, h.user) == ("203.0.113.9", 2022, "jumper")
    assert h.key_files == ("~/.ssh/id_default",)
    assert h.jump is None


def test_patterns_first_match_wins_and_tokens(config):
    h = resolve(Host(name="node01.cluster", groups=("compute",)), config)
    assert h.user == "hpc"                      # *.cluster came first
    assert h.address == "10.0.0.1"              # first HostName, from the later block
    assert h.jump == "bastion"
    assert h.key_files == ("~/.ssh/10.0.0.1_key", "~/.ssh/id_default")  # %h = HostName
    assert h.port == 22
    assert h.groups == ("compute",)             # the rest is untouched


def test_negated_pattern(config):
    h = resolve(Host(name="node99.cluster"), config)
    assert (h.user, h.jump, h.address) == ("fallback", None, None)


def test_inventory_values_win(config):
    h = resolve(Host(name="node02.cluster", user="me", port=2300, jump="gw",
                     key_files=("k",)), config)
    assert (h.user, h.port, h.jump, h.key_files) == ("me", 2300, "gw", ("k",))


def test_inventory_user_is_seen_by_match_user(config):
    assert resolve(Host(name="x", user="root"), config).port == 2200


def test_address_is_what_patterns_see(config):
    h = resolve(Host(name="alias", address="bastion"), config)
    assert (h.address, h.user, h.port) == ("203.0.113.9", "jumper", 2022)


def test_local_and_empty_config(config):
    assert resolve(LOCALHOST, config) is LOCALHOST
    plain = Host(name="x")
    assert resolve(plain, []) == plain


def test_bad_config(tmp_path):
    path = tmp_path / "cfg"
    path.write_text("Host x\n    Port twenty\n")
    with pytest.raises(ConfigError, match=r"cfg line 2: Invalid Port integer value"):
        resolve(Host(name="x"), [path])
    # A missing file is an empty one, as OpenSSH treats ~/.ssh/config.
    assert resolve(Host(name="x"), [tmp_path / "missing"]) == Host(name="x")
