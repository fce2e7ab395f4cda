"""The host's identity and boot time: one row per host per poll.

All OSes  uname -snrvm   "Linux web1 6.1.0-13-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 x86_64"
          (POSIX prints the fields in this order whatever the flag order; only the version
          has spaces, so name, node and release are the first three words, machine the last)
Linux     /etc/os-release (or /usr/lib/os-release)  'PRETTY_NAME="Debian GNU/Linux 12"'
          /proc/uptime   "350735.47 234388.90"
          /proc/stat     "btime 1700000000"
FreeBSD   sysctl -n kern.boottime  "{ sec = 1594339054, usec = 740932 } Thu Jul  9 16:57:34 2020"
          /etc/os-release (FreeBSD 13 and later)
OpenBSD   sysctl -n kern.boottime  "1594339054"
NetBSD    sysctl -n kern.boottime  "1594339054" (without -n, a ctime() date)
          uname -v is kern.version with its newline and tab made spaces
macOS     sysctl -n kern.boottime  (as FreeBSD)
          sw_vers        "ProductName:\tmacOS" / "ProductVersion:\t14.4.1"

Parsers have no clock, so ``uptime_seconds`` is only filled where the OS prints it
(Linux); ``boot_time`` is the absolute time the kernel gives, as a naive UTC timestamp.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from onion.probes._sysctl import epoch_to_utc, parse_boottime, parse_sysctl
from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    Table,
    col,
    only_part,
    partial,
    to_float,
    to_int,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class System:
    os: str = col("VARCHAR", doc="linux, freebsd, openbsd, netbsd or macos")
    kernel_name: str = col("VARCHAR", doc="uname -s")
    kernel_release: str = col("VARCHAR", doc="uname -r")
    kernel_version: str | None = col("VARCHAR", doc="uname -v")
    machine: str = col("VARCHAR", doc="uname -m: hardware architecture")
    hostname: str = col("VARCHAR", doc="uname -n")
    distro_id: str | None = col("VARCHAR", doc="os-release ID (debian, rhel, freebsd), macos")
    distro_name: str | None = col("VARCHAR", doc="os-release NAME, sw_vers ProductName")
    distro_version: str | None = col("VARCHAR", doc="os-release VERSION_ID, sw_vers ProductVersion")
    # col() returns a dataclasses.field(), not a shared default object.
    boot_time: dt.datetime | None = col("TIMESTAMP", doc="naive UTC, as the kernel reports it")  # noqa: RUF009
    uptime_seconds: float | None = col("DOUBLE", unit="s")


_UNAME = re.compile(r"^(\S+) (\S+) (\S+) (.*) (\S+)$")


def parse_uname(text: str) -> tuple[str, str, str, str | None, str]:
    """``uname -snrvm``: name, node, release, version (None when empty), machine."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ParseError("uname -snrvm should print one line", text[:200])
    m = _UNAME.match(lines[0].strip("\r\n"))
    if not m:
        raise ParseError("not sure how to interpret uname -snrvm", lines[0])
    name, node, release, version, machine = m.groups()
    if "/" in machine:
        # uname -a on GNU adds processor, platform and "GNU/Linux" after the machine.
        raise ParseError("machine has a '/': not uname -snrvm output", lines[0])
    return name, node, release, version.strip() or None, machine


_PLAIN = re.compile(r'"[^"\\$`\']*"|[^\s"\\$`\']*')


