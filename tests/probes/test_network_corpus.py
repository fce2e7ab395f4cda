"""The network parsers against recorded real output (ONION_CORPUS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes import network
from onion.probes.base import OS, ParseError
from tests.conftest import corpus_params


def _by_name(records):
    return {r.interface: r for r in records}


@pytest.mark.parametrize("path", corpus_params("*/proc-net-dev*.out"))
def test_proc_net_dev(path: Path) -> None:
    rows = _by_name(network.parse_linux({"dev": path.read_text()}))
    expected = path.with_suffix(".json")
    if expected.exists():
        for item in json.loads(expected.read_text()):
            row = rows[item["interface"]]
            assert (row.rx_bytes, row.rx_packets, row.rx_errors, row.rx_dropped) == (
                item["r_bytes"], item["r_packets"], item["r_errs"], item["r_drop"])
            assert (row.tx_bytes, row.tx_packets, row.collisions) == (
                item["t_bytes"], item["t_packets"], item["t_colls"])


# Each BSD-family netstat -i file, with the parser for its OS.
NETSTAT = {
    "freebsd12/netstat-i.out": network.parse_bsd,
    "freebsd12/netstat-ib.out": network.parse_bsd,
    "osx-10.14.6/netstat-i.out": network.parse_macos,
    "macos-apple-silicon-ddog/netstat-i-b.out": network.parse_macos,
    # NetBSD's parser is the BSD one; without our -v its names are cut to five ("vioif").
    "netbsd/netstat-inb.out": network.PROBE.parsers[OS.NETBSD],
}


@pytest.mark.parametrize("path", corpus_params("*/netstat-i*.out"))
def test_netstat(path: Path, corpus: Path) -> None:
    rel = str(path.relative_to(corpus))
    if rel in NOT_HANDLED:
        with pytest.raises(ParseError):
            network.parse_bsd({"netstat": path.read_text()})
        return
    rows = _by_name(NETSTAT[rel]({"netstat": path.read_text()}))
    assert rows
    expected = path.with_suffix(".json")
    if not expected.exists():
        return
    links = [i for i in json.loads(expected.read_text()) if i["network"].startswith("<Link")]
    seen = set()
    for item in links:
        name = item["iface"].rstrip("*")
        row = rows.get(name) or rows[f"{name}#{item['network'][6:-1]}"]
        seen.add(row.interface)
        assert (row.rx_packets, row.rx_errors, row.tx_packets, row.tx_errors,
                row.collisions) == (item["ipkts"], item["ierrs"], item["opkts"], item["oerrs"],
                                    item["coll"])
        if "ibytes" in item:
            assert (row.rx_bytes, row.tx_bytes) == (item["ibytes"], item["obytes"])
        if item["iface"].endswith("*"):
            assert row.up is False
    assert seen == set(rows)


def test_truncated_duplicate_names_get_their_link_index(corpus: Path) -> None:
    text = (corpus / "osx-10.14.6/netstat-i.out").read_text()
    rows = _by_name(network.parse_macos({"netstat": text}))
    assert {"vmnet#19", "vmnet#20"} <= set(rows)
    assert rows["bridg"].up is None  # "bridge0" cut to five: its '*' could be lost
    assert rows["gif0"].up is False


# Files of the same subject that our fragments never produce.
NOT_HANDLED = {
    "ubuntu-18.04/netstat-i.out": "net-tools netstat -i (Linux): we read /proc/net/dev",
    "linux-iproute2-2018/ip-s-link.out": "ip -s link: we read /proc/net/dev",
    "unraid-linux/ip-s-link-show-bond1.out": "ip -s link show: we read /proc/net/dev",
}


@pytest.mark.parametrize("rel", sorted(NOT_HANDLED))
def test_not_handled(rel: str, corpus: Path) -> None:
    path = corpus / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this corpus")
    text = path.read_text()
    parser = network.parse_bsd if "netstat" in rel else network.parse_linux
    part = "netstat" if "netstat" in rel else "dev"
    with pytest.raises(ParseError):
        parser({part: text})
