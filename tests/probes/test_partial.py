"""A line a parser does not know costs that line, not the probe.

For every probe on every OS it supports, a committed fixture (real output) has one line
damaged the way real output gets damaged: a column lost, a line cut by the kernel, a
value garbled, a reading of another kind. The probe must then be ``partial``, quote the
damaged line in its reason, and keep every other record exactly as the fixture's expected
records say. The status and reason are the poller's own (``_probe_result`` on framed
output), which is what lands in ``probe_results``; the end-to-end test at the bottom
polls through the CLI into DuckDB.

The cases are checked against the probe registry: a probe or an OS without a case here
fails ``test_every_probe_and_os_has_a_partial_case``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from onion.core.status import ProbeStatus
from onion.poller.collect import _probe_result
from onion.poller.plan import section_name
from onion.poller.sections import Splitter
from onion.poller.transport import RawOutput
from onion.probes.base import OS, Probe, as_json
from onion.probes.registry import installed
from tests.conftest import FIXTURES

PROBES = installed()
MARKER = b"@@onion:0123456789abcdef01234567"


def sub(old: str, new: str) -> Callable[[str], str]:
    def edit(line: str) -> str:
        assert old in line, f"{old!r} is not in {line!r}"
        return line.replace(old, new, 1)
    return edit


def drop_last(line: str) -> str:
    """The line without its last column (a value the tool did not print)."""
    return line.rstrip().rsplit(None, 1)[0]


def cut(n: int) -> Callable[[str], str]:
    """The line cut after ``n`` characters (the kernel's or the tool's buffer)."""
    return lambda line: line[:n]


def add_cut(n: int) -> Callable[[str], str]:
    """The line kept, and a copy of it cut after ``n`` characters added after it (for a
    fixture of one row, where losing that row would leave nothing)."""
    return lambda line: f"{line}\n{line[:n]}"


@dataclass(frozen=True)
class Case:
    fixture: str                        # "<os folder>/<probe>--<case>"
    part: str                           # the part whose text is damaged
    line: str                           # a substring of the line to damage (first match)
    edit: Callable[[str], str]
    drop: dict[str, Any] | None = None  # the record left out (key values)
    null: tuple[str, ...] = ()          # fields that become NULL (in ``where``'s record)
    where: dict[str, Any] = field(default_factory=dict)  # which record ``null`` is about
    quote: str | None = None            # what the reason quotes; default the damaged line


CASES: dict[tuple[str, OS], Case] = {
    # -- cpu: one row per host; a garbled line costs its fields ----------------------------
    ("cpu", OS.LINUX): Case("linux-debian12/cpu--host", "loadavg", "0.39",
                            sub("0.14", "0.1x4"), null=("load_1m", "load_5m", "load_15m")),
    ("cpu", OS.FREEBSD): Case("freebsd-14.1/cpu--host", "sysctl", "hw.ncpu",
                              sub("4", "4x"), null=("ncpu",)),
    # sysctl values are quoted as "name: value" whatever the OS's separator
    ("cpu", OS.OPENBSD): Case("openbsd-7.5/cpu--host", "sysctl", "hw.ncpuonline",
                              sub("=2", "=2x"), null=("ncpu",), quote="hw.ncpuonline: 2x"),
    ("cpu", OS.MACOS): Case("macos-14/cpu--host", "sysctl", "hw.activecpu",
                            sub("10", "1O"), null=("ncpu",)),
    # -- disk_io ---------------------------------------------------------------------------
    ("disk_io", OS.LINUX): Case("linux-debian12/disk_io--proc", "diskstats", " loop1 ",
                                drop_last, drop={"device": "loop1"}),
    ("disk_io", OS.FREEBSD): Case("freebsd-14.1/disk_io--ada", "iostat", "ada1 ",
                                  drop_last, drop={"device": "ada1"}),
    ("disk_io", OS.OPENBSD): Case("openbsd-7.5/disk_io--sd", "iostat", "26.57",
                                  sub(" 12 ", " 1x2 "), drop={"device": "sd1"}),
    ("disk_io", OS.MACOS): Case("macos-14/disk_io--apfs", "iostat", "24.53",
                                sub(" 31 ", " 3l "), drop={"device": "disk4"}),
    # -- files: a block with a line not understood costs that path's record ----------------
    ("files", OS.LINUX): Case("linux-debian12/files--mixed", "stat", "S 81a4 1 ",
                              sub("S 81a4 1 ", "S 81a4 1x "),
                              drop={"path": "/tmp/onion-watch/new\nline"}),
    ("files", OS.FREEBSD): Case("freebsd-14.1/files--etc", "stat", "S 100644 1342",
                                sub("100644", "10064x"), drop={"path": "/etc/rc.conf"}),
    ("files", OS.OPENBSD): Case("openbsd-7.5/files--etc", "stat", "S 100644 14 ",
                                sub("100644", "1006x4"), drop={"path": "/etc/myname"}),
    ("files", OS.MACOS): Case("macos-14/files--hosts", "stat", "H 2f8b", cut(30),
                              drop={"path": "/etc/hosts"}),
    # -- filesystems -----------------------------------------------------------------------
    ("filesystems", OS.LINUX): Case("linux-debian12/filesystems--gnu-output", "df", "/dev/shm",
                                    sub(" 24683656        0 ", " 24683656 "),
                                    drop={"mount": "/dev/shm"}),
    ("filesystems", OS.FREEBSD): Case("freebsd-14.1/filesystems--zfs-nfs", "df", "devfs",
                                      sub("100%", "100"), drop={"mount": "/dev"}),
    ("filesystems", OS.OPENBSD): Case("openbsd-7.5/filesystems--ffs", "df", "/dev/sd0e",
                                      sub("1%", "1"), drop={"mount": "/home"}),
    # a mount line without its type costs that type only
    ("filesystems", OS.MACOS): Case("macos-14/filesystems--apfs", "mount", "/dev/disk3s6",
                                    sub(" (apfs, ", " apfs, "), null=("fstype",),
                                    where={"mount": "/System/Volumes/VM"}),
    # -- gpu -------------------------------------------------------------------------------
    ("gpu", OS.LINUX): Case("linux-ubuntu22.04/gpu--h100x2-mig", "query_gpu", "1, GPU-9f8e",
                            cut(60), drop={"uuid": "GPU-9f8e7d6c-6666-7777-8888-999900001111"}),
    ("gpu", OS.FREEBSD): Case("freebsd-14.1/gpu--rtx3060", "query_gpu", "0, GPU-4a3b",
                              add_cut(70), quote="0, GPU-4a3b2c1d-aaaa-bbbb-cccc-ddddeeeeffff, "
                                                 "NVIDIA GeForce"),
    # -- gpu_processes ---------------------------------------------------------------------
    ("gpu_processes", OS.LINUX): Case("linux-ubuntu22.04/gpu_processes--h100-mig", "smi",
                                      "30511, GPU", sub("30511", "3O511"),
                                      drop={"pid": 30511}),
    ("gpu_processes", OS.FREEBSD): Case("freebsd-14.1/gpu_processes--rtx3060", "smi",
                                        "2107, GPU", add_cut(50),
                                        quote="2107, GPU-4a3b2c1d-aaaa-bbbb-cccc-ddd"),
    # -- memory: one row per host; a garbled counter is NULL -------------------------------
    ("memory", OS.LINUX): Case("linux-debian12/memory--host", "meminfo", "Buffers:",
                               sub("47460", "474x60"), null=("buffers_bytes",)),
    ("memory", OS.FREEBSD): Case("freebsd-14.1/memory--host", "sysctl", "v_active_count",
                                 sub("93220", "93220x"), null=("active_bytes",)),
    ("memory", OS.OPENBSD): Case("openbsd-7.5/memory--host", "vmstat", "pages active",
                                 sub("155062", "15506x2"), null=("active_bytes",)),
    ("memory", OS.MACOS): Case("macos-14/memory--host", "vm_stat", "Pages active:",
                               sub("active:", "active "), null=("active_bytes",)),
    # -- modules ---------------------------------------------------------------------------
    ("modules", OS.LINUX): Case("linux-ubuntu22.04/modules--nvidia-host", "modules",
                                "drm_kms_helper ", sub(" Live ", " Lve "),
                                drop={"name": "drm_kms_helper"}),
    ("modules", OS.FREEBSD): Case("freebsd-14.1/modules--zfs-host", "kldstat", "intpm.ko",
                                  drop_last, drop={"name": "intpm.ko"}),
    ("modules", OS.MACOS): Case("macos-14/modules--kmutil", "kexts", "com.apple.kpi.bsd ",
                                sub("(23.4.0)", "(23.4.0"), drop={"name": "com.apple.kpi.bsd"}),
    # -- network: a row with a column missing costs that interface -------------------------
    ("network", OS.LINUX): Case("linux-debian12/network--host", "dev", "ifb1:", drop_last,
                                drop={"interface": "ifb1"}),
    ("network", OS.FREEBSD): Case("freebsd-14.1/network--host", "netstat", "lo0     16384",
                                  drop_last, drop={"interface": "lo0"}),
    # the bytes table lost lo0's row: its packet counters (the other table) are kept
    ("network", OS.OPENBSD): Case("openbsd-7.5/network--host", "netstat_bytes",
                                  "lo0     32768 <Link>", drop_last,
                                  null=("rx_bytes", "tx_bytes"), where={"interface": "lo0"}),
    ("network", OS.MACOS): Case("macos-14/network--host", "netstat", "<Link#1>", drop_last,
                                drop={"interface": "lo0"}),
    # -- processes: a line cut by the kernel, a garbled value ------------------------------
    ("processes", OS.LINUX): Case("linux-debian12/processes--procps", "ps", "ksoftirqd/0",
                                  cut(40), drop={"pid": 14}),
    ("processes", OS.FREEBSD): Case("freebsd-14.1/processes--jail-host", "ps", "/sbin/init",
                                    sub("0:00.05", "0:0x.05"), drop={"pid": 1}),
    ("processes", OS.OPENBSD): Case("openbsd-7.5/processes--server", "ps", "/sbin/init",
                                    cut(30), drop={"pid": 1}),
    ("processes", OS.MACOS): Case("macos-14/processes--desktop", "ps", "Terminal",
                                  sub(" 3.5 ", " 3.5.1 "), drop={"pid": 556}),
    # -- system: one row per host; a garbled line costs its fields -------------------------
    ("system", OS.LINUX): Case("linux-debian12/system--host", "uptime", "2792.18",
                               drop_last, null=("uptime_seconds",)),
    ("system", OS.FREEBSD): Case("freebsd-14.1/system--host", "os_release", "VERSION_ID=",
                                 sub('"14.1"', '"14.1'), null=("distro_version",)),
    ("system", OS.OPENBSD): Case("openbsd-7.5/system--host", "boottime", "1714468222",
                                 sub("1714468222", "1714468222x"), null=("boot_time",)),
    ("system", OS.MACOS): Case("macos-14/system--host", "sw_vers", "ProductVersion",
                               sub("ProductVersion:", "ProductVersion"),
                               null=("distro_version",)),
    # -- temperatures: a sensor that is not a temperature costs that sensor ----------------
    ("temperatures", OS.LINUX): Case(
        "linux-ubuntu22.04/temperatures--sysfs", "sensors", "hwmon1/temp2_input",
        sub("47000", "47OOO"), drop={"chip": "coretemp-hwmon1", "sensor": "Core 0"}),
    ("temperatures", OS.FREEBSD): Case(
        "freebsd-14.1/temperatures--coretemp-acpi", "sysctl", "dev.cpu.1.temperature",
        sub("45.0C", "45.0"), drop={"chip": "cpu1", "sensor": "temperature"}),
    ("temperatures", OS.OPENBSD): Case(
        "openbsd-7.5/temperatures--sensors", "sysctl", "lm1.temp1", sub("degC", "degF"),
        drop={"chip": "lm1", "sensor": "CPU #2"}),
    # -- NetBSD ----------------------------------------------------------------------------
    ("cpu", OS.NETBSD): Case("netbsd-10.0/cpu--host", "sysctl", "hw.ncpuonline",
                             sub("= 4", "= 4x"), null=("ncpu",), quote="4x"),
    ("disk_io", OS.NETBSD): Case("netbsd-10.0/disk_io--wd", "iostat", "15.28",
                                 sub(" 12 ", " 1x2 "), drop={"device": "cd0"}),
    ("files", OS.NETBSD): Case("netbsd-10.0/files--etc", "stat", "S 100644 1093",
                               sub("100644", "10064x"), drop={"path": "/etc/rc.conf"}),
    ("filesystems", OS.NETBSD): Case("netbsd-10.0/filesystems--ffs", "df", "tmpfs",
                                     sub("0%", "0"), drop={"mount": "/tmp"}),
    ("memory", OS.NETBSD): Case("netbsd-10.0/memory--host", "vmstat", "pages active",
                                sub("151720", "15172x0"), null=("active_bytes",)),
    ("modules", OS.NETBSD): Case("netbsd-10.0/modules--host", "modstat", "compat_util ",
                                 cut(20), drop={"name": "compat_util"}),
    ("network", OS.NETBSD): Case("netbsd-10.0/network--host", "netstat_bytes",
                                 "wm0   1500  <Link>", drop_last,
                                 null=("rx_bytes", "tx_bytes"), where={"interface": "wm0"}),
    ("processes", OS.NETBSD): Case("netbsd-10.0/processes--server", "ps", "syslogd -s",
                                   cut(30), drop={"pid": 412}),
    ("system", OS.NETBSD): Case("netbsd-10.0/system--host", "boottime", "1733040000",
                                sub("1733040000", "1733040000x"), null=("boot_time",)),
    ("temperatures", OS.NETBSD): Case(
        "netbsd-10.0/temperatures--sensors", "envstat", "System Temp",
        sub("41.000", "41.0x0"), drop={"chip": "itesio0", "sensor": "System Temp"}),
}

# More damage of the same kinds, where a probe has more than one way of reading.
EXTRA: dict[str, tuple[str, OS, Case]] = {
    "sensors-j-feature-not-a-number": ("temperatures", OS.LINUX, Case(
        "linux-ubuntu22.04/temperatures--sensors-j", "sensors", '"temp2_input"',
        sub("47.000", '"47.0 C"'), drop={"chip": "coretemp-isa-0000", "sensor": "Core 0"},
        quote='"temp2_input": "47.0 C"')),
    "df-line-without-type": ("filesystems", OS.MACOS, Case(
        "macos-14/filesystems--apfs", "df", "/dev/disk3s6", sub("2%", "2"),
        drop={"mount": "/System/Volumes/VM"})),
    "swapinfo-device-line": ("memory", OS.FREEBSD, Case(
        "freebsd-14.1/memory--host", "swap", "/dev/ada1p3", drop_last)),
    "openbsd-mount-line": ("filesystems", OS.OPENBSD, Case(
        "openbsd-7.5/filesystems--ffs", "mount", "/dev/sd0d", sub(" type ffs", " ffs"),
        null=("fstype",), where={"mount": "/usr"})),
}

# (probe, OS) pairs whose partial case is still to be written, and why. Only for an OS
# or probe being added right now; the lead removes an entry with its case.
PENDING: dict[tuple[str, OS], str] = {}


def _framed(probe: Probe, os_: OS, parts: dict[str, str]) -> RawOutput:
    """The host's output as the poller receives it: one framed section per part."""
    out = b"\n" + MARKER + b" os X\n"
    for part in probe.parts[os_]:
        if part.name not in parts:
            continue
        name = section_name(probe, part).encode()
        out += b"\n" + MARKER + b" begin " + name + b"\n" + parts[part.name].encode()
        out += b"\n" + MARKER + b" end " + name + b" 0\n"
    out += b"\n" + MARKER + b" done\n"
    stdout, stderr = Splitter(MARKER, 1 << 24), Splitter(MARKER, 1 << 20)
    stdout.feed(out)
    stdout.close()
    stderr.close()
    return RawOutput(stdout, stderr)


