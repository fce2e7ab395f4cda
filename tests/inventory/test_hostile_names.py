"""Inventories that would eat the poller's memory or forge its output are refused."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from onion.core.errors import ConfigError
from onion.inventory import loader, ranges


def test_a_huge_range_is_an_error_not_ten_billion_names(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.txt"
    inv.write_text("node[0:99999][0:99999]\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="more than 100000 hosts"):
        loader.load(inv)
    with pytest.raises(ValueError, match="more than 100000 hosts"):
        ranges.expand("n[0:9999999]")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"\npeak memory grew by {grown_kib} KiB refusing it")
    assert ranges.expand("n[1:3]") == ["n1", "n2", "n3"]  # ordinary ranges unchanged


def test_many_files_together_are_capped(tmp_path: Path) -> None:
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "a.txt").write_text("a[0:60000]\n")
    (folder / "b.txt").write_text("b[0:60000]\n")
    with pytest.raises(ConfigError, match="more than one inventory may hold"):
        loader.load(folder)


@pytest.mark.parametrize("name", ["evil\rnode", "evil\nnode", "evil\x00node", "bell\x07"])
def test_control_characters_in_host_names_are_refused(tmp_path: Path, name: str) -> None:
    inv = tmp_path / "hosts.yml"
    escaped = name.encode("unicode_escape").decode()
    inv.write_text(f'all:\n  hosts:\n    "{escaped}":\n')
    with pytest.raises(ConfigError, match="control character"):
        loader.load(inv)


def test_a_reason_with_newlines_stays_one_line_in_poll_output(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "liar.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from onion.plugin import OS, ParseError, Part, Probe, col

        @dataclass(frozen=True, slots=True)
        class Word:
            word: str = col("VARCHAR")

        def parse(parts):
            raise ParseError("bad\\nlocalhost              ok   forged line")

        PROBE = Probe(name="liar", record=Word, parts={OS.LINUX: [Part("p", sh="echo x")]},
                      parsers={OS.LINUX: parse})
    '''))
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n[plugins]\n'
                   f'paths = ["{plugins}"]\n[probes]\nenable = ["liar"]\n')
    run = subprocess.run([sys.executable, "-m", "onion.cli", "poll", "-vv", "--config",
                          str(cfg)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert not any(line.startswith("localhost              ok") for line in lines)
    assert any("bad\\x0alocalhost" in line for line in lines)
