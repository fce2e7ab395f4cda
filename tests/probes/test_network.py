"""Focused cases and a fuzz test for the network parsers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onion.probes import network
from onion.probes.base import OS, ProbeError

HEAD = ("Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast"
        "|bytes    packets errs drop fifo colls carrier compressed\n")


def test_long_linux_name_and_no_space_after_colon() -> None:
    # Kernels before 2.6 printed "%6s:%8lu": the first number touches the colon.
    text = HEAD + ("verylongname15:1234 5 0 0 0 0 0 0 99 2 0 0 0 0 0 0\n"
                   "  eth0:       10 1 0 0 0 0 0 0 20 2 0 0 0 7 0 0\n")
    rows = network.parse_linux({"dev": text, "flags": "eth0/flags:0x1002\n"})
    assert [r.interface for r in rows] == ["verylongname15", "eth0"]
    assert rows[0].rx_bytes == 1234 and rows[0].tx_bytes == 99 and rows[0].up is None
    assert rows[1].collisions == 7 and rows[1].up is False


def test_unknown_proc_net_dev_column_is_refused() -> None:
    text = HEAD.replace("multicast", "mystery") + "lo: " + "0 " * 16 + "\n"
    with pytest.raises(ProbeError, match="mystery"):
        network.parse_linux({"dev": text})


def test_short_row_costs_that_row() -> None:
    rows = network.parse_linux({"dev": HEAD + "  eth0: 1 2 3\n" + "lo: " + "0 " * 16 + "\n"})
    assert [r.interface for r in rows] == ["lo"] and rows.skipped == ["  eth0: 1 2 3"]
    with pytest.raises(ProbeError, match="not understood"):  # nothing else: the probe's loss
        network.PROBE.parse(OS.LINUX, {"dev": HEAD + "  eth0: 1 2 3\n"})


def test_openbsd_merges_packets_and_bytes() -> None:
    packets = ("Name    Mtu   Network     Address              Ipkts Ierrs    Opkts Oerrs Colls\n"
               "em0     1500  <Link>      00:0c:29:1a:4e:3b      100     1      200     2     3\n")
    octets = ("Name    Mtu   Network     Address               Ibytes     Obytes\n"
              "em0     1500  <Link>      00:0c:29:1a:4e:3b       5000       6000\n")
    (row,) = network.parse_bsd({"netstat": packets, "netstat_bytes": octets})
    assert (row.rx_packets, row.rx_errors, row.rx_bytes, row.tx_bytes, row.collisions) == (
        100, 1, 5000, 6000, 3)


def test_unknown_netstat_column_is_refused() -> None:
    text = "Name Mtu Network Address Ipkts Weird\nem0 1500 <Link#1> 0:0:0:0:0:1 1 2\n"
    with pytest.raises(ProbeError, match="Weird"):
        network.parse_bsd({"netstat": text})


def test_duplicate_uncut_name_costs_the_second_row() -> None:
    text = ("Name    Mtu Network       Address           Ipkts Ierrs Idrop    Opkts Oerrs  Coll\n"
            "em0    1500 <Link#1>      00:0c:29:1a:4e:3b    1     0     0        1     0     0\n"
            "em0    1500 <Link#2>      00:0c:29:1a:4e:3c    1     0     0        1     0     0\n")
    rows = network.parse_bsd({"netstat": text})
    assert len(rows) == 1 and rows.skipped == [text.splitlines()[2]]
    with pytest.raises(ProbeError, match="twice"):
        network._netstat(text, cuts_names=False)  # strict where no skipped list is given


def test_missing_netstat_is_unavailable() -> None:
    with pytest.raises(ProbeError):
        network.parse_bsd({})


PART_NAMES = ("dev", "flags", "netstat", "netstat_bytes")


@settings(max_examples=300, deadline=None)
@given(os=st.sampled_from(list(OS)),
       parts=st.dictionaries(st.sampled_from(PART_NAMES), st.text(max_size=300)))
def test_fuzz_records_or_probe_error(os: OS, parts: dict[str, str]) -> None:
    try:
        rows = network.PROBE.parsers[os](parts)  # the parser itself, not the safety net
    except ProbeError:
        return
    assert all(isinstance(r, network.Interface) for r in rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abc0123456789<>#*:.- \n", max_size=60), max_size=6))
def test_fuzz_netstat_like_lines(lines: list[str]) -> None:
    text = "Name  Mtu   Network       Address            Ipkts Ierrs    Opkts Oerrs  Coll\n"
    try:
        network.parse_macos({"netstat": text + "\n".join(lines)})
    except ProbeError:
        pass
