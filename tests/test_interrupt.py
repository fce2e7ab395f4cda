"""Ctrl-C or SIGTERM mid-round stores what arrived, marks the hosts it cut, and leaves
no temp folder on the hosts behind."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from tests.sshd import SSHD, home_dir, keygen, start_sshd

SLOW = textwrap.dedent('''
    from dataclasses import dataclass
    from onion.plugin import OS, Part, Probe, col

    @dataclass(frozen=True, slots=True)
    class Nap:
        word: str = col("VARCHAR")

    PROBE = Probe(name="nap", record=Nap,
                  parts={OS.LINUX: [Part("p", sh="sleep 25; echo woke", guard=True)]},
                  parsers={OS.LINUX: lambda parts: [Nap(parts["p"].strip())]})
''')


def _ours() -> set[str]:
    return {p for p in glob.glob("/tmp/onion.*.??????") if os.stat(p).st_uid == os.getuid()}


def _setup(tmp: Path, extra: str = "") -> Path:
    plugins = tmp / "plugins"
    plugins.mkdir()
    (plugins / "nap.py").write_text(SLOW)
    cfg = tmp / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp / "o.duckdb"}"\n[plugins]\npaths = ["{plugins}"]\n'
                   '[probes]\nenable = ["nap", "memory"]\n[poller]\nsection_timeout = 40\n'
                   + extra)
    return cfg


def _wait_for(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {seconds:g} s")


def _stop_mid_round(argv: list[str], before: set[str], sig: int):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _ours() - before, "the host script started its guarded section")
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_sigterm_on_the_local_host_stores_and_cleans_up(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    before = _ours()
    rc, err = _stop_mid_round([sys.executable, "-m", "onion.cli", "poll", "--config",
                               str(cfg)], before, signal.SIGTERM)
    assert rc == 143, err
    assert "stopped by signal 15" in err and "1 host(s) cut" in err
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM polls").fetchall() == [("interrupted",)]
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    # The script got TERM first: its EXIT trap removed its folder.
    _wait_for(lambda: not (_ours() - before), "the host's temp folder removed", 10)
    assert not any("sleep 25" in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["cmdline"]))


def test_a_folder_left_by_a_killed_script_is_removed_by_the_next_run(tmp_path: Path) -> None:
    dead = 4_000_000
    while psutil.pid_exists(dead):
        dead += 1
    stale = Path(f"/tmp/onion.{dead}.abcdef")
    stale.mkdir(mode=0o700)
    (stale / "1.o").write_text("left behind")
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n'
                   '[probes]\nenable = ["filesystems"]\n')  # df runs guarded
    run = subprocess.run([sys.executable, "-m", "onion.cli", "poll", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert not stale.exists()


@pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")
def test_ctrl_c_over_ssh_marks_the_host_interrupted_and_the_script_cleans_up(tmp_path: Path):
    key = keygen(tmp_path / "id_user")
    server = start_sshd(tmp_path / "sshd", "127.0.0.14", [key], home_dir(tmp_path))
    try:
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts_line())
        inv = tmp_path / "hosts.ini"
        inv.write_text(f"node ansible_host={server.addr} ansible_port={server.port} "
                       f"ansible_user=root ansible_ssh_private_key_file={key}\n")
        cfg = _setup(tmp_path, f'[ssh]\nknown_hosts = ["{known}"]\nconfig = []\n'
                               'agent = false\n')
        before = _ours()
        rc, err = _stop_mid_round([sys.executable, "-m", "onion.cli", "poll", "-i", str(inv),
                                   "--config", str(cfg)], before, signal.SIGINT)
        assert rc == 130, err
        con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
        assert con.execute("SELECT host, status FROM polls").fetchall() == \
            [("node", "interrupted")]
        con.close()
        # Cut off from its session, the script ends at its next write (SIGPIPE) and its
        # EXIT trap removes the folder, well before anything else would.
        _wait_for(lambda: not (_ours() - before), "the remote temp folder removed", 60)
    finally:
        server.stop()
