"""Memory and swap, in bytes: one row per host.

``used_bytes`` is ``total_bytes - available_bytes`` on every OS: memory that cannot be
handed to a new program without paging something out. ``available_bytes`` is the kernel's
own estimate where it has one (Linux ``MemAvailable``) and otherwise the pages it can
reuse at once:

Linux    /proc/meminfo              "MemAvailable:    3386876 kB"  (kernels < 3.14 lack
         it: free + buffers + cached there, as free(1) did)
FreeBSD  sysctl -i hw.physmem hw.pagesize vm.stats.vm.v_free_count ...
         "vm.stats.vm.v_inactive_count: 860261"  available = free + inactive + cache
         swapinfo -k                "/dev/ada0p2.eli   2097152        0  2097152     0%"
OpenBSD  sysctl -n hw.physmem       "4278124544"
         vmstat -s                  "     4096 bytes per page" / "  1745880 pages free"
                                    available = free + inactive; swap from "swap pages"
NetBSD   sysctl -n hw.physmem64     "4278124544"
         vmstat -s                  as OpenBSD; "   112233 cached file pages" is the cache
macOS    vm_stat                    "Mach Virtual Memory Statistics: (page size of 16384 bytes)"
                                    "Pages free:                                6472."
                                    available = free + inactive + speculative
         sysctl hw.memsize vm.swapusage
                                    "vm.swapusage: total = 3072.00M  used = 2513.50M ..."
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes._sysctl import lenient, parse_sysctl, sysctl_int
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    total_bytes: int = col("UBIGINT", unit="B", doc="physical memory the OS manages")
    available_bytes: int | None = col("UBIGINT", unit="B",
                                      doc="reusable without paging out (see module doc)")
    used_bytes: int | None = col("UBIGINT", unit="B", doc="total - available")
    free_bytes: int | None = col("UBIGINT", unit="B", doc="unused pages")
    buffers_bytes: int | None = col("UBIGINT", unit="B")
    cached_bytes: int | None = col("UBIGINT", unit="B", doc="file cache")
    active_bytes: int | None = col("UBIGINT", unit="B")
    inactive_bytes: int | None = col("UBIGINT", unit="B")
    wired_bytes: int | None = col("UBIGINT", unit="B", doc="pages that cannot be paged out")
    swap_total_bytes: int | None = col("UBIGINT", unit="B")
    swap_used_bytes: int | None = col("UBIGINT", unit="B")


def _memory(total: int, available: int | None, **rest: int | None) -> Memory:
    for name, value in (("total", total), ("available", available), *rest.items()):
        if value is not None and value < 0:
            raise ParseError(f"negative memory size for {name}: {value}")
    used = None
    if available is not None:
        # Rounding in the sources can make available exceed total by a page.
        available = min(available, total)
        used = total - available
    return Memory(total_bytes=total, available_bytes=available, used_bytes=used, **rest)


# -- Linux ---------------------------------------------------------------------------------

_MEMINFO = re.compile(r"^([\w()]+):\s+(\d+)(?: (kB))?$")
_MEMINFO_ALL = re.compile(r"^[ \t]*([\w()]+):[ \t]+(\d+)(?: (kB))?[ \t]*$", re.MULTILINE)


def parse_linux(parts: Mapping[str, str]) -> Table:
    text = only_part(parts, "meminfo")
    # One regex pass over the whole file; a line it skipped means a line it cannot read,
    # which costs that line's field (NULL; MemTotal alone is mandatory).
    found = _MEMINFO_ALL.findall(text)
    skipped: list[str] = []
    if len(found) != sum(1 for line in text.splitlines() if line.strip()):
        found = []
        for line in text.splitlines():
            if line.strip():
                m = _MEMINFO.match(line.strip())
                if not m:
                    skipped.append(line)
                    continue
                found.append(m.groups())
    info = {name: int(value) * (1024 if kb else 1) for name, value, kb in found}
    if "MemTotal" not in info:
        raise ParseError("/proc/meminfo has no MemTotal", skipped[0] if skipped else None)
    total = info["MemTotal"]
    free, buffers, cached = info.get("MemFree"), info.get("Buffers"), info.get("Cached")
    available = info.get("MemAvailable")
    if available is None and None not in (free, buffers, cached):
        available = free + buffers + cached  # type: ignore[operator]
    swap_used = None
    if "SwapTotal" in info and "SwapFree" in info:
        swap_used = max(info["SwapTotal"] - info["SwapFree"], 0)
    return partial(Memory, [_memory(
        total, available, free_bytes=free, buffers_bytes=buffers, cached_bytes=cached,
        active_bytes=info.get("Active"), inactive_bytes=info.get("Inactive"),
        wired_bytes=None, swap_total_bytes=info.get("SwapTotal"),
        swap_used_bytes=swap_used,
    )], skipped, understood=len(found))


# -- FreeBSD -------------------------------------------------------------------------------

def _swapinfo(text: str, skipped: list[str]) -> tuple[int | None, int | None]:
    """``swapinfo -k``: total and used bytes. A "Total" line follows two or more devices.

    Device          1K-blocks     Used    Avail Capacity
    /dev/ada0p2.eli   2097152        0  2097152     0%

    A device line not understood is skipped; the sum is then unknown (NULL) unless the
    Total line gives it.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split()[:3] != ["Device", "1K-blocks", "Used"]:
        raise ParseError("not sure how to interpret swapinfo header", lines[0] if lines else "")
    total = used = 0
    odd = False
    for line in lines[1:]:
        words = line.split()
        try:
            if len(words) < 5 or not words[-1].endswith("%"):
                raise ParseError("not sure how to interpret swapinfo line", line)
            size = to_int(words[-4], "swap size", line)
            in_use = to_int(words[-3], "swap used", line)
        except ParseError:
            skipped.append(line)
            odd = True
            continue
        if words[0] == "Total" and len(words) == 5:
            return size * 1024, in_use * 1024
        total += size
        used += in_use
    return (None, None) if odd else (total * 1024, used * 1024)


