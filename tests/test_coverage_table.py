"""The README's probes × OSes table is the generated one (``python3 -m tests.coverage_table``).

The commands come from the probe registry and are always checked; the corpus counts need
the recorded outputs (``ONION_CORPUS``) and are skipped, with a message, without them.
"""

from __future__ import annotations

import dataclasses

import pytest

from onion.probes.base import OS
from onion.probes.registry import installed
from tests import coverage_table as ct
from tests.conftest import corpus_dir

FIX = "the README's table is not the generated one: run `python3 -m tests.coverage_table --write`"


def test_the_commands_in_the_readme_are_the_probes_own() -> None:
    shown = ct.without_counts(ct.readme_table(ct.README.read_text()))
    assert shown == ct.table(installed().values(), None), FIX


def test_the_corpus_counts_in_the_readme_are_current() -> None:
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip("ONION_CORPUS is not set: the corpus counts are not checked")
    shown = ct.readme_table(ct.README.read_text())
    assert shown == ct.table(installed().values(), corpus), FIX


def test_every_os_is_a_column_and_every_probe_a_row() -> None:
    probes = installed()
    lines = ct.table(probes.values(), None).splitlines()
    assert lines[0] == "| probe | " + " | ".join(ct.os_name(os) for os in OS) + " |"
    assert [ln.split(" | ")[0].lstrip("| ") for ln in lines[2:]] == sorted(probes)
    assert all(ln.count(" | ") == len(OS) for ln in lines[2:])


def test_a_new_probe_is_a_row_with_its_commands() -> None:
    cpu = installed()["cpu"]
    new = dataclasses.replace(cpu, name="zz_new", parts={OS.LINUX: cpu.parts[OS.LINUX]},
                              parsers={OS.LINUX: cpu.parsers[OS.LINUX]})
    row = ct.table([new], None).splitlines()[-1]
    assert row.startswith("| zz_new | `/proc/loadavg`, `/proc/stat` | — zz_new has no command")


def test_corpus_folders_map_to_their_os() -> None:
    assert ct.folder_os("freebsd-14.2-jail") is OS.FREEBSD
    assert ct.folder_os("osx-10.14.6") is OS.MACOS and ct.folder_os("macos-glpi") is OS.MACOS
    assert ct.folder_os("ubuntu-22.04-nvidia-h100") is OS.LINUX
    assert ct.folder_os("openbsd") is OS.OPENBSD
    assert ct.folder_os("windows-11-nvidia-rtx2080s-drv591") is None
    assert ct.folder_os("dragonfly-5.6.2") is None
