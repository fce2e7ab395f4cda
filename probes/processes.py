"""Processes: one row per process, from ``ps`` with a header line.

The parser is driven by the header, so it reads our own ``-o`` lists and the common
fixed formats (``ps axu``, ``ps -ef``, ``ps -A -o …``) alike; a header word it does not
know raises ParseError; a row it cannot read (cut by the kernel, a value garbled) is left
out and quoted, and the probe is ``partial``. Every column but the last is one
whitespace-free word; the last column is the command line (args), kept intact with its
spaces. GNU ``ps -ef`` prints user names in its UID column (a number only for a uid
without a name), macOS's ``ps -ef`` the number: a name there is the user::

    Linux (procps)
      PID  PPID UID USER STAT %CPU %MEM   RSS    VSZ  ELAPSED     TIME COMMAND         ARGS
        1     0   0 root Ss    0.0  0.1 13056 168752 12:09:01 00:00:02 systemd         /sbin/init
        2     0   0 root S     0.0  0.0     0      0 12:09:01 00:00:00 kthreadd        [kthreadd]
    BusyBox (fallback, no %CPU/STAT/comm; VSZ may carry a unit: "98.1m")
      PID  PPID USER     RSS  VSZ ELAPSED TIME COMMAND
    FreeBSD/OpenBSD/NetBSD/macOS
      PID PPID UID USER STAT %CPU %MEM  RSS   VSZ    ELAPSED    TIME UCOMM            ARGS
      211    1   0 root Ss    0.0  0.1 9852 21312 2-03:04:05 0:01.27 sshd             /usr/sbin/sshd

The process name (comm) may itself contain spaces ("Web Content"), so it is the column
before args and is cut out by position, which ps implementations lay out differently
after a column overflows (a long user name, a huge VSZ):

- procps shortens the padding of later columns until it catches up, so args always start
  where the header's last word starts (checked on procps-ng 4.0);
- BSD and macOS ps never catch up (see the shifted rows of macOS ``ps axu``), but they
  pad the name to its column width, so args start one column width after the name.

Times: ELAPSED is ``[[DD-]HH:]MM:SS`` (etime) or plain seconds (procps's etimes); TIME
is ``[DD-]HH:MM:SS`` (procps time), ``MMM:SS.hh`` (BSD) or plain seconds (procps's times).
On Linux we ask for etimes/times: seconds cost nothing to parse, and this runs for every
process of every host. procps too old for them, and BusyBox, take the fallback command.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from onion.probes.base import OS, ParseError, Part, Probe, Table, col, only_part, to_float, to_int


# Not frozen: one record per process per host per poll makes this the hottest constructor
# in Onion, and a frozen dataclass's __init__ costs three times a plain one's.
@dataclass(slots=True)
class Process:
    pid: int = col("UINTEGER", key=True)
    ppid: int | None = col("UINTEGER")
    uid: int | None = col("UINTEGER", doc="effective user id")
    user: str | None = col("VARCHAR", doc="effective user name; NULL where ps truncated it")
    state: str | None = col("VARCHAR", doc="ps STAT: state letter and flags (Ss, R+, SJ)")
    cpu_pct: float | None = col("FLOAT", unit="%", doc="ps %CPU (per-OS meaning, may exceed 100)")
    mem_pct: float | None = col("FLOAT", unit="%")
    rss_bytes: int | None = col("UBIGINT", unit="B")
    vsz_bytes: int | None = col("UBIGINT", unit="B")
    elapsed_seconds: int | None = col("UINTEGER", unit="s", doc="time since the process started")
    cpu_seconds: float | None = col("DOUBLE", unit="s", counter=True, doc="user+system CPU time")
    comm: str | None = col("VARCHAR", doc="process name (kernel's short name)")
    args: str | None = col("VARCHAR", doc="full command line")


# Header word -> record field. Several spellings exist per field across ps flavours.
_FIELDS = {
    "PID": "pid", "PPID": "ppid", "UID": "uid", "USER": "user", "RUSER": "user",
    "STAT": "state", "S": "state", "STATE": "state",
    "%CPU": "cpu_pct", "%MEM": "mem_pct", "RSS": "rss_bytes", "VSZ": "vsz_bytes",
    "ELAPSED": "elapsed_seconds", "TIME": "cpu_seconds",
    "COMMAND": "comm", "COMM": "comm", "UCOMM": "comm", "CMD": "comm",
}
# Header words of columns we read past: terminal, start time, scheduling.
_IGNORED = {"TTY", "TT", "STARTED", "START", "STIME", "LSTART", "C", "NI", "PRI", "F"}
_LAST = {"COMMAND", "CMD", "ARGS"}  # the last column is always the full command line

_DURATION = re.compile(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")
_MEM = re.compile(r"(\d+(?:\.\d+)?)([kmgtp]?)")  # KiB; BusyBox scales big values: "98.1m"
_MEM_UNITS = {"": 1, "k": 1, "m": 1 << 10, "g": 1 << 20, "t": 1 << 30, "p": 1 << 40}


def duration(text: str, line: str) -> float:
    """``07-21:28:18``, ``12:09:01``, ``00:19``, ``7:53.61`` (BSD cpu time) or ``2506``."""
    if text.isdecimal():
        return int(text)
    m = _DURATION.fullmatch(text)
    if m is None:
        raise ParseError(f"not sure how to interpret the duration {text!r}", line)
    days, hours, minutes, seconds = m.groups()
    total = int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60
    return round(total + float(seconds), 2)  # hundredths at most: drop float noise


def _kib_to_bytes(text: str, line: str) -> int:
    m = _MEM.fullmatch(text)
    if m is None:
        raise ParseError(f"not sure how to interpret the size {text!r}", line)
    return round(float(m[1]) * _MEM_UNITS[m[2]] * 1024)


def _user(text: str) -> str | None:
    # procps marks a name cut to the column width with '+' (older ones print the uid):
    # a cut name is not the name, and the uid column still says who it is.
    return None if text.endswith("+") else text


def _int(text: str, line: str) -> int:
    # Fast path first: this runs for every column of every process of every host.
    return int(text) if text.isdecimal() else to_int(text, "ps column", line)


def _pct(text: str, line: str) -> float:
    try:
        return float(text)
    except ValueError:
        return to_float(text, "ps percentage", line)


def _kib(text: str, line: str) -> int:
    return int(text) * 1024 if text.isdecimal() else _kib_to_bytes(text, line)


_CONVERTERS: dict[str, Callable[[str, str], object]] = {
    "pid": _int, "ppid": _int,
    "uid": lambda text, line: int(text) if text.isdecimal() else None,
    "cpu_pct": _pct, "mem_pct": _pct, "rss_bytes": _kib, "vsz_bytes": _kib,
    "elapsed_seconds": lambda text, line: _sane_elapsed(int(duration(text, line))),
    "cpu_seconds": lambda text, line: float(duration(text, line)),
    "user": lambda text, line: _user(text),
    "state": lambda text, line: text,
}


def _keep(text: str, line: str) -> str:
    return text



# How to find where args start on a row that also has comm: (row, end of the words before
# comm, header offset of comm, header offset of args) -> offset of args in the row.
Locate = Callable[[str, int, int, int], int]


def _args_at_header(row: str, words_end: int, comm_at: int, args_at: int) -> int:
    return args_at  # procps catches up after an overflow


def _args_after_comm(row: str, words_end: int, comm_at: int, args_at: int) -> int:
    return words_end + 1 + (args_at - comm_at)  # name padded to its column width, then a space


def _parse(text: str, locate: Locate) -> list[Process]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ParseError("ps printed nothing, not even its header")
    header = lines[0]
    names = header.split()
    if names[-1] not in _LAST:
        raise ParseError("not sure how to interpret this ps header (last column is not the "
                         "command line)", header)
    fields: list[str | None] = []
    for name in names[:-1]:
        if name in _FIELDS:
            fields.append(_FIELDS[name])
        elif name in _IGNORED:
            fields.append(None)
        else:
            raise ParseError(f"not sure how to interpret the ps column {name!r}", header)
    if names == ["PID", "USER", "VSZ", "STAT", "COMMAND"]:
        # BusyBox's default layout: its STAT holds spaces ("S <"), which would leak into
        # args unnoticed. Our BusyBox fallback asks for columns without STAT instead.
        raise ParseError("BusyBox's default ps layout is not supported (STAT has spaces)",
                         header)
    if "pid" not in fields:
        raise ParseError("ps header has no PID column", header)
    has_comm = fields[-1] == "comm"
    words = fields[:-1] if has_comm else fields
    args_at = header.rstrip().rindex(" ") + 1
    comm_at = header.rstrip()[:args_at].rstrip().rindex(" ") + 1 if has_comm else 0

    # Column by column: this runs for every process of every host, and whole-column
    # conversions (with a careful path only for a column that needs it) are several
    # times cheaper than converting field by field.
    body = lines[1:]
    n = len(body)
    n_words = len(words)
    comms: list[str | None]
    argv: list[str | None]
    odd: Sequence[int]
    if has_comm and locate is _args_at_header:
        # procps: args start at the header's column on every row, so cut every row there
        # first; a row where that does not hold (a word across the cut) goes row by row.
        split = [line[:args_at].split(None, n_words) for line in body]
        comms = [found[-1].rstrip() if len(found) > n_words else None for found in split]
        argv = [line[args_at:].rstrip() or None for line in body]
        odd = [i for i, (line, found) in enumerate(zip(body, split, strict=True))
               if len(found) <= n_words or line[args_at - 1:args_at] != " "]
    else:
        split = [line.split(None, n_words) for line in body]
        comms, argv, odd = [None] * n, [None] * n, range(n)
    skipped: list[str] = []
    bad: set[int] = set()
    for i in odd:
        line = body[i]
        found = split[i] = line.split(None, n_words)
        try:
            if len(found) < n_words + 1:
                raise ParseError("not sure how to interpret this ps line (too few columns)",
                                 line)
            comms[i], argv[i] = _cut(line, found[n_words], has_comm and locate, comm_at,
                                     args_at)
        except ParseError:
            # One odd row (a value wider than its column shifted the rest, a line cut by
            # the kernel) costs that row: the probe is `partial`, the others are stored.
            bad.add(i)
            skipped.append(line)
    if bad:
        keep = [i for i in range(n) if i not in bad]
        body, split = [body[i] for i in keep], [split[i] for i in keep]
        comms, argv = [comms[i] for i in keep], [argv[i] for i in keep]
        n = len(keep)
    columns: dict[str, list[object]] = {}
    garbled: set[int] = set()  # rows with a value not understood: each costs that row
    for i, field in enumerate(words):
        if field is not None:
            texts = [found[i] for found in split]
            columns[field] = _column(field, texts, body, garbled)
            if field == "uid" and "user" not in words:
                # GNU ps -ef prints the user's name in its UID column (the number only for
                # a uid without a name); BSD and macOS print the number.
                columns["user"] = [None if t.isdecimal() or t == "-" else _user(t)
                                   for t in texts]
    if garbled:
        keep = [i for i in range(n) if i not in garbled]
        skipped += [body[i] for i in sorted(garbled)]
        columns = {k: [v[i] for i in keep] for k, v in columns.items()}
        comms, argv = [comms[i] for i in keep], [argv[i] for i in keep]
        n = len(keep)
    columns["comm"], columns["args"] = comms, argv
    table = Table(Process, {name: columns.get(name) or [None] * n  # a column ps did not print
                            for name in Process.__dataclass_fields__})
    table.skipped = skipped
    return table


def _cut(line: str, rest: str, locate: Locate | None, comm_at: int,
         args_at: int) -> tuple[str | None, str | None]:
    """(comm, args) of one row; ``rest`` is the row after its one-word columns."""
    if not locate:
        return None, rest.rstrip() or None
    end = len(line[:len(line) - len(rest)].rstrip())  # where the one-word columns end
    start = locate(line, end, comm_at, args_at)
    if start <= end or start > len(line) or line[start - 1] != " ":
        raise ParseError("not sure where the command name ends on this ps line", line)
    return line[end:start].strip() or None, line[start:].rstrip() or None


def _column(field: str, texts: list[str], lines: list[str], garbled: set[int]) -> list[object]:
    """One column's values; the rows whose value is not understood go to ``garbled``."""
    fast = _FAST.get(field)
    if fast is not None:
        try:
            return fast(texts)
        except ValueError:
            pass  # a '-', a duration, a unit: the careful path finds the odd rows
    convert = _CONVERTERS.get(field, _keep)
    try:  # every row right: one comprehension (BSD durations all take this path)
        return [None if t == "-" else convert(t, line)
                for t, line in zip(texts, lines, strict=True)]
    except ParseError:
        pass
    out: list[object] = []
    for i, (t, line) in enumerate(zip(texts, lines, strict=True)):
        if t == "-":
            out.append(None)
            continue
        try:
            out.append(convert(t, line))
        except ParseError:
            garbled.add(i)
            out.append(None)
    return out


