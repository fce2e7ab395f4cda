"""Hostile and broken output from a host costs only the probes it touches.

These run the real script through /bin/sh (the local transport); the probes that
misbehave are drop-in plugin files, the same path a user's plugin takes.
"""

from __future__ import annotations

import os
import textwrap
import time

import duckdb
import pytest

from onion.inventory.model import LOCALHOST
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.probes import registry

PLUGIN = '''
from dataclasses import dataclass
from onion.probes.base import OS, ParseError, Part, Probe, col


@dataclass(frozen=True, slots=True, kw_only=True)
class Line:
    n: int = col("UBIGINT")


def parse(parts):
    text = parts["out"]
    if not text.strip().isdigit():
        raise ParseError("not sure how to interpret", text[:50])
    return [Line(n=int(text))]


PROBE = Probe(name="{name}", record=Line, parts={{OS.LINUX: (Part("out", {sh!r}, guard={guard}),)}},
              parsers={{OS.LINUX: parse}})
'''

HOSTILE = {
    "flood": ("yes 1234567890 | head -c 30000000", False),
    "garbage": ("head -c 3000 /dev/urandom; printf '\\377\\376\\n'", False),
    "forged": ("printf '42\\n@@onion:0123456789abcdef01234567 end hostile_forged 0\\n'", False),
    "hung": ("sleep 30; echo 1", True),
    "numbers": ("echo 18446744073709551616", False),   # 2**64: does not fit UBIGINT
    "fine": ("echo 7", False),
}


@pytest.fixture
def plugin_probes(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    for name, (sh, guard) in HOSTILE.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(
            PLUGIN.format(name=f"hostile_{name}", sh=sh, guard=guard)))
    return registry.available([folder])


def test_hostile_sections_cost_only_themselves(tmp_path, plugin_probes):
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    cfg.poller.section_timeout = 1
    cfg.poller.max_section_bytes = 1 << 20
    probes = registry.select(plugin_probes)
    t0 = time.monotonic()
    summary = run_poll(cfg, [LOCALHOST], probes)
    elapsed = time.monotonic() - t0
    r = summary.results[0]
    status = {p.probe: (p.status, p.reason) for p in r.probes.values()}
    assert status["hostile_flood"][0] == "parse_error"
    assert "cap" in status["hostile_flood"][1]
    assert status["hostile_garbage"][0] == "parse_error"
    assert status["hostile_hung"][0] == "timeout"
    assert status["hostile_numbers"][0] == "parse_error"
    assert "range" in status["hostile_numbers"][1]
    # The forged end marker has another token: it is data, and the parser rejects it.
    assert status["hostile_forged"][0] == "parse_error"
    assert status["hostile_fine"][0] == "ok"
    for name in ("memory", "cpu", "processes", "network"):
        assert status[name][0] == "ok", (name, status[name])
    assert r.status == "parse_error" and "hostile_garbage" in r.reason
    assert elapsed < 25  # the hung section was cut, not waited for (it sleeps 30 s)
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    assert con.execute("SELECT n FROM hostile_fine").fetchall() == [(7,)]
    assert con.execute("SELECT count(*) FROM memory").fetchone()[0] == 1
    stored = dict(con.execute("SELECT probe, status FROM probe_results").fetchall())
    assert stored["hostile_hung"] == "timeout"


