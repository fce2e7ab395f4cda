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
BSD ticks count statclock interrupts: seconds = ticks / stathz. BSD "intr" time is
``irq_seconds``; OpenBSD's "spin" (spinning on a kernel lock) is ``spin_seconds``.
Counters are stored raw, in seconds; the ``cpu_usage`` view turns them into percentages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes._sysctl import parse_assignments, parse_sysctl
from onion.probes._sysctl import parse_loadavg as parse_bsd_loadavg
from onion.probes.base import OS, ParseError, Part, Probe, col, only_part, to_float, to_int


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


def parse_linux(parts: Mapping[str, str]) -> list[Cpu]:
    load = parse_loadavg(only_part(parts, "loadavg")) if "loadavg" in parts else (None,) * 3
    times: dict[str, float] = {}
    hz = 100
    if "clk_tck" in parts and parts["clk_tck"].strip():
        hz = to_int(parts["clk_tck"].strip(), "CLK_TCK")
        if hz <= 0:
            raise ParseError("CLK_TCK must be positive", parts["clk_tck"])
    online = 0
    for line in parts.get("stat", "").splitlines():
        words = line.split()
        if not words or not words[0].startswith("cpu"):
            continue
        if words[0] == "cpu":
            for name, value in zip(_LINUX_STAT_FIELDS, words[1:], strict=False):
                times[name] = to_int(value, f"cpu {name}", line) / hz
        elif words[0][3:].isdecimal():
            online += 1
    if "stat" in parts and not times:
        raise ParseError("no aggregate 'cpu' line in /proc/stat")
    ncpu = online or None
    if parts.get("ncpu", "").strip():
        ncpu = to_int(parts["ncpu"].strip(), "CPU count")
    if not times and load[0] is None:
        raise ParseError("neither /proc/loadavg nor /proc/stat was read")
    return [Cpu(
        ncpu=ncpu, load_1m=load[0], load_5m=load[1], load_15m=load[2],
        **{f"{k}_seconds": times.get(k) for k in _LINUX_STAT_FIELDS}, spin_seconds=None,
    )]


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
    values = parse_sysctl(only_part(parts, "sysctl"))
    load: tuple[float | None, ...] = (None,) * 3
    if "vm.loadavg" in values:
        load = parse_bsd_loadavg(values["vm.loadavg"])
    ncpu = None
    # Online CPUs first: OpenBSD's hw.ncpu counts CPUs it did not start (SMT off).
    for oid in ("hw.ncpuonline", "hw.activecpu", "hw.ncpu"):
        if oid in values:
            ncpu = to_int(values[oid], oid, values[oid])
            break
    times = _bsd_times(values)
    if load[0] is None and times["user"] is None and ncpu is None:
        raise ParseError("sysctl printed none of vm.loadavg, kern.cp_time, hw.ncpu")
    return [Cpu(ncpu=ncpu, load_1m=load[0], load_5m=load[1], load_15m=load[2],
                **{f"{k}_seconds": v for k, v in times.items()})]


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
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_bsd, OS.OPENBSD: parse_bsd,
             OS.MACOS: parse_bsd},
    views={"cpu_usage": CPU_USAGE},
)
