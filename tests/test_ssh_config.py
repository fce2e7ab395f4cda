"""An OpenSSH client config that already works with `ssh` works with `onion poll`:
UserKnownHostsFile and ProxyJump set only in ~/.ssh/config are honoured, and
StrictHostKeyChecking no is said to be refused rather than followed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.sshd import SSHD, home_dir, keygen, start_sshd

pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")


def test_user_known_hosts_file_and_proxy_jump_from_the_users_ssh_config(tmp_path: Path):
    key = keygen(tmp_path / "id_user")
    hosts_home = home_dir(tmp_path)
    bastion = start_sshd(tmp_path / "b", "127.0.0.18", [key], hosts_home, log_level="INFO")
    target = start_sshd(tmp_path / "t", "127.0.0.19", [key], hosts_home, log_level="INFO")
    try:
        home = tmp_path / "user"
        (home / ".ssh").mkdir(parents=True)
        known = home / "lab_known_hosts"       # a file only ssh_config names
        known.write_text(bastion.known_hosts_line() + target.known_hosts_line())
        (home / ".ssh" / "config").write_text(
            f"Host node\n    HostName {target.addr}\n    Port {target.port}\n    User root\n"
            f"    IdentityFile {key}\n    UserKnownHostsFile {known}\n"
            f"    ProxyJump root@{bastion.addr}:{bastion.port}\n"
            f"Host {bastion.addr}\n    IdentityFile {key}\n    UserKnownHostsFile {known}\n"
            "    StrictHostKeyChecking no\n")
        (home / ".ssh" / "config").chmod(0o600)
        inv = tmp_path / "hosts.txt"
        inv.write_text("node\n")
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n'
                       '[probes]\nenable = ["memory"]\n[ssh]\nknown_hosts = []\nagent = false\n')
        env = {**os.environ, "HOME": str(home)}
        env.pop("SSH_AUTH_SOCK", None)
        run = subprocess.run([sys.executable, "-m", "onion.cli", "poll", "-v", "-i", str(inv),
                              "--config", str(cfg)], capture_output=True, text=True, env=env,
                             timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "1/1 hosts ok" in run.stdout, run.stdout
        assert "StrictHostKeyChecking no; not followed" in run.stderr
        assert bastion.log.read_text().count("Accepted publickey") == 1  # through the jump
        con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
        assert con.execute("SELECT host FROM memory").fetchall() == [("node",)]
    finally:
        bastion.stop()
        target.stop()
