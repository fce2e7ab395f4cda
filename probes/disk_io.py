"""Block device IO counters since boot, raw; rates come from SQL views.

Linux   /proc/diskstats, 14 fields (>= 2.6.25), 18 (+discard, 4.18), 20 (+flush, 5.5),
        or 7 for a partition on old kernels (psutil's diskstats parser lists the same)::
            8       0 sda 14200 3361 892828 5058 18736 13416 715384 12604 0 24940 17663
        Sectors are always 512 bytes there, whatever the device's sector size.
FreeBSD ``iostat -Ixd -n 1000``: totals since boot, read/write split::
            device           r/i         w/i         kr/i         kw/i qlen   tsvc_t/i      sb/i
            ada0         13960.0    302016.0     318622.5    4006493.5    0      412.0     320.1
        kr/kw are KiB with one decimal (bytes are rounded); tsvc_t (total transaction
        time, s) goes to weighted_io_time_ms, sb (busy time, s) to io_time_ms.
OpenBSD ``iostat -dI <every disk of hw.disknames>`` and macOS ``iostat -dI -n 1000``: only
        read+write totals per disk (``transfers``, ``transferred_bytes``)::
                       sd0             cd0                  (OpenBSD)
              KB/t xfr MB       KB/t xfr MB
             26.57 84153 2183.59  0.00 0 0.00
        MB has two decimals, so bytes are exact to 10 KiB only. OpenBSD's iostat prints
        MB as 0 for a disk with no recorded busy time.
NetBSD  ``iostat -dI <every disk of hw.disknames>``: OpenBSD's layout and caveats; MB has
        3 significant decimals at most ("2183", "21.84"), so big totals are exact to 1 MiB.
        (Its ``-Ix`` splits reads from writes, but its columns changed across releases.)
Loop and ram devices are kept: one row each is cheap and a dropped device is a question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


def _counter(doc: str = "", unit: str = "") -> object:
    return col("UBIGINT", counter=True, unit=unit, doc=doc, default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskIo:
    device: str = col("VARCHAR", key=True)
    reads_completed: int | None = _counter()
    reads_merged: int | None = _counter()
    read_bytes: int | None = _counter(unit="B")
    read_time_ms: int | None = _counter(unit="ms")
    writes_completed: int | None = _counter()
    writes_merged: int | None = _counter()
    written_bytes: int | None = _counter(unit="B")
    write_time_ms: int | None = _counter(unit="ms")
    in_flight: int | None = col("UINTEGER", doc="requests in progress now", default=None)
    io_time_ms: int | None = _counter("time the device was busy", "ms")
    weighted_io_time_ms: int | None = _counter("sum of request durations", "ms")
    discards_completed: int | None = _counter()
    discards_merged: int | None = _counter()
    discarded_bytes: int | None = _counter(unit="B")
    discard_time_ms: int | None = _counter(unit="ms")
    flushes_completed: int | None = _counter()
    flush_time_ms: int | None = _counter(unit="ms")
    transfers: int | None = _counter("reads+writes where only the sum is known (BSD, macOS)")
    transferred_bytes: int | None = _counter("read+written bytes where only the sum is known",
                                             "B")


_SECTOR = 512
_KIB = 1024
_MIB = 1024 * 1024


def parse_linux(parts: Mapping[str, str]) -> Table:
    out = []
    skipped: list[str] = []  # an odd line costs that device only
    for line in only_part(parts, "diskstats").splitlines():
        words = line.split()
        if not words:
            continue
        if len(words) not in (7, 14, 18, 20):
            skipped.append(line)
            continue
        device = words[2]
        try:
            n = list(map(int, words[3:]))  # one C loop
        except ValueError:
            skipped.append(line)
            continue
        if min(n) < 0:
            skipped.append(line)
            continue
        if len(words) == 7:  # old-kernel partition: reads, sectors read, writes, written
            out.append(DiskIo(device=device, reads_completed=n[0], read_bytes=n[1] * _SECTOR,
                              writes_completed=n[2], written_bytes=n[3] * _SECTOR))
            continue
        extra: dict[str, int] = {}
        if len(n) >= 15:
            extra.update(discards_completed=n[11], discards_merged=n[12],
                         discarded_bytes=n[13] * _SECTOR, discard_time_ms=n[14])
        if len(n) >= 17:
            extra.update(flushes_completed=n[15], flush_time_ms=n[16])
        out.append(DiskIo(
            device=device, reads_completed=n[0], reads_merged=n[1], read_bytes=n[2] * _SECTOR,
            read_time_ms=n[3], writes_completed=n[4], writes_merged=n[5],
            written_bytes=n[6] * _SECTOR, write_time_ms=n[7], in_flight=n[8], io_time_ms=n[9],
            weighted_io_time_ms=n[10], **extra))
    return partial(DiskIo, out, skipped)


_FREEBSD_HEADER = ["device", "r/i", "w/i", "kr/i", "kw/i", "qlen", "tsvc_t/i", "sb/i"]


def _total(text: str, what: str, line: str, scale: float = 1) -> int:
    value = to_float(text, what, line)
    if value < 0:
        raise ParseError(f"negative total for {what}", line)
    return round(value * scale)


def parse_freebsd(parts: Mapping[str, str]) -> Table:
    out = []
    skipped: list[str] = []
    header = False
    for line in only_part(parts, "iostat").splitlines():
        words = line.split()
        if not words or words == ["extended", "device", "statistics"]:
            continue
        if words[0] == "device":
            if words[:8] != _FREEBSD_HEADER:
                raise ParseError("not the iostat -Ix header", line)
            header = True
            continue
        if not header:
            raise ParseError("iostat -Ix printed a device line before its header", line)
        # With -x, tty/cpu columns would follow on the first device line only; -d drops them.
        try:
            if len(words) != 8:
                raise ParseError("not sure how to interpret iostat -Ix line", line)
            qlen = to_int(words[5], "qlen", line)
            out.append(DiskIo(
                device=words[0], reads_completed=_total(words[1], "r/i", line),
                writes_completed=_total(words[2], "w/i", line),
                read_bytes=_total(words[3], "kr/i", line, _KIB),
                written_bytes=_total(words[4], "kw/i", line, _KIB),
                in_flight=qlen if qlen >= 0 else None,
                weighted_io_time_ms=_total(words[6], "tsvc_t/i", line, 1000),
                io_time_ms=_total(words[7], "sb/i", line, 1000)))
        except ParseError:
            skipped.append(line)  # costs that device only
    return partial(DiskIo, out, skipped)


def parse_totals(parts: Mapping[str, str]) -> Table:
    """``iostat -dI`` of OpenBSD and macOS: disk names, a unit line, one line of totals.

    Every disk shares the one line of values: a value not understood costs its disk (the
    line is quoted), the column count is the shape and must match."""
    lines = [ln for ln in only_part(parts, "iostat").splitlines() if ln.strip()]
    if not lines:
        return partial(DiskIo, [], [])
    if len(lines) != 3:
        raise ParseError(f"iostat -dI: expected 3 lines, got {len(lines)}", lines[0])
    names, units, values = (ln.split() for ln in lines)
    if units != ["KB/t", "xfr", "MB"] * len(names) and units != ["KB/t", "xfrs", "MB"] * len(names):
        raise ParseError("not the iostat -dI unit line", lines[1])
    if len(values) != 3 * len(names):
        raise ParseError(f"expected {3 * len(names)} values", lines[2])
    out, skipped = [], []
    for i, name in enumerate(names):
        try:
            to_float(values[3 * i], f"{name} KB/t", lines[2])
            out.append(DiskIo(
                device=name, transfers=_total(values[3 * i + 1], f"{name} xfr", lines[2]),
                transferred_bytes=_total(values[3 * i + 2], f"{name} MB", lines[2], _MIB)))
        except ParseError:
            skipped.append(lines[2])
    return partial(DiskIo, out, skipped)


# iostat picks 4 disks unless named: name them all (hw.disknames is "sd0:uid,cd0:,...").
OPENBSD_SH = """\
disks=$(sysctl -n hw.disknames | tr ',' '\\n' | sed 's/:.*//')
[ -n "$disks" ] || _na "no disks in hw.disknames"
iostat -dI $disks
"""

# NetBSD's hw.disknames is space-separated ("wd0 cd0 dk0"); iostat -d shows 4 unless named.
NETBSD_SH = """\
disks=$(sysctl -n hw.disknames)
[ -n "$disks" ] || _na "no disks in hw.disknames"
iostat -dI $disks
"""

PROBE = Probe(
    name="disk_io",
    record=DiskIo,
    description="block device IO counters since boot",
    parts={
        OS.LINUX: (Part("diskstats", file="/proc/diskstats"),),
        OS.FREEBSD: (Part("iostat", sh="iostat -Ixd -n 1000"),),
        OS.OPENBSD: (Part("iostat", sh=OPENBSD_SH,
                          doc="`sysctl -n hw.disknames`, `iostat -dI` of every disk"),),
        OS.MACOS: (Part("iostat", sh="iostat -dI -n 1000"),),
        OS.NETBSD: (Part("iostat", sh=NETBSD_SH),),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.OPENBSD: parse_totals,
             OS.MACOS: parse_totals, OS.NETBSD: parse_totals},
)
