"""Kernel modules: one row per loaded module (Linux), kernel file (FreeBSD) or kext (macOS).

Linux   /proc/modules  name size refcount used-by state address [taint]::

            nf_nat 49152 2 ipt_MASQUERADE,nft_chain_nat, Live 0xffffffffc0a2c000
            binfmt_misc 24576 1 - Live 0xffffffffc0ab4000
            vboxdrv 565248 2 vboxnetadp,vboxnetflt, Live 0x0000000000000000 (OE)

        lsmod's table (same data, read from /proc/modules) is accepted too::

            Module                  Size  Used by
            nf_nat_masquerade_ipv4    13430  1 ipt_MASQUERADE

FreeBSD kldstat (sizes in hex, without 0x)::

            Id Refs Address                Size Name
             1   38 0xffffffff80200000  1f05138 kernel
             3    1 0xffffffff82112000   44fb48 zfs.ko

macOS   kmutil showloaded --list-only, or kextstat -l before macOS 11 (same rows; the
        last field lists the indexes of the kexts this one links against)::

              1  142 0                  0          0          com.apple.kpi.bsd (20.3.0) UUID <>
             60    0 0xffffff7f80e6c000 0x5000     0x5000     com.apple.driver.X (1.0) UUID <5 3 1>

        (UUID stands for a 36-character UUID such as 1F6D1B0E-0E40-3E67-A2E5-8D2D0CA7E66D)

NetBSD  modstat (the name column is as wide as the longest name)::

            NAME            CLASS    SOURCE   FLAG REFS  SIZE    REQUIRES
            compat_linux    exec     filesys  -    0     196608  compat_ossaudio,compat_util
            ffs             vfs      builtin  -    1     -       -

``used_by`` means the same everywhere: the modules that depend on this one (on macOS it
is derived from the other kexts' link lists).
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
class Module:
    name: str = col("VARCHAR", key=True)
    size_bytes: int | None = col("UBIGINT", unit="B")
    use_count: int | None = col("UINTEGER", doc="references held on the module")
    used_by: str | None = col("VARCHAR", doc="comma-joined names of modules that use it")
    state: str | None = col("VARCHAR", doc="Live, Loading or Unloading (Linux)")
    address: str | None = col("VARCHAR", doc="load address; NULL where hidden (kptr_restrict)")
    taint: str | None = col("VARCHAR", doc="Linux taint flags: O out-of-tree, E unsigned, …")
    version: str | None = col("VARCHAR", doc="kext version (macOS)")


def _address(text: str) -> str | None:
    # Linux shows zeros to readers without CAP_SYSLOG; macOS shows 0 for built-in kpis.
    return None if int(text, 16) == 0 else text


def _count(text: str, line: str) -> int | None:
    return None if text == "-" else to_int(text, "use count", line)


_PROC = re.compile(r"(\S+) (\d+) (-|\d+) (\S+) (Live|Loading|Unloading) (0x[0-9a-fA-F]+)"
                   r"(?: \(([A-Z]+)\))?")
_LSMOD = re.compile(r"(\S+)\s+(\d+)\s+(-|\d+)(?:\s+(\S+))?")


def parse_linux(parts: Mapping[str, str]) -> Table:
    if "modules" not in parts:
        # The file is absent on kernels built without module support (CONFIG_MODULES=n).
        raise Unavailable("no /proc/modules: kernel without loadable module support")
    lines = [ln.rstrip() for ln in parts["modules"].splitlines() if ln.strip()]
    records = []
    skipped = []  # one odd line costs that module only
    if lines and lines[0].split() == ["Module", "Size", "Used", "by"]:
        for line in lines[1:]:
            m = _LSMOD.fullmatch(line)
            if m is None:
                skipped.append(line)
                continue
            records.append(Module(
                name=m[1], size_bytes=int(m[2]), use_count=_count(m[3], line),
                used_by=m[4] if m[4] and m[4] != "-" else None, state=None, address=None,
                taint=None, version=None))
        return partial(Module, records, skipped)
    for line in lines:
        m = _PROC.fullmatch(line)
        if m is None:
            skipped.append(line)
            continue
        used_by = m[4].rstrip(",")
        records.append(Module(
            name=m[1], size_bytes=int(m[2]), use_count=_count(m[3], line),
            used_by=None if used_by in ("-", "") else used_by, state=m[5],
            address=_address(m[6]), taint=m[7], version=None))
    return partial(Module, records, skipped)


_KLD = re.compile(r"\s*(\d+)\s+(\d+)\s+(0x[0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(\S+)")


def parse_freebsd(parts: Mapping[str, str]) -> Table:
    text = parts.get("kldstat")
    if text is None:
        raise Unavailable("no output from kldstat")
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].split()[:4] != ["Id", "Refs", "Address", "Size"]:
        raise ParseError("not sure how to interpret kldstat without its header",
                         lines[0] if lines else None)
    records, skipped = [], []
    for line in lines[1:]:
        m = _KLD.fullmatch(line)
        if m is None:
            skipped.append(line)  # costs that file only
            continue
        records.append(Module(
            name=m[5], size_bytes=int(m[4], 16), use_count=int(m[2]), used_by=None,
            state=None, address=_address(m[3]), taint=None, version=None))
    return partial(Module, records, skipped)


_KEXT = re.compile(r"\s*(\d+)\s+(\d+)\s+(0x[0-9a-fA-F]+|0)\s+(0x[0-9a-fA-F]+|0)"
                   r"\s+(0x[0-9a-fA-F]+|0)\s+(\S+) \(([^()]*)\)(?: [0-9A-Fa-f-]{36})?"
                   r" <([\d ]*)>")


def parse_macos(parts: Mapping[str, str]) -> Table:
    text = parts.get("kexts")
    if text is None:
        raise Unavailable("no output from kmutil or kextstat")
    rows, skipped = [], []
    for line in text.splitlines():
        if not line.strip() or line.split()[:2] == ["Index", "Refs"]:
            continue  # the header, printed by kextstat without -l
        m = _KEXT.fullmatch(line.rstrip())
        if m is None:
            skipped.append(line)  # costs that kext only
            continue
        rows.append(m)
    names = {m[1]: m[6] for m in rows}
    users: dict[str, list[str]] = {}
    for m in rows:
        for index in m[8].split():
            if index not in names and not skipped:
                # With no line left out, an unknown index means the list is not kextstat's.
                raise ParseError(f"kext links against unknown index {index}", m[0])
            users.setdefault(index, []).append(m[6])
    return partial(Module, [Module(
        name=m[6], size_bytes=int(m[4], 16), use_count=int(m[2]),
        used_by=",".join(users[m[1]]) if m[1] in users else None, state=None,
        address=_address(m[3]), taint=None, version=m[7] or None) for m in rows], skipped)


# modstat's columns, by release: NetBSD 5 (tab-separated), 6 and later (FLAG), -k (ADDRESS).
_MODSTAT_HEADS = (
    ["NAME", "CLASS", "SOURCE", "REFS", "SIZE", "REQUIRES"],
    ["NAME", "CLASS", "SOURCE", "FLAG", "REFS", "SIZE", "REQUIRES"],
    ["NAME", "CLASS", "SOURCE", "FLAG", "REFS", "ADDRESS", "SIZE", "REQUIRES"],
)


def parse_netbsd(parts: Mapping[str, str]) -> Table:
    """``modstat``: REFS is the use count; ``used_by`` is derived from the other modules'
    REQUIRES lists, as on macOS. SIZE is "-" for a built-in module (no size of its own)."""
    text = parts.get("modstat")
    if text is None:
        raise Unavailable("no output from modstat")
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    head = lines[0].split() if lines else []
    if head not in _MODSTAT_HEADS:
        raise ParseError("not sure how to interpret modstat without its header",
                         lines[0] if lines else None)
    at = {name: i for i, name in enumerate(head)}
    rows, skipped = [], []
    for line in lines[1:]:
        words = line.split()
        if (len(words) != len(head) or not words[at["REFS"]].isdecimal()
                or not (words[at["SIZE"]] == "-" or words[at["SIZE"]].isdecimal())):
            skipped.append(line)  # one odd row costs that module
            continue
        rows.append(words)
    users: dict[str, list[str]] = {}
    for words in rows:
        if words[-1] != "-":
            for needed in words[-1].split(","):
                users.setdefault(needed, []).append(words[0])
    table = Table.of(Module, [Module(
        name=w[0], size_bytes=None if w[at["SIZE"]] == "-" else int(w[at["SIZE"]]),
        use_count=int(w[at["REFS"]]), used_by=",".join(users[w[0]]) if w[0] in users else None,
        state=None, address=_address(w[at["ADDRESS"]]) if "ADDRESS" in at else None,
        taint=None, version=None) for w in rows])
    table.skipped = skipped
    return table


PROBE = Probe(
    name="modules",
    record=Module,
    description="loaded kernel modules with size, use count and dependents",
    parts={
        OS.LINUX: (Part("modules", file="/proc/modules"),),
        OS.FREEBSD: (Part("kldstat", sh="kldstat"),),
        # kextstat is deprecated from macOS 11 on, where kmutil replaces it.
        OS.MACOS: (Part("kexts", sh="kmutil showloaded --list-only 2>/dev/null"
                                    " || kextstat -l"),),
        OS.NETBSD: (Part("modstat", sh="modstat"),),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.MACOS: parse_macos,
             OS.NETBSD: parse_netbsd},
    unsupported={OS.OPENBSD: "OpenBSD has no loadable kernel modules"},
)
