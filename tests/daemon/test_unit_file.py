"""The systemd unit runs a real verb with what the daemon needs, and systemd accepts it
(where systemd-analyze is installed)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "onion.service"


def _unit() -> configparser.ConfigParser:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str  # type: ignore[assignment,method-assign]
    p.read_string(UNIT.read_text())
    return p


def test_the_unit_starts_the_daemon_and_reloads_with_sighup():
    svc = _unit()["Service"]
    exec_start = shlex.split(svc["ExecStart"])
    assert exec_start[1:] == ["daemon"]
    out = subprocess.run([sys.executable, "-m", "onion.cli", *exec_start[1:], "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "SIGHUP" in out.stdout
    assert "-HUP" in svc["ExecReload"]
    assert svc["UMask"] == "0077" and svc["User"] == "onion"
    db_dir = svc["ReadWritePaths"]
    assert svc["Environment"] == f"ONION_CONFIG={db_dir}/onion.toml"
    assert "AF_UNIX" in svc["RestrictAddressFamilies"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path):
    unit = tmp_path / "onion.service"
    # The binary path differs per install; verify the rest with one that exists.
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/onion", sys.executable))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                         text=True, timeout=60)
    bad = [line for line in out.stderr.splitlines()
           if str(unit) in line and "User=" not in line]
    assert not bad, out.stderr