def _sane_elapsed(seconds: int) -> int | None:
    # procps can print garbage for a process that forks while ps reads it (seen:
    # "441077234-00:18:40"); a start before the epoch is not a value, it is unknown.
    return seconds if 0 <= seconds < 1 << 32 else None


def _finite(values: list[float]) -> list[float]:
    if not all(map(math.isfinite, values)):
        raise ValueError("not finite")
    return values


def _elapsed(col: list[str]) -> list[int | None]:
    values = list(map(int, col))
    if values and not 0 <= min(values) <= max(values) < 1 << 32:
        return [_sane_elapsed(v) for v in values]
    return values


# map() with a builtin runs at C speed: these convert a whole column per call.
_FAST: dict[str, Callable[[list[str]], list[object]]] = {
    "pid": lambda col: list(map(int, col)),
    "ppid": lambda col: list(map(int, col)),
    "uid": lambda col: list(map(int, col)),
    "cpu_pct": lambda col: _finite(list(map(float, col))),
    "mem_pct": lambda col: _finite(list(map(float, col))),
    "rss_bytes": lambda col: [int(t) << 10 for t in col],
    "vsz_bytes": lambda col: [int(t) << 10 for t in col],
    "elapsed_seconds": _elapsed,
    "cpu_seconds": lambda col: list(map(float, map(int, col))),
    "user": lambda col: [None if t.endswith("+") else t for t in col],
    "state": lambda col: [None if t == "-" else t for t in col],
}