def _fixture(case: Case) -> tuple[dict[str, str], list[dict[str, Any]]]:
    folder, stem = case.fixture.split("/")
    parts = {f.stem.split("--")[2]: f.read_text(encoding="utf-8")
             for f in sorted((FIXTURES / folder).glob(f"{stem}--*.out"))}
    expected = json.loads((FIXTURES / folder / f"{stem}.json").read_text())
    return parts, expected


def _damage(case: Case, text: str) -> tuple[str, str]:
    """``text`` with its line damaged, and the damaged line (stripped)."""
    lines = text.split("\n")
    i = next(i for i, ln in enumerate(lines) if case.line in ln)
    new = case.edit(lines[i])
    assert new != lines[i]
    damaged = new.split("\n")[-1]
    lines[i] = new
    return "\n".join(lines), damaged.strip()


def _matches(record: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(record[k] == v for k, v in key.items())


def _key(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def _check(name: str, os_: OS, case: Case) -> None:
    probe = PROBES[name]
    parts, expected = _fixture(case)
    parts[case.part], damaged = _damage(case, parts[case.part])
    result = _probe_result(probe, os_, _framed(probe, os_, parts))
    assert result.status is ProbeStatus.PARTIAL, (result.status, result.reason)
    quote = case.quote or damaged
    # The reason quotes the line as Python would write it ('\t' for a tab).
    assert quote in result.reason or repr(quote)[1:-1] in result.reason, result.reason
    assert result.reason.startswith("1 line(s) not understood"), result.reason
    if case.drop is not None:
        left = [r for r in expected if not _matches(r, case.drop)]
        assert len(left) == len(expected) - 1, f"{case.drop} is not one fixture record"
        expected = left
    for r in expected:
        if case.null and _matches(r, case.where):
            assert any(r[f] is not None for f in case.null), "nothing to lose"
            r.update(dict.fromkeys(case.null))
    got = [as_json(r) for r in result.records]
    assert sorted(map(_key, got)) == sorted(map(_key, expected))


@pytest.mark.parametrize(("name", "os_"), sorted(CASES), ids=lambda v: str(v))
def test_one_damaged_line_makes_the_probe_partial(name: str, os_: OS) -> None:
    if (name, os_) in PENDING:
        try:
            _check(name, os_, CASES[(name, os_)])
        except AssertionError:
            pytest.xfail(PENDING[(name, os_)])
        pytest.fail(f"{name} on {os_} is partial now: remove it from PENDING")
    _check(name, os_, CASES[(name, os_)])


@pytest.mark.parametrize("label", sorted(EXTRA))
def test_more_damage_of_the_same_kinds(label: str) -> None:
    name, os_, case = EXTRA[label]
    _check(name, os_, case)


def test_every_probe_and_os_has_a_partial_case() -> None:
    supported = {(name, os_) for name, p in PROBES.items() for os_ in p.parsers}
    missing = sorted(supported - set(CASES) - set(PENDING))
    assert not missing, f"probes × OSes without a partial case in {__name__}: {missing}"
    assert not set(CASES) - supported, "cases for a probe or OS that is not supported"


def test_a_shape_not_known_is_still_a_parse_error() -> None:
    """Strict for the shape: a header word not known costs the probe."""
    probe = PROBES["filesystems"]
    parts, _ = _fixture(CASES[("filesystems", OS.LINUX)])
    parts["df"] = parts["df"].replace("IFree", "IFrei", 1)
    result = _probe_result(probe, OS.LINUX, _framed(probe, OS.LINUX, parts))
    assert result.status is ProbeStatus.PARSE_ERROR and "IFrei" in result.reason


def test_mostly_not_understood_is_a_parse_error() -> None:
    probe = PROBES["disk_io"]
    parts, _ = _fixture(CASES[("disk_io", OS.LINUX)])
    parts["diskstats"] = "\n".join(drop_last(ln) for ln in parts["diskstats"].splitlines())
    result = _probe_result(probe, OS.LINUX, _framed(probe, OS.LINUX, parts))
    assert result.status is ProbeStatus.PARSE_ERROR and "lines not understood" in result.reason


def test_a_missing_mandatory_value_is_a_parse_error() -> None:
    probe = PROBES["memory"]
    parts, _ = _fixture(CASES[("memory", OS.LINUX)])
    parts["meminfo"] = parts["meminfo"].replace("MemTotal:", "MemTotal", 1)
    result = _probe_result(probe, OS.LINUX, _framed(probe, OS.LINUX, parts))
    assert result.status is ProbeStatus.PARSE_ERROR and "MemTotal" in result.reason


# -- end to end: through a real poll into DuckDB -----------------------------------------

GNU_DF = ("Filesystem     Type     1K-blocks     Used    Avail Use%   Inodes  IUsed    IFree "
          "Mounted on")
DF_ROWS = [
    "/dev/vda       ext4     264212084 23434540 82956372  23% 16777216 414912 16362304 /",
    "tmpfs          tmpfs     24683656        0 24683656   0%  3085457      1  3085456 /dev/shm",
    # the NFS server answered for this one only in part (a column lost)
    "nas:/export    nfs     1951449088 1200000000   61%  2000000 120000000 /mnt/nas",
    "/dev/vdb1      xfs      104806400   747520 104058880   1% 52428800      4 52428796 /srv",
]


def test_a_partial_probe_stores_its_rows_and_says_partial(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "df").write_text("#!/bin/sh\n" + "".join(f"echo '{r}'\n" for r in [GNU_DF,
                                                                            *DF_ROWS]))
    (fake / "df").chmod(0o755)
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n'
                   '[probes]\nenable = ["filesystems"]\n')
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "onion.cli", "poll", "--config", str(cfg)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    try:
        status, reason, records = con.execute(
            "SELECT status, reason, records FROM probe_results "
            "WHERE probe = 'filesystems'").fetchone()
        mounts = [r[0] for r in con.execute(
            "SELECT mount FROM filesystems ORDER BY mount").fetchall()]
        poll = con.execute("SELECT status FROM polls").fetchone()[0]
    finally:
        con.close()
    assert status == "partial" and "1 line(s) not understood" in reason
    assert "nas:/export    nfs     1951449088 1200000000   61%" in reason
    assert mounts == ["/", "/dev/shm", "/srv"] and records == 3
    assert poll == "ok"
