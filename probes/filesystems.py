"""Mounted file systems: space and inodes per mount point, from ``df``.

The parser reads df's header to know the columns and the block size, so GNU, BusyBox,
BSD and macOS layouts share it::

    GNU --output   Filesystem Type 1K-blocks  Used  Avail Use% Inodes IUsed IFree Mounted on
                   /dev/vda   ext4 264212084 22765 83625  22% 1677721 40816 16369 /
    POSIX -kPT     Filesystem Type 1024-blocks  Used Available Capacity Mounted on  (BusyBox)
    FreeBSD -kiT   Filesystem Type 1024-blocks  Used Avail Capacity iused ifree %iused Mounted on
    macOS -ki      Filesystem 1024-blocks  Used Available Capacity iused ifree %iused Mounted on
    OpenBSD -ki    Filesystem 1K-blocks    Used Avail Capacity iused ifree %iused Mounted on
    OpenBSD -P     Filesystem 512-blocks   Used Available Capacity Mounted on       (no -k)
    NetBSD -ki     Filesystem 1K-blocks Used Avail %Cap iUsed iAvail %iCap Mounted on
                   (read by position: see parse_netbsd)

The mount point is the last column and keeps its spaces; the device is the first and may
have spaces too (FUSE), so a row is matched as: device, then the typed middle columns
(numbers, ``-`` where a file system has no inodes, ``NN%``), then the mount point.
GNU df without -P puts a long device alone on its own line; such a line is joined with
the next. macOS, OpenBSD and NetBSD df cannot print the type, so ``mount`` supplies it there::

    macOS    /dev/disk1s1 on / (apfs, local, journaled)
    OpenBSD  /dev/sd0a on / type ffs (local)
    NetBSD   /dev/wd0a on / type ffs (log, local)

A mount line without a type (OS X before 10.5 printed options only: "(local, journaled)")
gives a NULL type, never its first option. APFS has no inode table: the 2^63-1 inodes
macOS df prints for it mean "unlimited", so its inode total and free are NULL. A df row
or mount line not understood is left out and quoted (the probe is ``partial``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    Table,
    Unavailable,
    col,
    partial,
    to_int,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Filesystem:
    mount: str = col("VARCHAR", key=True)
    device: str = col("VARCHAR")
    fstype: str | None = col("VARCHAR")
    size_bytes: int | None = col("UBIGINT", unit="B")
    used_bytes: int | None = col("UBIGINT", unit="B")
    avail_bytes: int | None = col("UBIGINT", unit="B", doc="free to unprivileged users")
    used_pct: float | None = col("FLOAT", unit="%", doc="df's capacity: used/(used+avail)")
    inodes_total: int | None = col("UBIGINT", doc="iused+ifree where df gives no total")
    inodes_used: int | None = col("UBIGINT")
    inodes_free: int | None = col("UBIGINT")


_NUM, _PCT, _WORD = r"(\d+|-)", r"(\d+%|-)", r"(\S+)"
# Header word -> (field, pattern of its values). The size column also gives the block size.
_COLUMNS = {
    "Type": ("fstype", _WORD),
    "Used": ("used", _NUM),
    "Available": ("avail", _NUM), "Avail": ("avail", _NUM),
    "Capacity": ("used_pct", _PCT), "Use%": ("used_pct", _PCT),
    "Inodes": ("inodes_total", _NUM), "IUsed": ("inodes_used", _NUM),
    "iused": ("inodes_used", _NUM), "IFree": ("inodes_free", _NUM),
    "ifree": ("inodes_free", _NUM), "IUse%": (None, _PCT), "%iused": (None, _PCT),
}
_BLOCKS = re.compile(r"(\d+)([KMG]?)-blocks")
_SCALE = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _header(line: str) -> tuple[list[str | None], re.Pattern[str], int]:
    words = line.split()
    if words[:1] != ["Filesystem"] or words[-2:] != ["Mounted", "on"]:
        raise ParseError("not sure how to interpret this df header", line)
    fields: list[str | None] = []
    patterns = []
    block = 0
    for word in words[1:-2]:
        m = _BLOCKS.fullmatch(word)
        if m:
            block = int(m[1]) * _SCALE[m[2]]
            fields.append("size")
            patterns.append(_NUM)
        elif word in _COLUMNS:
            fields.append(_COLUMNS[word][0])
            patterns.append(_COLUMNS[word][1])
        else:
            raise ParseError(f"not sure how to interpret the df column {word!r}", line)
    if not block and {"used", "avail"} & set(fields):
        raise ParseError("df header has no N-blocks column", line)
    row = re.compile(r"(.+?)" + "".join(r"\s+" + p for p in patterns) + r"\s+(\S.*)")
    return fields, row, block


def _num(text: str, what: str, line: str) -> int | None:
    return None if text == "-" else to_int(text, what, line)


# APFS has no inode table: macOS df prints ifree as 2^63-1 less iused, a placeholder
# for "unlimited" that is no count (``6 9223372036854775801``).
_UNLIMITED = (1 << 63) - 1


def parse_df(text: str, types: Mapping[str, str | None] | None = None,
             skipped: list[str] | None = None) -> Table:
    """df output (header-driven); ``types`` from ``mount``, and the lines it skipped."""
    lines = [ln.rstrip("\n") for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ParseError("df printed nothing, not even its header")
    fields, row, block = _header(lines[0])
    records = []
    odd = [] if skipped is None else skipped  # one odd row costs that row only
    pending = ""  # a device name GNU df printed alone on its line
    for line in lines[1:]:
        line = pending + line if pending else line
        m = row.fullmatch(line)
        if m is None:
            if not pending and len(line.split()) == 1:
                pending = line.strip() + " "
                continue
            odd.append(line)
            pending = ""
            continue
        pending = ""
        values = dict(zip(fields, m.groups()[1:-1], strict=True))
        blocks = {k: _num(values[k], k, line) for k in ("size", "used", "avail") if k in values}
        inodes = {k: _num(values[k], k, line) for k in
                  ("inodes_total", "inodes_used", "inodes_free") if k in values}
        if inodes.get("inodes_total") is None and None not in (
                inodes.get("inodes_used"), inodes.get("inodes_free")):
            inodes["inodes_total"] = inodes["inodes_used"] + inodes["inodes_free"]
            if inodes["inodes_total"] == _UNLIMITED:
                inodes["inodes_total"] = inodes["inodes_free"] = None
        pct = values.get("used_pct")
        mount = m.groups()[-1].rstrip()
        fstype = values.get("fstype") or (types or {}).get(mount)
        records.append(Filesystem(
            mount=mount, device=m[1], fstype=fstype,
            size_bytes=None if blocks.get("size") is None else blocks["size"] * block,
            used_bytes=None if blocks.get("used") is None else blocks["used"] * block,
            avail_bytes=None if blocks.get("avail") is None else blocks["avail"] * block,
            used_pct=None if pct in (None, "-") else float(pct[:-1]),
            inodes_total=inodes.get("inodes_total"), inodes_used=inodes.get("inodes_used"),
            inodes_free=inodes.get("inodes_free")))
    if pending:
        odd.append(pending.strip())  # a device and no numbers: the output was cut there
    return partial(Filesystem, records, odd)


_MOUNT_MACOS = re.compile(r"(.+?) on (.+) \(([^,()]+)(?:, [^()]*)?\)")
_MOUNT_OPENBSD = re.compile(r"(.+?) on (.+) type (\S+) \([^()]*\)")


# Words of macOS's option list that are no file system type: OS X releases before 10.5
# printed options only ("/dev/disk0s3 on / (local, journaled)"), and so may a mount made
# by a tool that sets no type name. These are mount(8)'s option names.
_MOUNT_OPTIONS = {
    "local", "journaled", "read-only", "nodev", "noexec", "nosuid", "union", "synchronous",
    "asynchronous", "automounted", "nobrowse", "noatime", "multilabel", "defwrite",
    "protect", "quarantine", "dovolfs", "sealed", "noowners", "soft-updates",
    "NFS exported", "with quotas",
}


def mount_types(text: str, pattern: re.Pattern[str],
                skipped: list[str] | None = None) -> dict[str, str | None]:
    """mount point -> file system type (None where the line names none), from ``mount``.

    A line not understood is a ParseError, or is added to ``skipped``."""
    types: dict[str, str | None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = pattern.fullmatch(line.rstrip())
        if m is None:
            if skipped is None:
                raise ParseError("not sure how to interpret this mount line", line)
            skipped.append(line)
            continue
        first = m[3].strip()
        types[m[2]] = None if first in _MOUNT_OPTIONS or first.startswith("mounted by ") \
            else first
    return types


def _df(parts: Mapping[str, str]) -> str:
    if "df" not in parts:
        raise Unavailable("no output from df")
    return parts["df"]


def parse_linux(parts: Mapping[str, str]) -> Table:
    return parse_df(_df(parts))


def parse_freebsd(parts: Mapping[str, str]) -> Table:
    return parse_df(_df(parts))


def parse_macos(parts: Mapping[str, str]) -> Table:
    skipped: list[str] = []
    types = mount_types(parts["mount"], _MOUNT_MACOS, skipped) if "mount" in parts else None
    return parse_df(_df(parts), types, skipped)


def parse_openbsd(parts: Mapping[str, str]) -> Table:
    skipped: list[str] = []
    types = mount_types(parts["mount"], _MOUNT_OPENBSD, skipped) if "mount" in parts else None
    return parse_df(_df(parts), types, skipped)


_NETBSD_HEAD = ["Filesystem", "1K-blocks", "Used", "Avail", "%Cap", "iUsed", "iAvail", "%iCap",
                "Mounted", "on"]


def parse_netbsd(parts: Mapping[str, str]) -> Table:
    """NetBSD ``df -ki``: the device is padded to the longest one's width and the size
    printed ``%10d`` right after it, so a size of ten digits (1 TB and more) touches a
    long device name. The size column ends where the header's "1K-blocks" ends, which
    cuts the device off by position (its spaces kept) however the numbers run::

        Filesystem      1K-blocks\t      Used\tAvail %Cap\t  iUsed\t iAvail %iCap Mounted on
        /dev/wd0a        30497726    4104310   24868530  14%   187339  3644179   5% /
        nas:/vol/backup8589934592 1234567890 7355366702  14%  2210331 266225189   1% /mnt/backup

    Avail is negative when root's reserve is in use: nothing is left to users then (0).
    POSIX output (``df -Pk``) goes to the shared header-driven reader.
    """
    types = mount_types(parts["mount"], _MOUNT_OPENBSD) if "mount" in parts else {}
    text = _df(parts)
    lines = [ln.rstrip("\n") for ln in text.splitlines() if ln.strip()]
    if lines and "Capacity" in lines[0].split():
        return Table.of(Filesystem, parse_df(text, types))
    if not lines or lines[0].split() != _NETBSD_HEAD:
        raise ParseError("not the header of NetBSD's df -ki", lines[0] if lines else None)
    cut = lines[0].index("1K-blocks") + len("1K-blocks") - 10
    records, skipped = [], []
    for line in lines[1:]:
        device, rest = line[:cut].rstrip(), line[cut:].split(None, 7)
        if (not device or device[0].isspace() or len(rest) != 8
                or not (rest[3].endswith("%") and rest[6].endswith("%"))):
            skipped.append(line)  # one odd row costs that row
            continue
        size, used, avail, iused, ifree = (to_int(w, "df column", line) for w in
                                           (*rest[:3], *rest[4:6]))
        if min(size, used, iused, ifree) < 0:
            skipped.append(line)
            continue
        mount = rest[7].rstrip()
        records.append(Filesystem(
            mount=mount, device=device, fstype=types.get(mount), size_bytes=size * 1024,
            used_bytes=used * 1024, avail_bytes=max(avail, 0) * 1024,
            used_pct=float(to_int(rest[3][:-1], "%Cap", line)), inodes_total=iused + ifree,
            inodes_used=iused, inodes_free=ifree))
    table = Table.of(Filesystem, records)
    table.skipped = skipped
    return table


# GNU df gives everything in one pass with --output (coreutils 8.21+); older GNU and
# BusyBox df get the POSIX layout (no inodes). df is guarded: a dead NFS server hangs it.
_LINUX_DF = ("df -k --output=source,fstype,size,used,avail,pcent,itotal,iused,iavail,target"
             " 2>/dev/null || df -kPT")

PROBE = Probe(
    name="filesystems",
    record=Filesystem,
    description="space and inodes used per mounted file system",
    parts={
        OS.LINUX: (Part("df", sh=_LINUX_DF, guard=True),),
        OS.FREEBSD: (Part("df", sh="df -kiT", guard=True),),
        OS.OPENBSD: (Part("df", sh="df -ki", guard=True), Part("mount", sh="mount")),
        OS.MACOS: (Part("df", sh="df -ki", guard=True), Part("mount", sh="mount")),
        OS.NETBSD: (Part("df", sh="df -ki", guard=True), Part("mount", sh="mount")),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.OPENBSD: parse_openbsd,
             OS.MACOS: parse_macos, OS.NETBSD: parse_netbsd},
)