def parse_linux(parts: Mapping[str, str]) -> list[Process]:
    return _parse(only_part(parts, "ps"), _args_at_header)


def parse_bsd(parts: Mapping[str, str]) -> list[Process]:
    return _parse(only_part(parts, "ps"), _args_after_comm)


# Linux: procps first; BusyBox ps (Alpine, embedded) rejects -e/-w and most columns, so
# it gets the subset it knows. The explicit user width keeps procps from cutting names.
_LINUX = ("ps -eww -o pid,ppid,uid,user:32,stat,pcpu,pmem,rss,vsz,etimes,times,comm"
          " -o args=ARGS 2>/dev/null || ps -o pid,ppid,user,rss,vsz,etime,time,args")
# ucomm is the kernel's short name everywhere (macOS's comm is the full executable path).
_BSD = "ps -axww -o pid,ppid,uid,user,stat,pcpu,pmem,rss,vsz,etime,time,ucomm -o args=ARGS"

PROBE = Probe(
    name="processes",
    record=Process,
    description="every process: ids, user, state, CPU and memory use, command line",
    parts={
        OS.LINUX: (Part("ps", sh=_LINUX),),
        OS.FREEBSD: (Part("ps", sh=_BSD),),
        OS.OPENBSD: (Part("ps", sh=_BSD),),
        OS.MACOS: (Part("ps", sh=_BSD),),
        OS.NETBSD: (Part("ps", sh=_BSD),),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_bsd, OS.OPENBSD: parse_bsd,
             OS.MACOS: parse_bsd, OS.NETBSD: parse_bsd},
)
