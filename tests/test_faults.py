"""Hostile and broken output from a host costs only the probes it touches.

These run the real script through /bin/sh (the local transport); the probes that
misbehave are drop-in plugin files, the same path a user's plugin takes.
"""

from __future__ import annotations

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
    folder = tmp_path / "plugins"
    folder.mkdir()
    # The fragment kills the script's own shell: output stops mid-run.
    (folder / "killer.py").write_text(textwrap.dedent(PLUGIN.format(
        name="aaa_killer", sh="echo 5; kill -9 $$", guard=False)))
    probes = registry.select(registry.available([folder]), ["aaa_killer", "memory", "cpu"])
    cfg = load_config(None, str(tmp_path / "onion.duckdb"))
    r = run_poll(cfg, [LOCALHOST], probes).results[0]
    assert r.status == "incomplete"
    assert {p.status for p in r.probes.values()} <= {"lost", "ok"}