def parse_freebsd(parts: Mapping[str, str]) -> Table:
    skipped: list[str] = []
    values = parse_sysctl(only_part(parts, "sysctl"), skipped)
    total = sysctl_int(values, "hw.physmem")
    page = sysctl_int(values, "hw.pagesize")
    if total is None or page is None:
        raise ParseError("sysctl printed no hw.physmem or hw.pagesize")

    def pages(name: str) -> int | None:
        # A garbled counter costs its field (NULL); physmem and pagesize are mandatory.
        oid = f"vm.stats.vm.v_{name}_count"
        n = lenient(skipped, lambda: sysctl_int(values, oid), oid, values.get(oid, ""))
        return None if n is None else n * page

    free, inactive, cache = pages("free"), pages("inactive"), pages("cache")
    available = None
    if free is not None and inactive is not None:
        available = free + inactive + (cache or 0)
    swap_total = swap_used = None
    if "swap" in parts:
        swap_total, swap_used = _swapinfo(parts["swap"], skipped)
    bufspace = lenient(skipped, lambda: sysctl_int(values, "vfs.bufspace"), "vfs.bufspace",
                       values.get("vfs.bufspace", ""))
    return partial(Memory, [_memory(
        total, available, free_bytes=free, buffers_bytes=bufspace,
        cached_bytes=cache, active_bytes=pages("active"), inactive_bytes=inactive,
        wired_bytes=pages("wire"), swap_total_bytes=swap_total, swap_used_bytes=swap_used,
    )], skipped, understood=len(values) + len(parts.get("swap", "").splitlines()))


# -- OpenBSD -------------------------------------------------------------------------------

_VMSTAT_S = re.compile(r"^\s*(\d+)\s+(\S.*?)\s*$")


def parse_openbsd(parts: Mapping[str, str]) -> Table:
    physmem = only_part(parts, "physmem").strip()
    total = to_int(physmem, "hw.physmem", physmem)
    stats: dict[str, int] = {}
    skipped: list[str] = []
    for line in only_part(parts, "vmstat").splitlines():
        if not line.strip():
            continue
        m = _VMSTAT_S.match(line)
        if not m:
            # The name cache lines go on without a number of their own:
            # "      2245223 total name lookups"
            # "              cache hits (97% pos + 2% neg) system 0% per-directory"
            if line.startswith(" " * 11) and line.strip()[0].isalpha():
                continue
            skipped.append(line)  # costs that counter (NULL)
            continue
        stats.setdefault(m.group(2), int(m.group(1)))
    page = stats.get("bytes per page")
    if not page:
        raise ParseError("vmstat -s printed no 'bytes per page'", skipped[0] if skipped else None)

    def pages(name: str) -> int | None:
        n = stats.get(name)
        return None if n is None else n * page

    free, inactive = pages("pages free"), pages("pages inactive")
    available = free + inactive if free is not None and inactive is not None else None
    return partial(Memory, [_memory(
        total, available, free_bytes=free, buffers_bytes=None, cached_bytes=None,
        active_bytes=pages("pages active"), inactive_bytes=inactive,
        wired_bytes=pages("pages wired"), swap_total_bytes=pages("swap pages"),
        swap_used_bytes=pages("swap pages in use"),
    )], skipped, understood=len(stats))


# -- NetBSD --------------------------------------------------------------------------------

# NetBSD's vmstat -s has OpenBSD's lines, but indents the name cache summary by ten spaces
# ("%9s cache hits (…)", "%9s deletions 0%, …"), and counts the file cache.
_NETBSD_NAMECACHE = re.compile(r"^ +(?:cache hits \(|deletions \d)")
_NETBSD_FILE_PAGES = re.compile(r"^ *(\d+) cached file pages[ \t]*$", re.MULTILINE)
_NETBSD_PAGE = re.compile(r"^ *(\d+) bytes per page[ \t]*$", re.MULTILINE)


