"""Reading BSD and macOS ``sysctl`` output: shared by the cpu, memory and system probes.

``sysctl name ...`` prints one OID per line; the separator differs by OS::

    FreeBSD, macOS   "vm.loadavg: { 0.52 0.58 0.59 }"
    OpenBSD          "vm.loadavg=0.52 0.58 0.59"

String values may span lines (FreeBSD's ``kern.version`` ends with a newline of its own,
``kern.conftxt`` is a whole file): a line that does not start a new OID continues the
value before it. The same reader takes a whole ``sysctl -a`` dump.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TypeVar

from onion.probes.base import ParseError, to_float, to_int

T = TypeVar("T")

# An OID name, then ": " (FreeBSD, macOS; "name:" alone for an empty value), "="
# (OpenBSD) or " = " (NetBSD, whose struct-valued OIDs print ": " as FreeBSD's do).
_OID_LINE = re.compile(r"^([A-Za-z_][\w.%-]*)(?:: ?| = |=)(.*)$")


def parse_sysctl(text: str, skipped: list[str] | None = None) -> dict[str, str]:
    """``name: value`` / ``name=value`` lines as a dict; continuation lines are joined.

    A stray line before the first OID is a ParseError, or is added to ``skipped``."""
    values: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        m = _OID_LINE.match(line)
        if m and "." in m.group(1):
            last = m.group(1)
            values[last] = m.group(2)
        elif last is not None:
            values[last] += "\n" + line
        elif line.strip():
            if skipped is None:
                raise ParseError("not sure how to interpret sysctl line", line)
            skipped.append(line)
    return {k: v.strip() for k, v in values.items()}


def lenient(skipped: list[str], read: Callable[[], T], name: str, value: str,
            errors: list[ParseError] | None = None) -> T | None:
    """``read()``, or None with the OID's line skipped where its value is garbled
    (the error kept in ``errors``: it is the reason where nothing else could be read)."""
    try:
        return read()
    except ParseError as exc:
        skipped.append(f"{name}: {value}")
        if errors is not None:
            errors.append(exc)
        return None


def sysctl_int(values: dict[str, str], name: str) -> int | None:
    """An integer OID, or None when the host did not print it."""
    if name not in values:
        return None
    return to_int(values[name], name, f"{name}: {values[name]}")


def parse_loadavg(value: str) -> tuple[float, float, float]:
    """``{ 0.52 0.58 0.59 }`` (FreeBSD, macOS) or ``0.52 0.58 0.59`` (OpenBSD)."""
    words = value.replace("{", " ").replace("}", " ").split()
    if len(words) != 3:
        raise ParseError("vm.loadavg needs three numbers", value)
    a, b, c = (to_float(w, "load average", value) for w in words)
    return a, b, c


_ASSIGN = re.compile(r"(\w+)\s*=\s*(-?\d+)")


def parse_assignments(value: str) -> dict[str, int]:
    """``{ hz = 100, tick = 10000, profhz = 8128, stathz = 127 }`` (FreeBSD, macOS) or
    ``tick = 10000, tickadj = 40, hz = 100, profhz = 100, stathz = 100`` (OpenBSD)."""
    found = dict((k, int(v)) for k, v in _ASSIGN.findall(value))
    if not found:
        raise ParseError("expected 'name = number' pairs", value)
    return found


_BOOTTIME = re.compile(r"^\{\s*sec\s*=\s*(\d+),\s*usec\s*=\s*(\d+)\s*\}")


def parse_boottime(value: str) -> dt.datetime:
    """Boot time as a naive UTC datetime.

    FreeBSD, macOS  "{ sec = 1594339054, usec = 740932 } Thu Jul  9 16:57:34 2020"
    OpenBSD -n      "1594339054"
    The trailing date is local time on the host: the epoch seconds are what we trust.
    """
    value = value.strip()
    m = _BOOTTIME.match(value)
    if m:
        sec, usec = int(m.group(1)), int(m.group(2))
    elif value.isdecimal():
        sec, usec = int(value), 0
    else:
        raise ParseError("not sure how to interpret kern.boottime", value)
    if usec >= 1_000_000:
        raise ParseError("kern.boottime usec out of range", value)
    return epoch_to_utc(sec, usec, value)


def epoch_to_utc(sec: int, usec: int = 0, line: str | None = None) -> dt.datetime:
    """Seconds since the epoch as a naive UTC datetime (the store's convention)."""
    try:
        return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=sec, microseconds=usec))
    except OverflowError:
        raise ParseError("boot time out of range", line) from None
