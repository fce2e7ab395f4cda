"""Every recorded ``ps`` output parses; values are checked against jc's parse where present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes.base import ParseError
from onion.probes.processes import parse_bsd, parse_linux
from tests.conftest import corpus_params

# Files deliberately not handled, and why (each must raise ParseError, never half-parse).
NOT_HANDLED = {
    "busybox/ps.out": "BusyBox's default STAT column holds spaces ('S <'); we never ask "
                      "BusyBox for STAT (our fallback -o list leaves it out)",
}


def _parser(path: Path):
    return parse_linux if path.parent.name.split("-")[0] in (
        "centos", "ubuntu", "busybox") else parse_bsd


@pytest.mark.parametrize("path", corpus_params("*/ps*.out"))
def test_corpus_ps(path: Path) -> None:
    key = f"{path.parent.name}/{path.name}"
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    if key in NOT_HANDLED:
        with pytest.raises(ParseError):
            _parser(path)({"ps": text})
        return
    records = _parser(path)({"ps": text})
    assert len(records) == len([ln for ln in text.splitlines() if ln.strip()]) - 1
    assert all(r.pid >= 0 and r.args for r in records)
    jc = path.with_suffix(".json")
    if jc.exists():
        expected = json.loads(jc.read_text())
        assert [r.pid for r in records] == [e["pid"] for e in expected]
        for r, e in zip(records, expected, strict=True):
            assert r.args == (e.get("command") or e.get("cmd")), r.pid
            if "cpu_percent" in e:
                assert r.cpu_pct == e["cpu_percent"]
                assert r.mem_pct == e["mem_percent"]
                assert r.vsz_bytes == e["vsz"] * 1024
                assert r.rss_bytes == e["rss"] * 1024
            if "ppid" in e:
                assert r.ppid == e["ppid"]
