"""The memory parsers against recorded real output (ONION_CORPUS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes import memory
from onion.probes.base import ParseError
from tests.conftest import corpus_params


@pytest.mark.parametrize("path", corpus_params("*/proc-meminfo*.out"))
def test_proc_meminfo(path: Path) -> None:
    (row,) = memory.parse_linux({"meminfo": path.read_text()})
    assert row.used_bytes == row.total_bytes - row.available_bytes
    expected = path.with_suffix(".json")
    if expected.exists():
        jc = json.loads(expected.read_text())
        assert row.total_bytes == jc["MemTotal"] * 1024
        assert row.available_bytes == jc["MemAvailable"] * 1024
        assert row.swap_used_bytes == (jc["SwapTotal"] - jc["SwapFree"]) * 1024


def _read(corpus: Path, rel: str) -> str:
    path = corpus / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this corpus")
    return path.read_text()


def test_freebsd_sysctl_dump_and_swapinfo(corpus: Path) -> None:
    (row,) = memory.parse_freebsd({
        "sysctl": _read(corpus, "freebsd12/sysctl-a.out"),
        "swap": _read(corpus, "freebsd-facter/swapinfo-k.out"),
    })
    page = 4096
    assert row.total_bytes == 2107092992
    assert row.free_bytes == 467629 * page
    assert row.available_bytes == (467629 + 3584 + 0) * page
    assert row.wired_bytes == 28334 * page
    # Two devices and no "Total" line in this capture: the parser adds them up.
    assert (row.swap_total_bytes, row.swap_used_bytes) == (2 * 2097152 * 1024, 0)


def test_freebsd_arm64_subset(corpus: Path) -> None:
    text = _read(corpus, "freebsd-arm64-ansible/sysctl-hw-vm.out")
    (row,) = memory.parse_freebsd({"sysctl": text})
    assert row.total_bytes == 4266598400
    assert row.available_bytes == (68475 + 860261 + 0) * 4096
    assert row.swap_total_bytes is None


@pytest.mark.parametrize("sysctl", ["macos-14-m1pro-ansible/sysctl-hw-machdep-kern.out",
                                    "osx-10.14.6/sysctl-a.out"])
def test_macos_vm_stat(sysctl: str, corpus: Path) -> None:
    (row,) = memory.parse_macos({
        "vm_stat": _read(corpus, "macos-14-m1pro-ansible/vm_stat.out"),
        "sysctl": _read(corpus, sysctl),
    })
    page = 16384
    assert row.free_bytes == 6472 * page
    assert row.available_bytes == (6472 + 710941 + 18210) * page
    assert row.wired_bytes == 165932 * page
    if "osx" in sysctl:  # the 10.14 dump has vm.swapusage: 3072.00M, 2513.50M used
        assert (row.swap_total_bytes, row.swap_used_bytes) == (3072 * 2**20, 2635595776)


# Files of the same subject that our fragments never produce.
NOT_HANDLED = {
    "centos-7.7/free.out": "free(1) output: we read /proc/meminfo",
    "centos-7.7/free-h.out": "free -h: we read /proc/meminfo",
    "centos-7.7/free-w.out": "free -w: we read /proc/meminfo",
    "ubuntu-18.04/free.out": "free(1) output: we read /proc/meminfo",
}


@pytest.mark.parametrize("rel", sorted(NOT_HANDLED))
def test_not_handled(rel: str, corpus: Path) -> None:
    with pytest.raises(ParseError):
        memory.parse_linux({"meminfo": _read(corpus, rel)})


@pytest.mark.parametrize("path", corpus_params("*/free*.out"))
def test_every_free_file_is_listed(path: Path, corpus: Path) -> None:
    assert str(path.relative_to(corpus)) in NOT_HANDLED
