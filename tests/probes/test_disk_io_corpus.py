"""disk_io: recorded /proc/diskstats (cross-checked with jc) and iostat outputs."""

from __future__ import annotations

import json

import pytest

from onion.probes.base import OS, ParseError
from onion.probes.disk_io import PROBE
from tests.conftest import corpus_params

# Other commands' outputs: rates or per-interval samples, not counters since boot.
NOT_HANDLED = [
    ("*/iostat*.out", OS.LINUX, "sysstat iostat prints rates; we read /proc/diskstats"),
    ("*/vmstat-d.out", OS.LINUX, "vmstat -d: same counters as /proc/diskstats, other layout"),
    ("freebsd-*/iostat-c-1.out", OS.FREEBSD, "iostat rates (KB/t tps MB/s), not iostat -Ix"),
    ("macos-*/iostat-od-3-2.out", OS.MACOS, "iostat -o rates (sps tps msps), not iostat -dI"),
    ("macos-*/iostat-c-2.out", OS.MACOS, "iostat rates with cpu/load columns, not iostat -dI"),
]
_PART = {OS.LINUX: "diskstats", OS.FREEBSD: "iostat", OS.MACOS: "iostat"}


@pytest.mark.parametrize("path", corpus_params("*/proc-diskstats.out"))
def test_diskstats_parses(path) -> None:
    disks = PROBE.parse(OS.LINUX, {"diskstats": path.read_text()})
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    assert len(disks) == len(lines)  # nothing dropped
    jc = path.with_suffix(".json")
    if jc.exists():
        for ours, theirs in zip(disks, json.loads(jc.read_text()), strict=True):
            assert ours.device == theirs["device"]
            assert ours.reads_completed == theirs["reads_completed"]
            assert ours.read_bytes == theirs["sectors_read"] * 512
            assert ours.written_bytes == theirs["sectors_written"] * 512
            assert ours.weighted_io_time_ms == theirs["weighted_io_time_ms"]
            assert ours.discarded_bytes == theirs["sectors_discarded"] * 512
            assert ours.flush_time_ms == theirs["flushing_time_ms"]


@pytest.mark.parametrize(("pattern", "os", "why"), NOT_HANDLED, ids=[n[0] for n in NOT_HANDLED])
def test_not_handled(corpus, pattern, os, why) -> None:
    files = sorted(corpus.glob(pattern))
    assert files, f"no corpus file for {pattern}"
    for path in files:
        with pytest.raises(ParseError):
            PROBE.parse(os, {_PART[os]: path.read_text()})
