"""Cron etiquette: quiet while nothing changes; one line when hosts go down or every host
fails; -q silences even that; `onion alerts --check` exits like a Nagios plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from onion.cli.main import main
from tests.alerts.conftest import Fleet, write_config
from tests.alerts.test_builtin import fs
from tests.sshd import free_port


def onion(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_one_line_when_hosts_go_down_then_quiet(tmp_path: Path) -> None:
    port = free_port("127.0.0.15")
    inv = tmp_path / "hosts.ini"
    inv.write_text("here ansible_connection=local\n"
                   f"gone ansible_host=127.0.0.15 ansible_port={port}\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[probes]\nenable = ["memory"]\n'
                   '[ssh]\nconfig = []\nagent = false\n')
    first = onion("poll", "-i", str(inv), "--config", str(cfg))
    assert first.returncode == 0
    assert "1 host(s) went down since their last poll: gone (unreachable)" in first.stderr
    again = onion("poll", "-i", str(inv), "--config", str(cfg))
    assert again.returncode == 0 and again.stderr == ""   # still down: nothing new to say
    inv.write_text(f"gone ansible_host=127.0.0.15 ansible_port={port}\n"
                   f"gone2 ansible_host=127.0.0.15 ansible_port={port}\n")
    every = onion("poll", "-i", str(inv), "--config", str(cfg))
    assert every.returncode == 0 and "every host failed this round (2)" in every.stderr
    quiet = onion("poll", "-q", "-i", str(inv), "--config", str(cfg))
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_alerts_check_exits_like_a_nagios_plugin(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path / "onion.duckdb", write_config(tmp_path / "onion.toml", ""))

    def check() -> int:
        return CliRunner().invoke(main, ["alerts", "--check", "--db", str(fleet.db),
                                         "--config", str(fleet.cfg_path)]).exit_code

    fleet.poll({"filesystems": [fs("/", 50)]})
    assert check() == 0
    fleet.poll({"filesystems": [fs("/var", 95)]})        # filesystem_full: a warning
    assert check() == 1
    fleet.poll(down={"a": "unreachable"})
    fleet.poll(down={"a": "unreachable"})                # host_down after 2 polls: critical
    assert check() == 2
