"""The cpu parsers against recorded real output (ONION_CORPUS)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onion.probes import cpu
from onion.probes.base import ParseError
from tests.conftest import corpus_params


@pytest.mark.parametrize("path", corpus_params("*/proc-loadavg*.out"))
def test_proc_loadavg(path: Path) -> None:
    (row,) = cpu.parse_linux({"loadavg": path.read_text()})
    expected = path.with_suffix(".json")
    if expected.exists():
        jc = json.loads(expected.read_text())
        assert (row.load_1m, row.load_5m, row.load_15m) == (
            jc["load_1m"], jc["load_5m"], jc["load_15m"])


# Two /proc/stat captures concatenated: the parser reads the first "cpu" line, jc kept
# the last, so the values are not compared.
CONCATENATED = {"linux-proc/proc-stat2.out"}


@pytest.mark.parametrize("path", corpus_params("*/proc-stat*.out"))
def test_proc_stat(path: Path, corpus: Path) -> None:
    (row,) = cpu.parse_linux({"stat": path.read_text(), "clk_tck": "100\n"})
    expected = path.with_suffix(".json")
    if str(path.relative_to(corpus)) in CONCATENATED:
        return
    if expected.exists() and "cpu" in (jc := json.loads(expected.read_text())):
        assert row.user_seconds == jc["cpu"]["user"] / 100
        assert row.idle_seconds == jc["cpu"]["idle"] / 100


def _read(corpus: Path, rel: str) -> str:
    path = corpus / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in this corpus")
    return path.read_text()


def test_freebsd_sysctl_dump(corpus: Path) -> None:
    (row,) = cpu.parse_bsd({"sysctl": _read(corpus, "freebsd12/sysctl-a.out")})
    # kern.cp_time: 1306 0 20708 3886 2221637, stathz = 127
    assert row.ncpu == 1
    assert (row.load_1m, row.load_5m, row.load_15m) == (0.33, 0.33, 0.37)
    assert row.user_seconds == 1306 / 127
    assert row.system_seconds == 20708 / 127
    assert row.irq_seconds == 3886 / 127
    assert row.idle_seconds == 2221637 / 127
    assert row.iowait_seconds is None and row.spin_seconds is None


@pytest.mark.parametrize("rel,ncpu,load", [
    ("osx-10.14.6/sysctl-a.out", 8, 2.57),
    ("macos-14-m1pro-ansible/sysctl-hw-machdep-kern.out", 10, None),  # hw/kern only
    ("freebsd-arm64-ansible/sysctl-hw-vm.out", 4, None),  # hw and vm.stats only
])
def test_other_sysctl_dumps(rel: str, ncpu: int | None, load: float | None,
                            corpus: Path) -> None:
    (row,) = cpu.parse_bsd({"sysctl": _read(corpus, rel)})
    assert (row.ncpu, row.load_1m, row.user_seconds) == (ncpu, load, None)


NOT_HANDLED = {
    "macos-11-m1/sysctl-subset.out": "machdep.cpu.* only: no load, ticks or online CPUs",
}
SKIPPED = {
    "freebsd-10.2/iostat-c-1.out": "iostat cpu columns: we read kern.cp_time instead",
    "centos-7.7/uptime.out": "uptime(1): we read /proc/loadavg and vm.loadavg",
}


@pytest.mark.parametrize("rel", sorted(NOT_HANDLED))
def test_not_handled(rel: str, corpus: Path) -> None:
    with pytest.raises(ParseError):
        cpu.parse_bsd({"sysctl": _read(corpus, rel)})


@pytest.mark.parametrize("rel", sorted(SKIPPED))
def test_not_our_command(rel: str) -> None:
    pytest.skip(SKIPPED[rel])
