"""CPU: load averages, CPU time counters since boot, and the number of CPUs.

Linux   /proc/loadavg  "0.52 0.58 0.59 1/467 12345"
        /proc/stat     "cpu  4705 356 584 3699 23 23 0 0 0 0"  (USER_HZ ticks)
                       "cpu0 …" one line per online CPU: the CPU count, with no
                       extra process (getconf) on the host
FreeBSD sysctl vm.loadavg kern.cp_time kern.clockrate hw.ncpu
        "vm.loadavg: { 0.52 0.58 0.59 }"
        "kern.cp_time: 1306 0 20708 3886 2221637"   user nice sys intr idle
        "kern.clockrate: { hz = 100, tick = 10000, profhz = 8128, stathz = 127 }"
OpenBSD sysctl vm.loadavg kern.cp_time kern.clockrate hw.ncpuonline
        "vm.loadavg=0.52 0.58 0.59"
        "kern.cp_time=1306,0,20708,12,3886,2221637"  user nice sys spin intr idle (6.4+;
                                                     older releases print the five above)
        "kern.clockrate=tick = 10000, tickadj = 40, hz = 100, profhz = 100, stathz = 100"
macOS   sysctl vm.loadavg hw.activecpu
        macOS has no text source of CPU ticks (only the host_statistics() call), so its
        time counters are NULL.
NetBSD  sysctl vm.loadavg kern.cp_time kern.clockrate hw.ncpuonline
        "vm.loadavg: 0.52 0.58 0.59"
        "kern.cp_time: user = 1306, nice = 0, sys = 20708, intr = 3886, idle = 2221637"
        "kern.clockrate: tick = 10000, tickadj = 40, hz = 100, profhz = 100, stathz = 100"
        "hw.ncpuonline = 4"                      (plain OIDs print " = ")
BSD ticks count statclock interrupts: seconds = ticks / stathz. BSD "intr" time is
``irq_seconds``; OpenBSD's "spin" (spinning on a kernel lock) is ``spin_seconds``.
Counters are stored raw, in seconds; the ``cpu_usage`` view turns them into percentages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes._sysctl import lenient, parse_assignments, parse_sysctl
from onion.probes._sysctl import parse_loadavg as parse_bsd_loadavg
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
class Cpu:
    ncpu: int | None = col("USMALLINT", doc="online logical CPUs")
    load_1m: float | None = col("FLOAT")
    load_5m: float | None = col("FLOAT")
    load_15m: float | None = col("FLOAT")
    user_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    nice_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    system_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    idle_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    iowait_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    irq_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    softirq_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    steal_seconds: float | None = col("DOUBLE", unit="s", counter=True)
    spin_seconds: float | None = col("DOUBLE", unit="s", counter=True,
                                     doc="OpenBSD: time spinning on kernel locks")


# Linux reports /proc/stat in USER_HZ, which the kernel fixes at 100 for userspace on
# every current architecture; a ``clk_tck`` part (saved `getconf CLK_TCK`) overrides it.
_LINUX_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """``0.52 0.58 0.59 1/467 12345`` (Linux) or ``{ 0.52 0.58 0.59 }`` (BSD sysctl)."""
    words = text.replace("{", " ").replace("}", " ").split()
    if len(words) < 3:
        raise ParseError("load averages need three numbers", text.strip())
    a, b, c = (to_float(w, "load average", text) for w in words[:3])
    return a, b, c


def parse_linux(parts: Mapping[str, str]) -> Table:
    # One record from several lines: a garbled line costs its fields (NULL), not the row.
    skipped: list[str] = []
    load: tuple[float | None, ...] = (None,) * 3
    if "loadavg" in parts:
        try:
            load = parse_loadavg(parts["loadavg"])
        except ParseError:
            skipped.append(parts["loadavg"].strip())
    times: dict[str, float] = {}
    hz = 100
    if "clk_tck" in parts and parts["clk_tck"].strip():
        hz = to_int(parts["clk_tck"].strip(), "CLK_TCK")
        if hz <= 0:
            raise ParseError("CLK_TCK must be positive", parts["clk_tck"])
    online = 0
    aggregate = False
    for line in parts.get("stat", "").splitlines():
        words = line.split()
        if not words or not words[0].startswith("cpu"):
            continue
        if words[0] == "cpu":
            aggregate = True
            try:
                found = {name: to_int(value, f"cpu {name}", line) / hz
                         for name, value in zip(_LINUX_STAT_FIELDS, words[1:], strict=False)}
            except ParseError:
                skipped.append(line)
                continue
            if len(words) < 5:  # user nice system idle at the least (Linux 2.4 on)
                skipped.append(line)
                continue
            times.update(found)
        elif words[0][3:].isdecimal():
            online += 1
    if "stat" in parts and not aggregate:
        raise ParseError("no aggregate 'cpu' line in /proc/stat")
    ncpu = online or None
    if parts.get("ncpu", "").strip():
        try:
            ncpu = to_int(parts["ncpu"].strip(), "CPU count")
        except ParseError:
            skipped.append(parts["ncpu"].strip())
    if not times and load[0] is None:
        raise ParseError("neither /proc/loadavg nor /proc/stat was read",
                         skipped[0] if skipped else None)
    return partial(Cpu, [Cpu(
        ncpu=ncpu, load_1m=load[0], load_5m=load[1], load_15m=load[2],
        **{f"{k}_seconds": times.get(k) for k in _LINUX_STAT_FIELDS}, spin_seconds=None,
    )], skipped, understood=online + bool(times) + (load[0] is not None))


# kern.cp_time order by count of states (sys/sched.h, sys/resource.h).
_BSD_CP_STATES = {
    5: ("user", "nice", "system", "irq", "idle"),
    6: ("user", "nice", "system", "spin", "irq", "idle"),
}
_BSD_TIME_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
                    "spin")


def _bsd_times(values: Mapping[str, str]) -> dict[str, float | None]:
    times: dict[str, float | None] = dict.fromkeys(_BSD_TIME_FIELDS)
    if "kern.cp_time" not in values:
        return times
    raw = values["kern.cp_time"]
    if not raw.replace(",", " ").replace(" ", "").isdecimal():
        raise ParseError("kern.cp_time holds more than tick counts", raw)
    words = raw.replace(",", " ").split()
    states = _BSD_CP_STATES.get(len(words))
    if states is None:
        raise ParseError(f"kern.cp_time has {len(words)} states, expected 5 or 6", raw)
    if "kern.clockrate" not in values:
        raise ParseError("kern.cp_time without kern.clockrate: ticks cannot become seconds")
    clock = parse_assignments(values["kern.clockrate"])
    # stathz is 0 where the statistics clock is driven by hardclock (hz).
    hz = clock.get("stathz") or clock.get("hz")
    if not hz or hz <= 0:
        raise ParseError("kern.clockrate gives no positive stathz or hz", values["kern.clockrate"])
    for state, word in zip(states, words, strict=True):
        times[state] = to_int(word, f"cp_time {state}", raw) / hz
    return times


def parse_bsd(parts: Mapping[str, str]) -> list[Cpu]:
    """FreeBSD, OpenBSD and macOS: one ``sysctl`` with names (a ``sysctl -a`` dump works)."""
    skipped: list[str] = []
    errors: list[ParseError] = []
    values = parse_sysctl(only_part(parts, "sysctl"), skipped)
    # One OID per field: a garbled value costs that field (NULL), not the row.
    load: tuple[float | None, ...] = (None,) * 3
    if "vm.loadavg" in values:
        load = lenient(skipped, lambda: parse_bsd_loadavg(values["vm.loadavg"]), "vm.loadavg",
                       values["vm.loadavg"], errors) or load
    ncpu = None
    # Online CPUs first: OpenBSD's hw.ncpu counts CPUs it did not start (SMT off).
    for oid in ("hw.ncpuonline", "hw.activecpu", "hw.ncpu"):
        if oid in values:
            ncpu = lenient(skipped, lambda oid=oid: to_int(values[oid], oid, values[oid]), oid,
                           values[oid], errors)
            break
    times = lenient(skipped, lambda: _bsd_times(values), "kern.cp_time",
                    values.get("kern.cp_time", ""), errors) or dict.fromkeys(_BSD_TIME_FIELDS)
    if load[0] is None and times["user"] is None and ncpu is None:
        if errors:
            raise errors[0]
        raise ParseError("sysctl printed none of vm.loadavg, kern.cp_time, hw.ncpu",
                         skipped[0] if skipped else None)
    return partial(Cpu, [Cpu(ncpu=ncpu, load_1m=load[0], load_5m=load[1], load_15m=load[2],
                             **{f"{k}_seconds": v for k, v in times.items()})],
                   skipped, understood=len(values))


# NetBSD names its five states, in the order of the others' five:
# "kern.cp_time: user = 1306, nice = 0, sys = 20708, intr = 3886, idle = 2221637"
_NETBSD_CP_TIME = re.compile(r"^kern\.cp_time: user = (\d+), nice = (\d+), sys = (\d+), "
                             r"intr = (\d+), idle = (\d+)[ \t]*$", re.MULTILINE)


def parse_netbsd(parts: Mapping[str, str]) -> Table:
    """NetBSD: the BSD parser, once kern.cp_time's named states are plain tick counts
    (an unexpected spelling is left as it is, for parse_bsd to refuse)."""
    text = _NETBSD_CP_TIME.sub(lambda m: "kern.cp_time: " + " ".join(m.groups()),
                               only_part(parts, "sysctl"))
    return parse_bsd({**parts, "sysctl": text})


# Percentages of CPU time between consecutive polls, from the cpu_rates view.
CPU_USAGE = """
WITH d AS (
  SELECT run_id, host, ts, ncpu, load_1m, load_5m, load_15m,
    user_seconds_per_s AS u, coalesce(nice_seconds_per_s, 0) AS n,
    system_seconds_per_s AS s, idle_seconds_per_s AS i,
    coalesce(iowait_seconds_per_s, 0) AS w,
    coalesce(irq_seconds_per_s, 0) + coalesce(softirq_seconds_per_s, 0) AS q,
    coalesce(steal_seconds_per_s, 0) AS st, coalesce(spin_seconds_per_s, 0) AS sp
  FROM cpu_rates JOIN cpu USING (run_id, host, ts)
), t AS (SELECT *, nullif(u + n + s + i + w + q + st + sp, 0) AS total FROM d)
SELECT run_id, host, ts, ncpu, load_1m, load_5m, load_15m,
  100 * u / total AS user_pct, 100 * n / total AS nice_pct, 100 * s / total AS system_pct,
  100 * w / total AS iowait_pct, 100 * q / total AS irq_pct, 100 * st / total AS steal_pct,
  100 * sp / total AS spin_pct, 100 - 100 * i / total AS busy_pct
FROM t
"""

PROBE = Probe(
    name="cpu",
    record=Cpu,
    description="load averages, CPU time counters and CPU count",
    parts={
        OS.LINUX: (
            Part("loadavg", file="/proc/loadavg"),
            Part("stat", file="/proc/stat"),
        ),
        OS.FREEBSD: (Part("sysctl", "sysctl vm.loadavg kern.cp_time kern.clockrate hw.ncpu"),),
        OS.OPENBSD: (
            Part("sysctl", "sysctl vm.loadavg kern.cp_time kern.clockrate hw.ncpuonline"),
        ),
        OS.MACOS: (Part("sysctl", "sysctl vm.loadavg hw.activecpu"),),
        OS.NETBSD: (
            Part("sysctl", "sysctl vm.loadavg kern.cp_time kern.clockrate hw.ncpuonline"),
        ),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_bsd, OS.OPENBSD: parse_bsd,
             OS.MACOS: parse_bsd, OS.NETBSD: parse_netbsd},
    views={"cpu_usage": CPU_USAGE},
)
