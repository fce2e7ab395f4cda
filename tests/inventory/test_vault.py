"""Ansible Vault: files and !vault values made by the real ansible-vault (ansible-core
2.x, `ansible-vault encrypt --vault-password-file` and `encrypt_string`), decrypted with
the configured password; without one, an error instead of silently lost settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from onion.core.errors import ConfigError
from onion.inventory import loader

DATA = Path(__file__).parent / "data"
PASSWORD = (DATA / "vaulted" / "vault-password").read_bytes().strip()


def test_a_vaulted_group_vars_file_is_decrypted() -> None:
    (h,) = loader.load(DATA / "vaulted" / "hosts.ini", PASSWORD)
    assert (h.name, h.address, h.user, h.port) == ("node01", "10.1.1.1", "vaulted-admin", 2299)


def test_an_inline_vault_value_is_decrypted() -> None:
    (h,) = loader.load(DATA / "vaulted_inline" / "inv.yml", PASSWORD)
    assert (h.name, h.port) == ("node02", 2299)


def test_without_the_password_it_is_an_error_not_a_silent_loss() -> None:
    with pytest.raises(ConfigError, match="vault-encrypted; name the vault password file"):
        loader.load(DATA / "vaulted" / "hosts.ini")
    with pytest.raises(ConfigError, match=r"node02.*ansible_port.*vault-encrypted"):
        loader.load(DATA / "vaulted_inline" / "inv.yml")


def test_a_wrong_password_is_said() -> None:
    with pytest.raises(ConfigError, match="wrong vault password"):
        loader.load(DATA / "vaulted" / "hosts.ini", b"not it")
