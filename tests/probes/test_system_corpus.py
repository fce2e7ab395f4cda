"""The system parsers against recorded real output (ONION_CORPUS)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from onion.probes import system
from onion.probes.base import OS, ParseError
from tests.conftest import corpus_params

UNAME = "Linux web1 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 x86_64\n"


@pytest.mark.parametrize("path", corpus_params("*/os-release*.out"))
def test_os_release(path: Path) -> None:
    (row,) = system.parse_linux({"uname": UNAME, "os_release": path.read_text()})
    assert row.distro_id and row.distro_name
    expected = path.with_suffix(".json")
    if expected.exists():
        jc = json.loads(expected.read_text())
        assert (row.distro_id, row.distro_name, row.distro_version) == (
            jc["ID"], jc["NAME"], jc.get("VERSION_ID"))


# uname -a prints the same five fields as our uname -snrvm on the BSDs and macOS.
@pytest.mark.parametrize("rel", ["freebsd12/uname-a.out", "osx-10.14.6/uname-a.out",
                                 "freebsd-14.2-jail/uname-a.out"])
def test_bsd_uname_a(rel: str, corpus: Path) -> None:
    path = corpus / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this corpus")
    name, node, release, version, machine = system.parse_uname(path.read_text())
    expected = path.with_suffix(".json")
    if expected.exists():
        jc = json.loads(expected.read_text())
        assert (name, node, release, machine) == (
            jc["kernel_name"], jc["node_name"], jc["kernel_release"], jc["machine"])
        assert " ".join((version or "").split()) == jc["kernel_version"]


@pytest.mark.parametrize("path", corpus_params("netbsd*/sysctl-n-kern.version*.out"))
def test_netbsd_kern_version_is_uname_v(path: Path) -> None:
    """NetBSD's uname -v is kern.version with each newline and tab made a space."""
    version = path.read_text()
    line = f"NetBSD nb 8.2 {version.replace(chr(10), ' ').replace(chr(9), ' ')} amd64\n"
    (row,) = system.parse_netbsd({"uname": line})
    assert (row.os, row.kernel_name, row.kernel_release, row.machine) == (
        "netbsd", "NetBSD", "8.2", "amd64")
    assert row.kernel_version == version.replace("\n", " ").replace("\t", " ").strip()
    assert row.kernel_version.startswith("NetBSD 8.2 (GENERIC)")


@pytest.mark.parametrize("path", corpus_params("*/proc-uptime*.out"))
def test_proc_uptime(path: Path) -> None:
    (row,) = system.parse_linux({"uname": UNAME, "uptime": path.read_text()})
    expected = path.with_suffix(".json")
    if expected.exists():
        assert row.uptime_seconds == json.loads(expected.read_text())["up_time"]


@pytest.mark.parametrize("path", corpus_params("*/proc-stat*.out"))
def test_proc_stat_btime(path: Path, corpus: Path) -> None:
    rel = str(path.relative_to(corpus))
    if rel in NOT_HANDLED:
        with pytest.raises(ParseError):  # more lines skipped than read: the probe's loss
            system.PROBE.parse(OS.LINUX, {"uname": UNAME, "stat": path.read_text()})
        return
    (row,) = system.parse_linux({"uname": UNAME, "stat": path.read_text()})
    btime = next(int(x.split()[1]) for x in path.read_text().splitlines()
                 if x.startswith("btime "))
    assert row.boot_time == dt.datetime.fromtimestamp(btime, dt.UTC).replace(tzinfo=None)


@pytest.mark.parametrize("rel,sec", [
    ("freebsd12/sysctl-a.out", 1594339054),
    ("osx-10.14.6/sysctl-a.out", 1592836479),
    ("macos-14-m1pro-ansible/sysctl-hw-machdep-kern.out", 1711644864),
])
def test_kern_boottime_from_sysctl_dumps(rel: str, sec: int, corpus: Path) -> None:
    path = corpus / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this corpus")
    uname = "FreeBSD h 12.1-RELEASE FreeBSD 12.1-RELEASE GENERIC amd64\n"
    (row,) = system.parse_freebsd({"uname": uname, "boottime": path.read_text()})
    assert row.boot_time is not None
    assert int(row.boot_time.replace(tzinfo=dt.UTC).timestamp()) == sec


# Files of the same subject that our fragments never produce, and why.
NOT_HANDLED = {
    "centos-7.7/uname-a.out": "GNU uname -a adds processor, platform, 'GNU/Linux'",
    "debian10/uname-a.out": "GNU uname -a adds 'GNU/Linux' after the machine",
    "linux-generic/uname-a-debian.out": "GNU uname -a adds 'GNU/Linux' after the machine",
    "ubuntu-18.04/uname-a.out": "GNU uname -a adds processor, platform, 'GNU/Linux'",
    "linux-proc/proc-stat2.out": "two /proc/stat files concatenated: two btime lines",
}
SKIPPED = {
    "centos-7.7/uptime.out": "uptime(1) output: we read /proc/uptime and kern.boottime",
    "osx-10.14.6/uptime.out": "uptime(1) output: we read kern.boottime",
}


@pytest.mark.parametrize("rel", sorted(n for n in NOT_HANDLED if "uname" in n))
def test_gnu_uname_a_is_refused(rel: str, corpus: Path) -> None:
    path = corpus / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this corpus")
    with pytest.raises(ParseError, match="uname -snrvm"):
        system.parse_uname(path.read_text())


@pytest.mark.parametrize("rel", sorted(SKIPPED))
def test_not_our_command(rel: str) -> None:
    pytest.skip(SKIPPED[rel])
