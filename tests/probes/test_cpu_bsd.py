"""Focused cases and a fuzz test for the BSD and macOS cpu parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onion.probes import cpu
from onion.probes.base import OS, ProbeError


def test_openbsd_six_states_with_spin() -> None:
    text = ("vm.loadavg=0.10 0.12 0.09\nkern.cp_time=100,0,50,7,3,900\n"
            "kern.clockrate=tick = 10000, hz = 100, profhz = 1000, stathz = 100\n"
            "hw.ncpuonline=2\n")
    (row,) = cpu.parse_bsd({"sysctl": text})
    assert (row.user_seconds, row.system_seconds, row.spin_seconds, row.irq_seconds,
            row.idle_seconds) == (1.0, 0.5, 0.07, 0.03, 9.0)
    assert row.ncpu == 2 and row.load_1m == 0.10


def test_old_openbsd_five_states() -> None:
    text = ("kern.cp_time=100,0,50,3,900\n"
            "kern.clockrate=tick = 10000, tickadj = 40, hz = 100, profhz = 100, stathz = 100\n")
    (row,) = cpu.parse_bsd({"sysctl": text})
    assert (row.irq_seconds, row.idle_seconds, row.spin_seconds) == (0.03, 9.0, None)


def test_stathz_zero_falls_back_to_hz() -> None:
    text = ("kern.cp_time: 200 0 0 0 0\n"
            "kern.clockrate: { hz = 100, tick = 10000, profhz = 0, stathz = 0 }\n")
    (row,) = cpu.parse_bsd({"sysctl": text})
    assert row.user_seconds == 2.0


def test_cp_time_without_clockrate_is_refused() -> None:
    with pytest.raises(ProbeError, match="clockrate"):
        cpu.parse_bsd({"sysctl": "kern.cp_time: 1 2 3 4 5\n"})


def test_cp_time_with_wrong_state_count_is_refused() -> None:
    with pytest.raises(ProbeError, match="states"):
        cpu.parse_bsd({"sysctl": "kern.cp_time: 1 2 3\nkern.clockrate: { hz = 100 }\n"})


def test_macos_has_no_counters() -> None:
    (row,) = cpu.parse_bsd({"sysctl": "vm.loadavg: { 1.92 2.17 2.30 }\nhw.activecpu: 10\n"})
    assert row.ncpu == 10 and row.load_15m == 2.30 and row.user_seconds is None


def test_decimal_comma_load() -> None:
    (row,) = cpu.parse_bsd({"sysctl": "vm.loadavg: { 0,52 0,58 0,59 }\n"})
    assert row.load_1m == 0.52


@settings(max_examples=300, deadline=None)
@given(os=st.sampled_from([OS.FREEBSD, OS.OPENBSD, OS.MACOS]),
       text=st.text(max_size=300))
def test_fuzz_records_or_probe_error(os: OS, text: str) -> None:
    try:
        rows = cpu.PROBE.parsers[os]({"sysctl": text})  # the parser, not the safety net
    except ProbeError:
        return
    assert all(isinstance(r, cpu.Cpu) for r in rows)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["vm.loadavg", "kern.cp_time", "kern.clockrate",
                                            "hw.ncpu"]),
                          st.text(alphabet="{}=, -.0123456789hzstaic", max_size=40)),
                max_size=4))
def test_fuzz_sysctl_values(pairs: list[tuple[str, str]]) -> None:
    try:
        cpu.parse_bsd({"sysctl": "".join(f"{k}: {v}\n" for k, v in pairs)})
    except ProbeError:
        pass
