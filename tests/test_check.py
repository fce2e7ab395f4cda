"""`onion check`: config, inventory and rules checked, every host reached as a poll
would reach it, nothing stored; and `onion poll` refuses a rule that does not bind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sshd import SSHD, free_port, home_dir, keygen, start_sshd

BAD_RULE = ('[[alerts.rules]]\nname = "typo"\ntable = "memory"\n'
            'condition = "availabel_bytes < 1"\n')


def onion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_a_rule_naming_a_missing_column_is_an_error_before_any_poll(tmp_path: Path) -> None:
    db = tmp_path / "o.duckdb"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory"]\n' + BAD_RULE)
    checked = onion("check", "--config", str(cfg))
    assert checked.returncode == 1
    assert "rule typo:" in checked.stderr and "availabel_bytes" in checked.stderr
    polled = onion("poll", "--config", str(cfg))
    assert polled.returncode == 1 and "rule typo:" in polled.stderr
    assert not db.exists()  # refused before the round: nothing polled, nothing stored


@pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")
def test_check_reports_each_host_as_a_poll_would_meet_it(tmp_path: Path) -> None:
    key = keygen(tmp_path / "id_user")
    server = start_sshd(tmp_path / "sshd", "127.0.0.16", [key], home_dir(tmp_path))
    try:
        closed = free_port("127.0.0.17")
        inv = tmp_path / "hosts.ini"
        inv.write_text("here ansible_connection=local\n"
                       f"closed ansible_host=127.0.0.17 ansible_port={closed}\n"
                       f"newkey ansible_host={server.addr} ansible_port={server.port} "
                       f"ansible_user=root ansible_ssh_private_key_file={key}\n")
        db = tmp_path / "o.duckdb"
        empty = tmp_path / "known_hosts"
        empty.write_text("")
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory", "gpu"]\n'
                       f'[ssh]\nknown_hosts = ["{empty}"]\nconfig = []\nagent = false\n')
        res = onion("check", "-i", str(inv), "--config", str(cfg), "--format", "json")
        assert res.returncode == 1, res.stderr
        hosts = {h["host"]: h for h in json.loads(res.stdout)}
        assert hosts["here"]["status"] == "ok" and hosts["here"]["os"] == "linux"
        assert "gpu: unavailable" in hosts["here"]["probes"]  # no nvidia-smi here
        assert hosts["closed"]["status"] == "unreachable"
        assert hosts["newkey"]["status"] == "host_key_unknown"
        assert f"ssh-keyscan -p {server.port} {server.addr}" in hosts["newkey"]["reason"]
        assert not db.exists()
        table = onion("check", "-i", str(inv), "--config", str(cfg), "-l", "here")
        assert table.returncode == 0 and "1/1 hosts would poll fine" in table.stdout
    finally:
        server.stop()
