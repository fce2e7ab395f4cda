"""Focused cases and a fuzz test for the memory parsers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onion.probes import memory
from onion.probes.base import OS, ProbeError


def test_old_kernel_without_memavailable() -> None:
    text = ("MemTotal:        1000 kB\nMemFree:          100 kB\nBuffers:          50 kB\n"
            "Cached:           200 kB\nSwapTotal:          0 kB\nSwapFree:           0 kB\n")
    (row,) = memory.parse_linux({"meminfo": text})
    assert row.available_bytes == 350 * 1024
    assert row.used_bytes == 650 * 1024


def test_meminfo_garbage_line_costs_that_field() -> None:
    rows = memory.parse_linux({"meminfo": "MemTotal: 1000 kB\nMemFree 12\n"})
    assert rows.skipped == ["MemFree 12"] and rows[0].free_bytes is None
    with pytest.raises(ProbeError, match="MemTotal"):  # the one mandatory value
        memory.parse_linux({"meminfo": "MemTotal 1000 kB\nMemFree: 12 kB\n"})


def test_swapusage_with_decimal_comma_and_gigabytes() -> None:
    assert memory._swapusage("total = 2,00G  used = 512,50M  free = 1,50G") == (
        2 * 2**30, 512 * 2**20 + 2**19)


def test_swapinfo_total_line_wins() -> None:
    text = ("Device          1K-blocks     Used    Avail Capacity\n"
            "/dev/ada0p3          1024      512      512    50%\n"
            "/dev/md99            1024        0     1024     0%\n"
            "Total                2048      512     1536    25%\n")
    assert memory._swapinfo(text, []) == (2048 * 1024, 512 * 1024)


def test_vm_stat_page_size_from_header() -> None:
    text = ("Mach Virtual Memory Statistics: (page size of 4096 bytes)\n"
            "Pages free:                               10.\nPages inactive:   5.\n")
    (row,) = memory.parse_macos({"vm_stat": text, "sysctl": "hw.memsize: 1048576\n"})
    assert row.free_bytes == 40960 and row.available_bytes == 15 * 4096


def test_openbsd_requires_page_size() -> None:
    with pytest.raises(ProbeError, match="bytes per page"):
        memory.parse_openbsd({"physmem": "1024\n", "vmstat": "   5 pages free\n"})


PART_NAMES = ("meminfo", "sysctl", "swap", "physmem", "vmstat", "vm_stat")


@settings(max_examples=300, deadline=None)
@given(os=st.sampled_from(list(OS)),
       parts=st.dictionaries(st.sampled_from(PART_NAMES), st.text(max_size=300)))
def test_fuzz_records_or_probe_error(os: OS, parts: dict[str, str]) -> None:
    try:
        rows = memory.PROBE.parsers[os](parts)  # the parser itself, not the safety net
    except ProbeError:
        return
    assert all(isinstance(r, memory.Memory) for r in rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["hw.physmem", "hw.pagesize",
                                            "vm.stats.vm.v_free_count", "vfs.bufspace"]),
                          st.text(alphabet="0123456789-. {}", max_size=12)), max_size=5))
def test_fuzz_freebsd_sysctl_values(pairs: list[tuple[str, str]]) -> None:
    text = "".join(f"{k}: {v}\n" for k, v in pairs)
    try:
        memory.parse_freebsd({"sysctl": text})
    except ProbeError:
        pass