def parse_netbsd(parts: Mapping[str, str]) -> Table:
    """NetBSD: OpenBSD's parser, plus ``cached_bytes`` from "cached file pages"."""
    text = only_part(parts, "vmstat")
    kept = "\n".join(ln for ln in text.splitlines() if not _NETBSD_NAMECACHE.match(ln))
    table = parse_openbsd({"physmem": only_part(parts, "physmem"), "vmstat": kept})
    cached, page = _NETBSD_FILE_PAGES.search(kept), _NETBSD_PAGE.search(kept)
    if cached and page:
        table.columns["cached_bytes"] = [int(cached[1]) * int(page[1])]
    return table


# -- macOS ---------------------------------------------------------------------------------

_VM_STAT_HEAD = re.compile(r"^Mach Virtual Memory Statistics: \(page size of (\d+) bytes\)$")
_VM_STAT_LINE = re.compile(r'^"?([^":]+)"?:\s+(\d+)\.?$')
_SWAPUSAGE = re.compile(r"(total|used|free) = (\d+(?:[.,]\d+)?)([KMGT])")
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _swapusage(value: str) -> tuple[int, int]:
    """``total = 3072.00M  used = 2513.50M  free = 558.50M  (encrypted)``."""
    found = {k: round(to_float(n, k, value) * _UNITS[u]) for k, n, u in _SWAPUSAGE.findall(value)}
    if "total" not in found or "used" not in found:
        raise ParseError("not sure how to interpret vm.swapusage", value)
    return found["total"], found["used"]


def parse_macos(parts: Mapping[str, str]) -> Table:
    lines = [line for line in only_part(parts, "vm_stat").splitlines() if line.strip()]
    head = _VM_STAT_HEAD.match(lines[0].strip()) if lines else None
    if not head:
        raise ParseError("vm_stat does not start with its header", lines[0] if lines else "")
    page = int(head.group(1))
    stats: dict[str, int] = {}
    skipped: list[str] = []
    for line in lines[1:]:
        m = _VM_STAT_LINE.match(line.strip())
        if not m:
            skipped.append(line)  # costs that counter (NULL)
            continue
        stats[m.group(1)] = int(m.group(2)) * page
    values = parse_sysctl(only_part(parts, "sysctl"), skipped)
    total = sysctl_int(values, "hw.memsize")
    if total is None:
        raise ParseError("sysctl printed no hw.memsize")
    # vm_stat's "Pages free" already leaves out the speculative (read-ahead) pages.
    free, inactive = stats.get("Pages free"), stats.get("Pages inactive")
    available = None
    if free is not None and inactive is not None:
        available = free + inactive + stats.get("Pages speculative", 0)
    swap_total = swap_used = None
    if "vm.swapusage" in values:
        swap_total, swap_used = lenient(
            skipped, lambda: _swapusage(values["vm.swapusage"]), "vm.swapusage",
            values["vm.swapusage"]) or (None, None)
    return partial(Memory, [_memory(
        total, available, free_bytes=free, buffers_bytes=None,
        cached_bytes=stats.get("File-backed pages"), active_bytes=stats.get("Pages active"),
        inactive_bytes=inactive, wired_bytes=stats.get("Pages wired down"),
        swap_total_bytes=swap_total, swap_used_bytes=swap_used,
    )], skipped, understood=len(stats) + len(values))


_FREEBSD_OIDS = " ".join(
    ["hw.physmem", "hw.pagesize", "vfs.bufspace"]
    + [f"vm.stats.vm.v_{n}_count" for n in ("free", "inactive", "cache", "active", "wire")])

PROBE = Probe(
    name="memory",
    record=Memory,
    description="physical memory and swap use",
    parts={
        OS.LINUX: (Part("meminfo", file="/proc/meminfo"),),
        # -i: skip OIDs a release lacks (v_cache_count went away in FreeBSD 13).
        OS.FREEBSD: (Part("sysctl", sh=f"sysctl -i {_FREEBSD_OIDS}"),
                     Part("swap", sh="swapinfo -k")),
        OS.OPENBSD: (Part("physmem", sh="sysctl -n hw.physmem"), Part("vmstat", sh="vmstat -s")),
        OS.MACOS: (Part("vm_stat", sh="vm_stat"),
                   Part("sysctl", sh="sysctl hw.memsize vm.swapusage")),
        # hw.physmem is a 32-bit int on NetBSD (wrong past 2 GiB): physmem64 is not.
        OS.NETBSD: (Part("physmem", sh="sysctl -n hw.physmem64"),
                    Part("vmstat", sh="vmstat -s")),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.OPENBSD: parse_openbsd,
             OS.MACOS: parse_macos, OS.NETBSD: parse_netbsd},
)
