"""No route to a host costs that host only: polled from a network namespace of its own
(made by the test: no interface is up, so every address is unreachable), a remote host is
`unreachable` with the kernel's reason and the local one is stored."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest


def test_no_route_is_unreachable_with_the_reason(tmp_path: Path) -> None:
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace here (unshare -n needs root)")
    inv = tmp_path / "hosts.ini"
    inv.write_text("far ansible_host=127.0.0.1 ansible_port=22\n"
                   "here ansible_connection=local\n")
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[probes]\nenable = ["memory"]\n'
                   '[ssh]\nconfig = []\nagent = false\n')
    run = subprocess.run(["unshare", "-n", sys.executable, "-m", "onion.cli", "poll", "-i",
                          str(inv), "--config", str(cfg)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    polls = dict(con.execute("SELECT host, status || ': ' || reason FROM polls "
                             "WHERE status <> 'ok'").fetchall())
    assert list(polls) == ["far"]
    assert polls["far"].startswith("unreachable") and "Network is unreachable" in polls["far"]
    assert con.execute("SELECT host FROM memory").fetchall() == [("here",)]
