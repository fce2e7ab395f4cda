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

The mount point is the last column and keeps its spaces; the device is the first and may
have spaces too (FUSE), so a row is matched as: device, then the typed middle columns
(numbers, ``-`` where a file system has no inodes, ``NN%``), then the mount point.
GNU df without -P puts a long device alone on its own line; such a line is joined with
the next. macOS and OpenBSD df cannot print the type, so ``mount`` supplies it there::

    macOS    /dev/disk1s1 on / (apfs, local, journaled)
    OpenBSD  /dev/sd0a on / type ffs (local)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes.base import OS, ParseError, Part, Probe, Unavailable, col, to_int


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


def parse_df(text: str, types: Mapping[str, str] | None = None) -> list[Filesystem]:
    lines = [ln.rstrip("\n") for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ParseError("df printed nothing, not even its header")
    fields, row, block = _header(lines[0])
    records = []
    pending = ""  # a device name GNU df printed alone on its line
    for line in lines[1:]:
        line = pending + line if pending else line
        m = row.fullmatch(line)
        if m is None:
            if not pending and len(line.split()) == 1:
                pending = line.strip() + " "
                continue
            raise ParseError("not sure how to interpret this df line", line)
        pending = ""
        values = dict(zip(fields, m.groups()[1:-1], strict=True))
        blocks = {k: _num(values[k], k, line) for k in ("size", "used", "avail") if k in values}
        inodes = {k: _num(values[k], k, line) for k in
                  ("inodes_total", "inodes_used", "inodes_free") if k in values}
        if inodes.get("inodes_total") is None and None not in (
                inodes.get("inodes_used"), inodes.get("inodes_free")):
            inodes["inodes_total"] = inodes["inodes_used"] + inodes["inodes_free"]
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
        raise ParseError("df output ends with a device and no numbers", pending.strip())
    return records


_MOUNT_MACOS = re.compile(r"(.+?) on (.+) \(([^,()]+)(?:, [^()]*)?\)")
_MOUNT_OPENBSD = re.compile(r"(.+?) on (.+) type (\S+) \([^()]*\)")


def mount_types(text: str, pattern: re.Pattern[str]) -> dict[str, str]:
    """mount point -> file system type, from ``mount`` output."""
    types = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = pattern.fullmatch(line.rstrip())
        if m is None:
            raise ParseError("not sure how to interpret this mount line", line)
        types[m[2]] = m[3]
    return types


def _df(parts: Mapping[str, str]) -> str:
    if "df" not in parts:
        raise Unavailable("no output from df")
    return parts["df"]


def parse_linux(parts: Mapping[str, str]) -> list[Filesystem]:
    return parse_df(_df(parts))


def parse_freebsd(parts: Mapping[str, str]) -> list[Filesystem]:
    return parse_df(_df(parts))


def parse_macos(parts: Mapping[str, str]) -> list[Filesystem]:
    types = mount_types(parts["mount"], _MOUNT_MACOS) if "mount" in parts else None
    return parse_df(_df(parts), types)


def parse_openbsd(parts: Mapping[str, str]) -> list[Filesystem]:
    types = mount_types(parts["mount"], _MOUNT_OPENBSD) if "mount" in parts else None
    return parse_df(_df(parts), types)


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
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.OPENBSD: parse_openbsd,
             OS.MACOS: parse_macos},
)
