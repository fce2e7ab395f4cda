"""Running out of file descriptors is the poller's fault, never the hosts'.

Before: `ulimit -n 256` with concurrency 600 stored 202 hosts as `unreachable` ("Too many
open files") and exited 0, and host_down alerts fired for a local fault.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.sshd import free_port


def test_a_low_open_files_limit_lowers_concurrency_instead_of_failing_hosts(tmp_path: Path):
    port = free_port("127.0.0.13")  # nothing listens: each host is refused at once
    inv = tmp_path / "hosts.ini"
    inv.write_text("".join(f"node{i:03d} ansible_host=127.0.0.13 ansible_port={port}\n"
                           for i in range(150)))
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[poller]\nconcurrency = 600\n'
                   '[probes]\nenable = ["memory"]\n[ssh]\nconfig = []\nagent = false\n')
    poll = shlex.join([sys.executable, "-m", "onion.cli", "poll", "-i", str(inv), "--config",
                       str(cfg)])
    run = subprocess.run(["bash", "-c", f"ulimit -n 96 && exec {poll}"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "concurrency 150 lowered to" in run.stderr and "ulimit -n" in run.stderr
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    rows = con.execute("SELECT status, reason FROM polls").fetchall()
    assert len(rows) == 150
    assert {s for s, _ in rows} == {"unreachable"}, {r for _, r in rows}
    assert not any("Too many open files" in (r or "") for _, r in rows)


def test_emfile_is_recorded_as_a_poller_fault_and_raises_no_host_down():
    from onion.alerts.builtin import BUILTIN
    from onion.core.errors import PollerFault

    assert PollerFault("x").status == "poller_fault"
    condition = BUILTIN["host_down"]["condition"]
    con = duckdb.connect()
    fired = {s: con.execute(f"SELECT {condition} FROM (SELECT ? AS status)", [s]).fetchone()[0]
             for s in ("ok", "unreachable", "poller_fault", "failed", "timeout")}
    assert fired == {"ok": False, "unreachable": True, "poller_fault": False, "failed": False,
                     "timeout": True}
