"""Every committed fixture, run through its probe's parser.

Layout: ``tests/fixtures/<os>-<version>/<probe>--<case>--<part>.out`` (one file per part
the parser reads) beside ``<probe>--<case>.json``, the expected records. ``<os>`` is one
of linux, freebsd, openbsd, macos. ``onion parse`` prints the JSON for a new case.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from onion.probes.base import OS, as_json
from onion.probes.registry import available
from tests.conftest import EXAMPLE_PLUGINS, FIXTURES

PROBES = available([EXAMPLE_PLUGINS])  # built-ins and the guide's drop-ins


def _cases() -> dict[tuple[str, str, str], dict[str, Path]]:
    cases: dict[tuple[str, str, str], dict[str, Path]] = defaultdict(dict)
    for out in sorted(FIXTURES.glob("*/*.out")):
        probe, case, part = out.stem.split("--")
        cases[(out.parent.name, probe, case)][part] = out
    return cases


CASES = _cases()


def _os_of(folder: str) -> OS:
    return OS(folder.split("-", 1)[0])


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}/{k[1]}--{k[2]}")
def test_fixture(key: tuple[str, str, str]) -> None:
    folder, probe_name, case = key
    probe = PROBES[probe_name]
    parts = {name: p.read_text(encoding="utf-8", errors="surrogateescape")
             for name, p in CASES[key].items()}
    expected_file = FIXTURES / folder / f"{probe_name}--{case}.json"
    assert expected_file.exists(), f"{expected_file} is missing (write it with onion parse)"
    expected = json.loads(expected_file.read_text())
    got = [as_json(r) for r in probe.parse(_os_of(folder), parts)]
    assert got == expected


def test_every_declared_os_has_a_fixture() -> None:
    covered = {(probe, _os_of(folder)) for folder, probe, _ in CASES}
    missing = sorted(f"{p.name} on {os}" for p in PROBES.values() for os in p.parts
                     if (p.name, os) not in covered)
    assert not missing, f"probes declare OSes without a committed fixture: {missing}"
