"""disk_io: field-count variants and fuzz tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.probes.base import OS, ParseError, ProbeError
from onion.probes.disk_io import PROBE

LINE14 = "   8       0 sda 14200 3361 892828 5058 18736 13416 715384 12604 0 24940 17663"


def test_fourteen_fields_leave_discard_and_flush_null() -> None:
    (d,) = PROBE.parse(OS.LINUX, {"diskstats": LINE14})
    assert (d.read_bytes, d.weighted_io_time_ms) == (892828 * 512, 17663)
    assert d.discards_completed is None and d.flushes_completed is None


def test_twenty_fields() -> None:
    (d,) = PROBE.parse(OS.LINUX, {"diskstats": LINE14 + " 1 2 3 4 5 6"})
    assert (d.discarded_bytes, d.discard_time_ms, d.flushes_completed, d.flush_time_ms) == \
        (3 * 512, 4, 5, 6)


def test_old_partition_line() -> None:
    (d,) = PROBE.parse(OS.LINUX, {"diskstats": "   3    1 hda1 35486 38030 38030 38030"})
    assert (d.reads_completed, d.read_bytes, d.writes_completed) == (35486, 38030 * 512, 38030)


@pytest.mark.parametrize("line", [LINE14 + " 1", "8 0 sda x 0 0 0 0 0 0 0 0 0 0",
                                  "8 0 sda -1 0 0 0 0 0 0 0 0 0 0"])
def test_bad_lines(line: str) -> None:
    with pytest.raises(ParseError):
        PROBE.parse(OS.LINUX, {"diskstats": line})


def test_macos_decimal_comma_totals() -> None:
    text = "  disk0\n    KB/t  xfrs   MB\n 24,53 1234 29,50\n"
    (d,) = PROBE.parse(OS.MACOS, {"iostat": text})
    assert (d.transfers, d.transferred_bytes) == (1234, round(29.5 * 1024 * 1024))


@pytest.mark.parametrize(("os", "part"), [(OS.LINUX, "diskstats"), (OS.FREEBSD, "iostat"),
                                          (OS.OPENBSD, "iostat"), (OS.MACOS, "iostat")])
@given(text=st.text())
def test_fuzz(os: OS, part: str, text: str) -> None:
    heads = ("", "device r/i w/i kr/i kw/i qlen tsvc_t/i sb/i\n", "sd0\n  KB/t xfr MB\n")
    for head in heads:
        try:
            PROBE.parse(os, {part: head + text})
        except ProbeError:
            pass
