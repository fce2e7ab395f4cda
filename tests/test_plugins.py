"""One plugin registry: drop-ins beside built-ins, clashes refused, a broken plugin or a
parser bug costing only itself. Each case runs the real ``onion`` command."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

PROBE_HEAD = '''
from dataclasses import dataclass
from onion.probes.base import OS, Part, Probe, col
'''


def onion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _setup(tmp: Path, files: dict[str, str], extra: str = "") -> Path:
    plugins = tmp / "plugins"
    plugins.mkdir()
    for name, text in files.items():
        (plugins / name).write_text(PROBE_HEAD + textwrap.dedent(text))
    cfg = tmp / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp / "o.duckdb"}"\n[plugins]\npaths = ["{plugins}"]\n'
                   + extra)
    return cfg


BUGGY = '''
@dataclass(frozen=True, slots=True)
class Thing:
    word: str = col("VARCHAR")

def parse(parts):
    return None.words  # a parser bug: AttributeError

PROBE = Probe(name="buggy", record=Thing, parts={OS.LINUX: [Part("p", sh="echo hi")]},
              parsers={OS.LINUX: parse})
'''

GREETER = '''
@dataclass(frozen=True, slots=True)
class Greeting:
    word: str = col("VARCHAR")

def sh(hv):
    import shlex
    return "printf '%s\\\\n' " + shlex.quote(hv["settings"].get("word", "none"))

PROBE = Probe(name="greeter", record=Greeting, parts={OS.LINUX: [Part("p", sh=sh)]},
              parsers={OS.LINUX: lambda parts: [Greeting(parts["p"].strip())]})
'''


def test_a_parser_bug_costs_one_probe_and_the_run_goes_on(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, {"buggy.py": BUGGY},
                 '[probes]\nenable = ["buggy", "memory", "processes"]\n')
    run = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    status, reason = con.execute("SELECT status, reason FROM probe_results "
                                 "WHERE probe = 'buggy'").fetchone()
    assert status == "parse_error"
    assert reason.startswith("parser bug: AttributeError")
    assert con.execute("SELECT count(*) FROM memory").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM processes").fetchone()[0] > 0
    assert con.execute("SELECT status FROM polls").fetchone()[0] == "parse_error"


def test_settings_of_probes_name_reach_the_plugin(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, {"greeter.py": GREETER},
                 '[probes]\nenable = ["greeter"]\n[probes.greeter]\nword = "hej; $(x)"\n')
    assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    assert con.execute("SELECT word FROM greeter").fetchall() == [("hej; $(x)",)]


def test_a_drop_in_named_like_a_built_in_is_refused_naming_both(tmp_path: Path) -> None:
    clash = BUGGY.replace('name="buggy"', 'name="cpu"')
    cfg = _setup(tmp_path, {"mycpu.py": clash})
    run = onion("plugins", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 1
    line = run.stderr.strip().splitlines()[-1]
    assert "two probe plugins are named 'cpu'" in line
    assert "onion.probes.cpu:PROBE" in line and "mycpu.py" in line
    assert "Traceback" not in run.stderr


def test_a_missing_plugin_folder_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[plugins]\npaths = ["{tmp_path / "nope"}"]\n')
    run = onion("plugins", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 1 and "not a folder" in run.stderr


def test_a_broken_drop_in_costs_only_itself(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, {"broken.py": "import no_such_module_anywhere\n",
                            "greeter.py": GREETER}, '[probes]\nenable = ["greeter"]\n')
    run = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "broken.py failed to load: ModuleNotFoundError" in run.stderr
    assert "Traceback" not in run.stderr
    listed = json.loads(onion("plugins", "--config", str(cfg), "--format", "json",
                              cwd=tmp_path).stdout)
    kinds = {(p["kind"], p["name"]) for p in listed}
    assert ("probe", "greeter") in kinds and ("probe", "cpu") in kinds
    assert ("sink", "jsonl") in kinds and ("notifier", "smtp") in kinds
    broken = [p for p in listed if p["kind"] == "broken"]
    assert len(broken) == 1 and "broken.py" in broken[0]["origin"]


def test_parse_sees_drop_ins(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, {"greeter.py": GREETER})
    saved = tmp_path / "out.txt"
    saved.write_text("hello\n")
    run = onion("parse", "greeter", "--config", str(cfg), str(saved), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [{"word": "hello"}]


def test_the_guides_example_plugins_run_in_a_real_poll(tmp_path: Path) -> None:
    """docs/plugins.md's probe and sink, as a user would drop them in."""
    from tests.conftest import EXAMPLE_PLUGINS

    lite = tmp_path / "lite.sqlite"
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n'
                   f'[plugins]\npaths = ["{EXAMPLE_PLUGINS}"]\n'
                   '[probes]\nenable = ["logins", "memory"]\n'
                   f'[sinks.lite]\ntype = "sqlite"\npath = "{lite}"\n')
    run = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    listed = {(p["kind"], p["name"]): p for p in json.loads(
        onion("plugins", "--config", str(cfg), "--format", "json", cwd=tmp_path).stdout)}
    assert "logins.py" in listed[("probe", "logins")]["origin"]
    assert "sqlite_sink.py" in listed[("sink", "sqlite")]["origin"]
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    status = con.execute("SELECT status FROM probe_results WHERE probe = 'logins'").fetchone()
    assert status[0] in ("ok", "unavailable")  # a container may have no `who`
    duck_mem = con.execute("SELECT host, total_bytes FROM memory").fetchall()
    rows = sqlite3.connect(lite).execute("SELECT host, total_bytes FROM memory").fetchall()
    assert [(h, int(v)) for h, v in rows] == duck_mem  # UBIGINT kept as exact text
