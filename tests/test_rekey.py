"""``onion hosts --rekey`` forgets exactly the reimaged host's key lines, as known_hosts
names them ([addr]:port for a port other than 22, hashed entries too), in Onion's own
file, writing it atomically; the user's known_hosts only when asked."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

from click.testing import CliRunner

from onion.cli.main import main

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_rekey_matches_address_and_port_and_touches_only_onions_file(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.ini"
    inv.write_text("node07 ansible_host=10.9.8.7 ansible_port=2222\nother ansible_host=10.9.8.7\n")
    own, theirs = tmp_path / "onion_known_hosts", tmp_path / "user_known_hosts"
    lines = [f"[10.9.8.7]:2222 {KEY}\n",          # node07 by address and port: goes
             f"10.9.8.7 {KEY}\n",                 # `other`, same address on port 22: stays
             f"{hashed('[10.9.8.7]:2222')} {KEY}\n",  # node07, hashed: goes
             f"node07 {KEY}\n",                   # a port-22 line named node07: stays
             f"[node07]:2222,[10.9.8.7]:2222 {KEY}\n",  # goes
             "# a comment\n", f"@revoked [10.9.8.7]:2222 {KEY}\n"]  # stay
    own.write_text("".join(lines))
    own.chmod(0o600)
    theirs.write_text("".join(lines))
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[ssh]\nknown_hosts = ["{theirs}"]\naccept_new_file = "{own}"\n'
                   'config = []\n')
    inode = own.stat().st_ino
    res = CliRunner().invoke(main, ["hosts", "--config", str(cfg), "-i", str(inv),
                                    "--rekey", "node07"])
    assert res.exit_code == 0, res.output
    assert "removed 3 key line(s)" in res.stdout
    assert own.read_text() == "".join(lines[i] for i in (1, 3, 5, 6))
    assert own.stat().st_ino != inode and (own.stat().st_mode & 0o777) == 0o600  # replaced
    assert theirs.read_text() == "".join(lines)  # the user's file is theirs
    assert "also has key line(s)" in res.stderr and "--all-known-hosts" in res.stderr

    res = CliRunner().invoke(main, ["hosts", "--config", str(cfg), "-i", str(inv),
                                    "--rekey", "node07", "--all-known-hosts"])
    assert res.exit_code == 0 and "removed 3 key line(s)" in res.stdout
    assert theirs.read_text() == own.read_text()
