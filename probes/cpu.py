"""CPU: load averages, CPU time counters since boot, and the number of CPUs.

Linux   /proc/loadavg  "0.52 0.58 0.59 1/467 12345"
        /proc/stat     "cpu  4705 356 584 3699 23 23 0 0 0 0"  (USER_HZ ticks)
        nproc / getconf _NPROCESSORS_ONLN
Counters are stored raw, in seconds; the ``cpu_usage`` view turns them into percentages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from probes.base import OS, ParseError, Part, Probe, col, only_part, to_float, to_int


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


# Linux reports /proc/stat in USER_HZ, which is 100 on every architecture the kernel
# exports to userspace (see sysconf(_SC_CLK_TCK)); the fragment prints it anyway.
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
    for line in parts.get("stat", "").splitlines():
        words = line.split()
        if words and words[0] == "cpu":
            for name, value in zip(_LINUX_STAT_FIELDS, words[1:], strict=False):
                times[name] = to_int(value, f"cpu {name}", line) / hz
            break
    else:
        if "stat" in parts:
            raise ParseError("no aggregate 'cpu' line in /proc/stat")
    ncpu = None
    if parts.get("ncpu", "").strip():
        ncpu = to_int(parts["ncpu"].strip(), "CPU count")
    if not times and load[0] is None:
        raise ParseError("neither /proc/loadavg nor /proc/stat was read")
    return [Cpu(
        ncpu=ncpu, load_1m=load[0], load_5m=load[1], load_15m=load[2],
        **{f"{k}_seconds": times.get(k) for k in _LINUX_STAT_FIELDS},
    )]


PROBE = Probe(
    name="cpu",
    record=Cpu,
    description="load averages, CPU time counters and CPU count",
    parts={
        OS.LINUX: (
            Part("loadavg", file="/proc/loadavg"),
            Part("stat", file="/proc/stat"),
            Part("ncpu", "getconf _NPROCESSORS_ONLN"),
            Part("clk_tck", "getconf CLK_TCK"),
        ),
    },
    parsers={OS.LINUX: parse_linux},
)
