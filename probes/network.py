"""Network interfaces: traffic counters since boot, one row per interface.

Linux    /proc/net/dev (two header lines name the columns; names never contain ':')::

    Inter-|   Receive                                                |  Transmit
     face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets ...
     ens33: 60600053  109378    0    0    0     0          0         0 44256546  121425 ...

         /sys/class/net/*/flags via grep (optional): "ens33/flags:0x1003"; bit 0x1 is
         IFF_UP, the same "administratively up" that BSD netstat marks.

FreeBSD  netstat -i -b -d -n -W (-W: names are not cut to 5 characters)::

    Name    Mtu Network       Address              Ipkts Ierrs Idrop     Ibytes    Opkts ...
    em0    1500 <Link#1>      00:0c:29:1a:4e:3b   372717     0     0  372538087   213821 ...
    em0       - 192.168.71.0/ 192.168.71.163       97396     -     -   68178099   175413 ...

macOS    netstat -i -b -d -n (names are cut to 5 characters in older releases and to 10
         in newer ones; a cut name may hide the '*', so ``up`` is NULL there, and two
         names cut to the same text get their link index: "vmnet#19", "vmnet#20")::

    Name       Mtu   Network       Address            Ipkts Ierrs     Ibytes    Opkts ...
    lo0        16384 <Link#1>                         91928     0   17326550    91928 ...
    gif0*      1280  <Link#2>                             0     0          0        0 ...

OpenBSD  netstat -i -n and netstat -i -b -n (-b there replaces the packet columns)::

    Name    Mtu   Network     Address              Ipkts Ifail    Opkts Ofail Colls
    em0     1500  <Link>      00:0c:29:1a:4e:3b   189449     0   211310     0     0
    Name    Mtu   Network     Address              Ibytes     Obytes
    em0     1500  <Link>      00:0c:29:1a:4e:3b  372538087  198573339

NetBSD   netstat -i -n -d -v and netstat -i -b -n -v, OpenBSD's two tables with -d's
         "Idrops" (after Ierrs) and "Odrops" (last); -v prints names in full::

    Name  Mtu   Network       Address              Ipkts Ierrs Idrops    Opkts Oerrs Colls Odrops
    wm0   1500  <Link>        52:54:00:12:34:56   189449     0      0   211310     0     0      0

netstat prints one row per address with the interface's counters repeated; only the
``<Link...>`` row is taken. A trailing ``*`` on the name means the interface is down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    Table,
    Unavailable,
    col,
    only_part,
    partial,
    to_int,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    interface: str = col("VARCHAR", key=True, doc="interface name as the OS prints it")
    up: bool | None = col("BOOLEAN", doc="administratively up (IFF_UP); NULL where unknown")
    rx_bytes: int | None = col("UBIGINT", unit="B", counter=True)
    rx_packets: int | None = col("UBIGINT", counter=True)
    rx_errors: int | None = col("UBIGINT", counter=True)
    rx_dropped: int | None = col("UBIGINT", counter=True)
    rx_multicast: int | None = col("UBIGINT", counter=True)
    tx_bytes: int | None = col("UBIGINT", unit="B", counter=True)
    tx_packets: int | None = col("UBIGINT", counter=True)
    tx_errors: int | None = col("UBIGINT", counter=True)
    tx_dropped: int | None = col("UBIGINT", counter=True)
    collisions: int | None = col("UBIGINT", counter=True)


_COUNTERS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "rx_multicast",
             "tx_bytes", "tx_packets", "tx_errors", "tx_dropped", "collisions")

# /proc/net/dev column names, per direction, to our fields (the others are not kept).
_LINUX_RX = {"bytes": "rx_bytes", "packets": "rx_packets", "errs": "rx_errors",
             "drop": "rx_dropped", "multicast": "rx_multicast"}
_LINUX_TX = {"bytes": "tx_bytes", "packets": "tx_packets", "errs": "tx_errors",
             "drop": "tx_dropped", "colls": "collisions"}
_LINUX_KNOWN = {"fifo", "frame", "compressed", "carrier"}


def _linux_header(line: str) -> list[str | None]:
    """The field each number of a row goes to, from the second header line."""
    groups = line.split("|")
    if len(groups) != 3 or groups[0].strip() != "face":
        raise ParseError("not sure how to interpret /proc/net/dev header", line)
    fields: list[str | None] = []
    for names, table in ((groups[1].split(), _LINUX_RX), (groups[2].split(), _LINUX_TX)):
        for name in names:
            if name not in table and name not in _LINUX_KNOWN:
                raise ParseError(f"unknown /proc/net/dev column {name!r}", line)
            fields.append(table.get(name))
    return fields


def _linux_up(text: str, skipped: list[str]) -> dict[str, bool]:
    """``grep . */flags`` in /sys/class/net: ``ens33/flags:0x1003``; a line not
    understood is skipped (that interface's ``up`` is NULL)."""
    up = {}
    for line in text.splitlines():
        name, sep, value = line.partition("/flags:")
        try:
            flags = int(value.strip(), 16)
        except ValueError:
            flags = -1
        if not sep or not name or flags < 0:
            skipped.append(line)
            continue
        up[name] = bool(flags & 0x1)
    return up


def parse_linux(parts: Mapping[str, str]) -> Table:
    lines = only_part(parts, "dev").splitlines()
    if len(lines) < 2 or not lines[0].startswith("Inter-|"):
        raise ParseError("/proc/net/dev does not start with its header",
                         lines[0] if lines else "")
    fields = _linux_header(lines[1])
    skipped: list[str] = []  # one odd line costs that interface only
    up = _linux_up(parts["flags"], skipped) if "flags" in parts else {}
    out = []
    seen = set()
    for line in lines[2:]:
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        words = rest.split()
        try:
            if not sep or not name or len(words) != len(fields) or name in seen:
                raise ParseError("not sure how to interpret /proc/net/dev line", line)
            values = {f: to_int(w, f, line) for f, w in zip(fields, words, strict=True) if f}
            out.append(Interface(interface=name, up=up.get(name), **_fill(values)))
        except ParseError:
            skipped.append(line)
            continue
        seen.add(name)
    return partial(Interface, out, skipped)


def _fill(values: Mapping[str, int]) -> dict[str, int | None]:
    for name, value in values.items():
        if value < 0:
            raise ParseError(f"negative counter {name}: {value}")
    return {c: values.get(c) for c in _COUNTERS}


def _unique(rows: list[Interface]) -> list[Interface]:
    seen = set()
    for r in rows:
        if r.interface in seen:
            raise ParseError(f"interface {r.interface!r} appears twice")
        seen.add(r.interface)
    return rows


# netstat -i column headings to our fields. "Drop" (-d) counts output queue drops on
# FreeBSD and macOS; "Time" (-t) is a watchdog timer, not a counter.
_BSD_COLUMNS = {
    "Ipkts": "rx_packets", "Ierrs": "rx_errors", "Ifail": "rx_errors", "Idrop": "rx_dropped",
    "Ibytes": "rx_bytes", "Opkts": "tx_packets", "Oerrs": "tx_errors", "Ofail": "tx_errors",
    "Obytes": "tx_bytes", "Coll": "collisions", "Colls": "collisions", "Drop": "tx_dropped",
    "Time": None,
    # NetBSD -d: input queue drops after Ierrs, output queue drops last.
    "Idrops": "rx_dropped", "Odrops": "tx_dropped",
}
_LINK = re.compile(r"^<Link(#\d+)?>$")


def _netstat(text: str, cuts_names: bool,
             skipped: list[str] | None = None) -> dict[str, Interface]:
    """One ``netstat -i`` table: the ``<Link>`` row of each interface.

    A row not understood is a ParseError, or is added to ``skipped``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ParseError("netstat -i printed nothing")
    head = lines[0].split()
    if head[:4] != ["Name", "Mtu", "Network", "Address"]:
        raise ParseError("not sure how to interpret netstat -i header", lines[0])
    fields = []
    for name in head[4:]:
        if name not in _BSD_COLUMNS:
            raise ParseError(f"unknown netstat -i column {name!r}", lines[0])
        fields.append(_BSD_COLUMNS[name])
    # macOS prints the name with "%-5.5s" (before macOS 11) or "%-10.10s": the width is
    # where "Mtu" starts in the header, less one space.
    cut_at = lines[0].find(" Mtu") if cuts_names else 0
    rows: dict[str, Interface] = {}
    cut: dict[str, str] = {}  # names that filled their column -> link index
    for line in lines[1:]:
        try:
            _netstat_row(line, fields, cut_at, rows, cut)
        except ParseError:
            if skipped is None:
                raise
            skipped.append(line)  # a row with a column missing costs that interface
    return rows


def _netstat_row(line: str, fields: list[str | None], cut_at: int,
                 rows: dict[str, Interface], cut: dict[str, str]) -> None:
    """One row of ``netstat -i`` into ``rows`` (``<Link>`` rows only)."""
    words = line.split()
    if len(words) >= 3 and not _LINK.match(words[2]):
        if any(_LINK.match(w) for w in words[:2]):  # a <Link> row with Mtu or name lost
            raise ParseError("netstat -i line has too few columns", line)
        return  # an address row: same counters again
    if len(words) < 3 + len(fields):
        raise ParseError("netstat -i line has too few columns", line)
    tail = words[len(words) - len(fields):]
    if len(words) - len(fields) not in (3, 4):  # name, mtu, <Link#n>, [address]
        raise ParseError("not sure how to interpret netstat -i line", line)
    printed = words[0]
    name = printed.removesuffix("*")
    up: bool | None = name == printed
    if up and cut_at > 0 and len(printed) >= cut_at:
        up = None  # the name filled its column: a '*' may have been cut off
    values = {}
    for f, w in zip(fields, tail, strict=True):
        if f is not None:
            values[f] = to_int(w, f, line)
    row = Interface(interface=name, up=up, **_fill(values))
    if name in rows or name in cut:
        if not (cut_at > 0 and len(printed) >= cut_at and words[2] != "<Link>"):
            raise ParseError(f"interface {name!r} appears twice", line)
        # Two names cut to the same text (vmnet1, vmnet8 -> "vmnet"): the link
        # index (<Link#19>), stable while the interface exists, tells them apart.
        if name in rows:
            first = rows.pop(name)
            rows[f"{name}#{cut[name]}"] = replace(first, interface=f"{name}#{cut[name]}")
        name = f"{name}#{words[2][6:-1]}"
        row = replace(row, interface=name)
    elif cut_at > 0 and len(printed) >= cut_at:
        cut[name] = words[2][6:-1]
    rows[name] = row


def parse_bsd(parts: Mapping[str, str], cuts_names: bool = False) -> Table:
    """FreeBSD: one table; OpenBSD: packets and bytes tables, merged by name."""
    skipped: list[str] = []
    tables = [_netstat(parts[p], cuts_names, skipped) for p in ("netstat", "netstat_bytes")
              if p in parts]
    if not tables:
        raise Unavailable("no output from netstat")
    merged = tables[0]
    for extra in tables[1:]:
        for name, row in extra.items():
            base = merged.get(name)
            if base is None:
                merged[name] = row
                continue
            more = {c: getattr(row, c) for c in _COUNTERS if getattr(row, c) is not None}
            merged[name] = replace(base, **more)
    return partial(Interface, list(merged.values()), skipped)


def parse_macos(parts: Mapping[str, str]) -> Table:
    """macOS netstat cuts long names to its column width (see the module docstring)."""
    return parse_bsd(parts, cuts_names=True)


PROBE = Probe(
    name="network",
    record=Interface,
    description="network interface traffic counters",
    parts={
        OS.LINUX: (
            Part("dev", file="/proc/net/dev"),
            Part("flags", sh="cd /sys/class/net && grep -H . -- */flags"),
        ),
        OS.FREEBSD: (Part("netstat", sh="netstat -i -b -d -n -W"),),
        OS.OPENBSD: (
            Part("netstat", sh="netstat -i -n"),
            Part("netstat_bytes", sh="netstat -i -b -n"),
        ),
        OS.MACOS: (Part("netstat", sh="netstat -i -b -d -n"),),
        # -v: names in full (NetBSD cuts them to 5 characters otherwise, and its "<Link>"
        # has no index to tell two cut names apart).
        OS.NETBSD: (
            Part("netstat", sh="netstat -i -n -d -v"),
            Part("netstat_bytes", sh="netstat -i -b -n -v"),
        ),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_bsd, OS.OPENBSD: parse_bsd,
             OS.MACOS: parse_macos, OS.NETBSD: parse_bsd},
)
