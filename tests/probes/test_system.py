"""Focused cases and a fuzz test for the system parsers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onion.probes import system
from onion.probes._sysctl import parse_boottime
from onion.probes.base import OS, ProbeError


def test_uname_keeps_the_version_spacing() -> None:
    line = "FreeBSD fbsd 12.1-RELEASE FreeBSD 12.1-RELEASE r354233 GENERIC  amd64\n"
    assert system.parse_uname(line) == (
        "FreeBSD", "fbsd", "12.1-RELEASE", "FreeBSD 12.1-RELEASE r354233 GENERIC", "amd64")


def test_uname_with_empty_version() -> None:
    assert system.parse_uname("Linux h 6.1  x86_64\n")[3] is None


def test_os_release_quoting_and_comments() -> None:
    text = ('# written by hand\nNAME="Foo \\"Linux\\""\nID=foo\n'
            "VERSION_ID='1.2'\n\nPRETTY_NAME=\"Foo $HOME `x`\"\n")
    info = system.parse_os_release(text)
    assert info == {"NAME": 'Foo "Linux"', "ID": "foo", "VERSION_ID": "1.2",
                    "PRETTY_NAME": "Foo $HOME `x`"}


def test_etc_os_release_wins_over_usr_lib() -> None:
    (row,) = system.parse_linux({"uname": "Linux h 6.1 #1 x86_64\n", "os_release": "ID=a\n",
                                 "os_release_lib": "ID=b\n"})
    assert row.distro_id == "a"
    (row,) = system.parse_linux({"uname": "Linux h 6.1 #1 x86_64\n", "os_release_lib": "ID=b\n"})
    assert row.distro_id == "b"


def test_boottime_forms() -> None:
    naive = dt.datetime(2020, 7, 9, 23, 57, 34, 740932)
    assert parse_boottime("{ sec = 1594339054, usec = 740932 } Thu Jul  9 16:57:34 2020") == naive
    assert parse_boottime("1594339054\n") == naive.replace(microsecond=0)
    with pytest.raises(ProbeError):
        parse_boottime("Thu Jul  9 16:57:34 2020")


def test_sw_vers_old_product_name() -> None:
    (row,) = system.parse_macos({
        "uname": "Darwin m 19.6.0 Darwin Kernel Version 19.6.0 x86_64\n",
        "sw_vers": "ProductName:\tMac OS X\nProductVersion:\t10.15.7\nBuildVersion:\t19H2\n"})
    assert (row.distro_id, row.distro_name, row.distro_version) == ("macos", "Mac OS X", "10.15.7")


PART_NAMES = ("uname", "os_release", "os_release_lib", "uptime", "stat", "boottime", "sw_vers")


@settings(max_examples=300, deadline=None)
@given(os=st.sampled_from(list(OS)),
       parts=st.dictionaries(st.sampled_from(PART_NAMES), st.text(max_size=200)))
def test_fuzz_records_or_probe_error(os: OS, parts: dict[str, str]) -> None:
    try:
        rows = system.PROBE.parsers[os](parts)  # the parser itself, not the safety net
    except ProbeError:
        return
    assert all(isinstance(r, system.System) for r in rows)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}sec=usec, 0123456789", max_size=60))
def test_fuzz_boottime(text: str) -> None:
    try:
        parse_boottime(text)
    except ProbeError:
        pass