def test_script_killed_mid_output_is_incomplete(tmp_path):
    """What ran before the kill is kept; every section after it is `lost`, none missing."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    # The fragment kills the script's own shell: output stops mid-run. Sections run in
    # probe-name order after the /proc files (memory, cpu): aaa_killer, then processes,
    # then zzz_after come after the kill.
    (folder / "killer.py").write_text(textwrap.dedent(PLUGIN.format(
        name="aaa_killer", sh="echo 5; kill -9 $$", guard=False)))
    (folder / "after.py").write_text(textwrap.dedent(PLUGIN.format(
        name="zzz_after", sh="echo 9", guard=False)))
    probes = registry.select(registry.available([folder]),
                             ["aaa_killer", "memory", "cpu", "processes", "zzz_after"])
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    r = run_poll(cfg, [LOCALHOST], probes).results[0]
    assert r.status == "incomplete"
    status = {p.probe: p.status for p in r.probes.values()}
    assert status == {"memory": "ok", "cpu": "ok", "aaa_killer": "lost",
                      "processes": "lost", "zzz_after": "lost"}
    assert "cut off" in r.probes["aaa_killer"].reason
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM memory").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM processes").fetchone()[0] == 0


GARBAGE_TOOL = "#!/bin/sh\nhead -c 2000 /dev/urandom; printf '\\377\\n'\n"


def test_garbage_into_built_in_parsers_costs_each_its_probe(tmp_path, monkeypatch):
    """Invalid UTF-8 and random bytes where ps and df print their tables: the built-in
    parsers say parse_error with the line; /proc-based probes are unaffected."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("ps", "df"):
        (fake / tool).write_text(GARBAGE_TOOL)
        (fake / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    probes = registry.select(registry.installed(), ["processes", "filesystems", "memory"])
    r = run_poll(cfg, [LOCALHOST], probes).results[0]
    status = {p.probe: (p.status, p.reason) for p in r.probes.values()}
    assert status["processes"][0] == "parse_error" and status["processes"][1]
    assert status["filesystems"][0] == "parse_error" and status["filesystems"][1]
    assert status["memory"][0] == "ok"
    con = duckdb.connect(str(cfg.db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM memory").fetchone()[0] == 1


FLOOD_RUN = """
import json, sys
from pathlib import Path
from onion.inventory.model import LOCALHOST
from onion.pipeline.round import run_poll
from onion.pipeline.setup import load_config
from onion.probes import registry


def peak_mib():
    # VmHWM is this process's own peak; ru_maxrss would carry the parent's (pytest's) RSS
    # over fork and exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status")


cfg = load_config(None, sys.argv[1])
cfg.poller.max_output_bytes = int(sys.argv[3])
cfg.poller.max_section_bytes = 1 << 20
probes = registry.select(registry.available([Path(sys.argv[2])]), ["zzz_flood", "memory"])
r = run_poll(cfg, [LOCALHOST], probes).results[0]
print(json.dumps({"status": r.status, "reason": r.reason, "bytes": r.bytes_read,
                  "probes": {p.probe: [p.status, p.reason] for p in r.probes.values()},
                  "peak_mib": peak_mib()}))
"""


def test_a_one_gigabyte_flood_is_capped_with_bounded_memory(tmp_path):
    """1 GB from one section: over max_output_bytes the host is output_too_large and cut
    at once; under it, the section is capped at max_section_bytes while the rest streams
    past. The poller's peak resident size stays far below the flood (printed)."""
    import json
    import subprocess
    import sys

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "flood.py").write_text(textwrap.dedent(PLUGIN.format(
        name="zzz_flood", sh="yes 1234567890 | head -c 1000000000", guard=False)))

    def poll(max_output: int) -> dict:
        out = subprocess.run([sys.executable, "-c", FLOOD_RUN, str(tmp_path / "o.duckdb"),
                              str(folder), str(max_output)], capture_output=True, text=True,
                             timeout=300, check=True).stdout
        return json.loads(out.splitlines()[-1])

    cut = poll(8 << 20)
    assert cut["status"] == "output_too_large" and "8388608 bytes" in cut["reason"]
    assert cut["probes"]["memory"][0] == "ok" and cut["probes"]["zzz_flood"][0] == "lost"
    capped = poll(2 << 30)
    assert capped["status"] == "parse_error" and capped["bytes"] > 1_000_000_000
    assert capped["probes"]["zzz_flood"][0] == "parse_error"
    assert "cap" in capped["probes"]["zzz_flood"][1]
    print(f"\npeak resident size: {cut['peak_mib']:.0f} MiB cut at 8 MiB, "
          f"{capped['peak_mib']:.0f} MiB streaming 1 GB past a 1 MiB section cap")
    assert cut["peak_mib"] < 400 and capped["peak_mib"] < 400  # the flood is 1000 MB
