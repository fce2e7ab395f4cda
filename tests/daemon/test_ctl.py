"""`onion ctl` starts as fast as Python: none of the heavy modules are imported; and
what it does without a daemon."""

from __future__ import annotations

import json
import subprocess
import sys

from onion.daemon import api, openapi, schedule
from tests.daemon.conftest import needs_sshd, write_config

HEAVY = ("duckdb", "asyncssh", "numpy", "aiohttp", "jinja2", "psutil")

PROBE = """
import json, sys
from onion.cli.main import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    sys.stderr.write(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))
"""


@needs_sshd
def test_ctl_imports_no_heavy_module(lab, tmp_path, start_daemon):
    inv = lab.inventory(tmp_path / "hosts.ini", [0])
    config = write_config(tmp_path / "d", lab, inv)
    d = start_daemon(config, tmp_path / "daemon.log")
    d.wait_rounds(1)
    for args in (["status"], ["hosts"], ["query", "SELECT 1"], ["alerts"]):
        out = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,), "ctl", "--config",
                              str(config), *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stderr.strip().splitlines()[-1]) == [], args
    assert d.stop() == 0


def test_ctl_without_a_daemon_says_how_to_start_one(tmp_path):
    (tmp_path / "onion.toml").write_text(f'[storage]\ndb = "{tmp_path / "x.duckdb"}"\n')
    out = subprocess.run([sys.executable, "-m", "onion.cli", "ctl", "--config",
                          str(tmp_path / "onion.toml"), "status"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert "no onion daemon at unix:" in out.stderr and "onion daemon" in out.stderr


def test_openapi_names_every_route_and_nothing_else():
    documented = {(m.upper(), p) for p, ops in openapi.DOCUMENT["paths"].items() for m in ops}
    served = {(m, p.replace("{page:.*}", "{page}")) for m, p, _ in api.ROUTES}
    assert documented == served


def test_slots_and_jitter():
    assert schedule.next_slot(125.0, 60) == 180
    assert schedule.next_slot(180.0, 60) == 240
    assert schedule.slots_missed(120.5, 179.0, 60) == 0
    assert schedule.slots_missed(120.5, 181.0, 60) == 1
    assert schedule.slots_missed(120.5, 301.0, 60) == 3
    offsets = [schedule.jitter_of(f"node{i}", 2.0) for i in range(200)]
    assert all(0 <= o < 2.0 for o in offsets)
    assert offsets == [schedule.jitter_of(f"node{i}", 2.0) for i in range(200)]
    assert max(offsets) - min(offsets) > 1.5     # spread over the window, not bunched
    assert schedule.jitter_of("x", 0) == 0.0
