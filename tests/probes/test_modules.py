"""Module listing variants, and a fuzz test: any text gives records or a ProbeError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.probes.base import ParseError, ProbeError, Unavailable
from onion.probes.modules import PROBE, parse_freebsd, parse_linux, parse_macos


def test_proc_modules_taint_and_unknown_refcount() -> None:
    [m] = parse_linux({"modules": "vboxdrv 565248 - vboxnetflt,[permanent], Live "
                                  "0xffffffffc0b8f000 (OE)\n"})
    assert (m.use_count, m.used_by, m.taint) == (None, "vboxnetflt,[permanent]", "OE")


def test_lsmod_header_is_recognised() -> None:
    text = "Module                  Size  Used by\nbridge 151336  1 br_netfilter\nstp 1 0\n"
    bridge, stp = parse_linux({"modules": text})
    assert (bridge.used_by, bridge.state, stp.used_by) == ("br_netfilter", None, None)


def test_no_proc_modules_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        parse_linux({})


def test_kldstat_needs_its_header() -> None:
    with pytest.raises(ParseError):
        parse_freebsd({"kldstat": " 1   38 0xffffffff80200000  1f05138 kernel\n"})


def test_kextstat_header_and_dependents() -> None:
    text = ("Index Refs Address            Size       Wired      Name (Version) UUID "
            "<Linked Against>\n"
            "    1   10 0                  0          0          com.apple.kpi.bsd (19.6.0) "
            "E3C9D3A0-1A2B-3C4D-5E6F-708192A3B4C5 <>\n"
            "   60    0 0xffffff7f80e6c000 0x5000     0x5000     com.example.driver (1.0) "
            "F3C9D3A0-1A2B-3C4D-5E6F-708192A3B4C5 <1>\n")
    bsd, drv = parse_macos({"kexts": text})
    assert (bsd.used_by, bsd.address, drv.size_bytes) == ("com.example.driver", None, 0x5000)


@given(st.text(max_size=300), st.sampled_from(["linux", "freebsd", "macos"]))
def test_fuzz(text: str, os: str) -> None:
    parser, part = {"linux": (parse_linux, "modules"), "freebsd": (parse_freebsd, "kldstat"),
                    "macos": (parse_macos, "kexts")}[os]
    try:
        records = parser({part: text})
    except ProbeError:
        return
    assert all(type(r) is PROBE.record for r in records)