def parse_os_release(text: str, skipped: list[str] | None = None) -> dict[str, str]:
    """os-release(5): ``KEY=value`` lines, values shell-quoted; ``#`` comments.

    A line not understood is a ParseError, or is added to ``skipped``."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, raw = stripped.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            if skipped is None:
                raise ParseError("not sure how to interpret os-release line", line)
            skipped.append(line)
            continue
        if _PLAIN.fullmatch(raw):  # the usual "value" or value: no shell quoting to undo
            values[key] = raw[1:-1] if raw[:1] == '"' else raw
            continue
        try:
            words = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            if skipped is None:
                raise ParseError("unbalanced quotes in os-release", line) from None
            skipped.append(line)
            continue
        values[key] = " ".join(words)
    return values


def _soft(skipped: list[str] | None, read: Callable[[], T], line: str) -> T | None:
    """``read()``; where it raises ParseError, None and ``line`` skipped (when skipping)."""
    try:
        return read()
    except ParseError:
        if skipped is None:
            raise
        skipped.append(line)
        return None


def _partial(parts: Mapping[str, str], record: System, skipped: list[str]) -> Table:
    # One row from many lines: a garbled line costs its field (NULL). The row is lost
    # only where more lines are garbled than read.
    read = sum(1 for text in parts.values() for line in text.splitlines() if line.strip())
    return partial(System, [record], skipped, understood=read - len(skipped))


def _distro(parts: Mapping[str, str],
            skipped: list[str] | None = None) -> tuple[str | None, str | None, str | None]:
    # os-release(5): /etc/os-release wins; /usr/lib/os-release is the vendor fallback.
    for name in ("os_release", "os_release_lib"):
        if parts.get(name, "").strip():
            info = parse_os_release(parts[name], skipped)
            return (info.get("ID") or None, info.get("NAME") or None,
                    info.get("VERSION_ID") or None)
    return None, None, None


def _linux_boot(text: str, skipped: list[str]) -> dt.datetime | None:
    found = [line for line in text.splitlines() if line.startswith("btime ")]
    if not found:
        return None
    if len(found) > 1:
        skipped.extend(found)  # which one is right is unknown
        return None
    return _soft(skipped, lambda: epoch_to_utc(
        to_int(found[0].split()[1], "btime", found[0]), 0, found[0]), found[0])


def _record(os: OS, parts: Mapping[str, str], **extra: object) -> System:
    name, node, release, version, machine = parse_uname(only_part(parts, "uname"))
    return System(os=str(os), kernel_name=name, kernel_release=release,
                  kernel_version=version, machine=machine, hostname=node, **extra)  # type: ignore[arg-type]


def _uptime(text: str) -> float:
    words = text.split()
    if len(words) != 2:
        raise ParseError("/proc/uptime should hold two numbers", text)
    uptime = to_float(words[0], "uptime", text)
    if uptime < 0:
        raise ParseError("negative uptime", text)
    return uptime


def parse_linux(parts: Mapping[str, str]) -> Table:
    skipped: list[str] = []
    uptime = None
    if parts.get("uptime", "").strip():
        uptime = _soft(skipped, lambda: _uptime(parts["uptime"]), parts["uptime"].strip())
    boot = _linux_boot(parts["stat"], skipped) if "stat" in parts else None
    distro_id, distro_name, distro_version = _distro(parts, skipped)
    # /proc/stat is read for btime alone: its other lines are not ours to count.
    counted = {k: v for k, v in parts.items() if k != "stat"}
    return _partial(counted, _record(
        OS.LINUX, parts, distro_id=distro_id, distro_name=distro_name,
        distro_version=distro_version, boot_time=boot, uptime_seconds=uptime), skipped)


def _bsd_boot(parts: Mapping[str, str], skipped: list[str] | None = None) -> dt.datetime | None:
    """``sysctl -n kern.boottime``; a ``kern.boottime: ...`` line (or dump) is read too.

    Not understood: a ParseError, or None with the text added to ``skipped``."""
    text = parts.get("boottime", "").strip()
    if not text:
        return None
    return _soft(skipped, lambda: _boottime(text), text)


def _boottime(text: str) -> dt.datetime:
    if text.startswith("{") or text.isdecimal():
        return parse_boottime(text)
    values = parse_sysctl(text)
    if "kern.boottime" not in values:
        raise ParseError("no kern.boottime in sysctl output", text.splitlines()[0])
    return parse_boottime(values["kern.boottime"])


def parse_freebsd(parts: Mapping[str, str]) -> Table:
    skipped: list[str] = []
    distro_id, distro_name, distro_version = _distro(parts, skipped)
    return _partial(parts, _record(
        OS.FREEBSD, parts, distro_id=distro_id, distro_name=distro_name,
        distro_version=distro_version, boot_time=_bsd_boot(parts, skipped),
        uptime_seconds=None), skipped)


def parse_openbsd(parts: Mapping[str, str]) -> Table:
    # OpenBSD has no os-release: the kernel release is the system's release.
    skipped: list[str] = []
    return _partial(parts, _record(
        OS.OPENBSD, parts, distro_id=None, distro_name=None, distro_version=None,
        boot_time=_bsd_boot(parts, skipped), uptime_seconds=None), skipped)


def parse_netbsd(parts: Mapping[str, str]) -> Table:
    # NetBSD has no os-release either: the kernel release is the system's release.
    skipped: list[str] = []
    return _partial(parts, _record(
        OS.NETBSD, parts, distro_id=None, distro_name=None, distro_version=None,
        boot_time=_bsd_boot(parts, skipped), uptime_seconds=None), skipped)


def _sw_vers(text: str, skipped: list[str]) -> dict[str, str]:
    """``ProductName:\\tmacOS`` lines (``Mac OS X`` before 10.12)."""
    values = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip().isalnum():
            skipped.append(line)
            continue
        values[key.strip()] = value.strip()
    return values


def parse_macos(parts: Mapping[str, str]) -> Table:
    skipped: list[str] = []
    vers = _sw_vers(parts["sw_vers"], skipped) if "sw_vers" in parts else {}
    return _partial(parts, _record(
        OS.MACOS, parts, distro_id="macos" if vers else None,
        distro_name=vers.get("ProductName") or None,
        distro_version=vers.get("ProductVersion") or None,
        boot_time=_bsd_boot(parts, skipped), uptime_seconds=None), skipped)


_UNAME_PART = Part("uname", sh="uname -snrvm")
_BOOTTIME_PART = Part("boottime", sh="sysctl -n kern.boottime")

PROBE = Probe(
    name="system",
    record=System,
    description="OS identity, kernel, hostname and boot time",
    parts={
        OS.LINUX: (
            _UNAME_PART,
            Part("os_release", file="/etc/os-release"),
            Part("os_release_lib", file="/usr/lib/os-release"),
            Part("uptime", file="/proc/uptime"),
            Part("stat", file="/proc/stat"),
        ),
        OS.FREEBSD: (_UNAME_PART, _BOOTTIME_PART, Part("os_release", file="/etc/os-release")),
        OS.OPENBSD: (_UNAME_PART, _BOOTTIME_PART),
        OS.MACOS: (_UNAME_PART, _BOOTTIME_PART, Part("sw_vers", sh="sw_vers")),
        OS.NETBSD: (_UNAME_PART, _BOOTTIME_PART),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.OPENBSD: parse_openbsd,
             OS.MACOS: parse_macos, OS.NETBSD: parse_netbsd},
)
