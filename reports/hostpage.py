"""Everything one host's page shows: charts over the window and the newest tables.

Titles, legends and notes are in the language in use (:mod:`onion.core.i18n`); the
anchors (``cpu``, ``fs`` …) are the same in every language.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from onion.core.i18n import _, ngettext
from onion.core.natural import natural_key
from onion.core.sqltext import ident
from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports import series
from onion.reports.fleet import FleetRow
from onion.reports.fleetdata import FleetData
from onion.reports.sql import Con, relations
from onion.reports.svg import Chart, Series

TOP_PROCESSES = 10      # by CPU and by memory: who is busy, who is big
MAX_ITEMS = 12          # interfaces, disks, sensors: the busiest ones get a chart
MAX_FILESYSTEMS = 24
CPU_COUNTERS = ("user_seconds", "nice_seconds", "system_seconds", "idle_seconds",
                "iowait_seconds", "irq_seconds", "softirq_seconds", "steal_seconds",
                "spin_seconds")


@dataclass(slots=True)
class ChartGroup:
    title: str
    anchor: str
    charts: list[Chart] = field(default_factory=list)
    note: str = ""


@dataclass(slots=True)
class HostPage:
    row: FleetRow
    window: series.Window
    groups: list[ChartGroup]
    top_cpu: list[dict[str, Any]]
    top_mem: list[dict[str, Any]]
    process_count: int
    modules: list[dict[str, Any]]
    files: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    polls: list[dict[str, Any]]
    changes: dict[str, changes_mod.Section]
    alerts: alerts_mod.AlertData
    gpus: list[dict[str, Any]] = field(default_factory=list)
    gpu_users: list[dict[str, Any]] = field(default_factory=list)   # who holds which GPU


def _chart(w: series.Window, failed: Sequence[float], title: str, unit: str,
           named: Sequence[tuple[str, series.Points]], **kw: Any) -> Chart:
    kept = [Series(label, pts) for label, pts in named if pts]
    return Chart(title, unit, kept, w.t0, w.t1, w.gap_s, failed=failed,
                 last_poll=w.last_poll, **kw)


def _busiest(data: dict[str, list[series.Points]], limit: int) -> tuple[list[str], int]:
    """Items ordered by their summed values, the first ``limit``; and how many were left."""
    ranked = sorted(data, key=lambda k: -sum(v for pts in data[k] for _, v in pts))
    return ranked[:limit], max(0, len(ranked) - limit)


def shown_always(name: str, always: Sequence[str]) -> bool:
    """Whether ``[report] always_show`` names this item (an exact name or a glob)."""
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in always)


def _active(data: dict[str, list[series.Points]], always: Sequence[str] = ()
            ) -> tuple[dict[str, list[series.Points]], list[str]]:
    """The items that moved in the window, and the idle ones (every value 0 or none: the
    8 loop devices, ifb0, zram0 …), which get one line instead of a chart each, unless
    ``[report] always_show`` names them."""
    idle = sorted((k for k, pts in data.items() if not any(v for p in pts for _, v in p)
                   and not shown_always(k, always)), key=natural_key)
    return {k: v for k, v in data.items() if k not in idle}, idle


def _listed(names: list[str], limit: int = 12) -> str:
    """``a, b, c and 3 more``."""
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return _("{names} and {n} more").format(names=shown, n=more) if more > 0 else shown


def _idle_note(idle: list[str], message: Callable[[int], str]) -> str:
    """``message(n)``: the text for ``n`` idle items, with ``{n}`` and ``{names}``, as
    "{n} idle interfaces (nothing in the window): {names}"."""
    if not idle:
        return ""
    return message(len(idle)).format(n=len(idle), names=_listed(idle))


# Kernel and memory file systems: always "in use", never full in a way a person acts on.
PSEUDO_FS = {"tmpfs", "devtmpfs", "devfs", "proc", "sysfs", "cgroup", "cgroup2", "efivarfs",
             "securityfs", "debugfs", "tracefs", "pstore", "bpf", "configfs", "fusectl",
             "mqueue", "hugetlbfs", "fdescfs", "procfs", "linprocfs", "linsysfs", "ramfs"}
CPU_BUSY = "(" + " + ".join(f"coalesce(d_{c}, 0)" for c in CPU_COUNTERS) + ")"
CPU_OUTPUTS = (f"100 * (sum({CPU_BUSY}) - sum(d_idle_seconds)) / nullif(sum({CPU_BUSY}), 0)",
               f"100 * sum(d_iowait_seconds) / nullif(sum({CPU_BUSY}), 0)",
               f"100 * sum(d_system_seconds) / nullif(sum({CPU_BUSY}), 0)")
MEM_PCT = ("avg(100 * (1 - coalesce(available_bytes, total_bytes - used_bytes)"
           " / nullif(total_bytes, 0)))")


class _Src:
    """One host's view of the fleet's batched series."""

    def __init__(self, fd: FleetData, host: str) -> None:
        self.b, self.host = fd.series, host

    def gauges(self, table: str, exprs: Sequence[str], key: str | None = None,
               where: str = "") -> dict[str, list[series.Points]]:
        return self.b.gauges(table, exprs, key, where).get(self.host, {})

    def rates(self, table: str, counters: Sequence[str], outputs: Sequence[str],
              key: str | None = None) -> dict[str, list[series.Points]]:
        return self.b.rates(table, counters, outputs, key).get(self.host, {})


def _cpu_memory(src: _Src, w: series.Window, failed: list[float], rels: set[str]
                ) -> ChartGroup:
    g = ChartGroup(_("CPU and memory"), "cpu")
    if "cpu" in rels:
        use = src.rates("cpu", CPU_COUNTERS, CPU_OUTPUTS).get("", [[], [], []])
        g.charts.append(_chart(w, failed, _("CPU use"), "%", [
            (_("busy"), use[0]), (_("iowait"), use[1]), (_("system"), use[2])], y_max=100))
        load = src.gauges("cpu", ["avg(load_1m)", "avg(load_5m)", "max(ncpu)"]
                          ).get("", [[], [], []])
        g.charts.append(_chart(w, failed, _("Load average"), "", [
            (_("1 min"), load[0]), (_("5 min"), load[1]), (_("CPUs"), load[2])]))
    if "memory" in rels:
        mem = src.gauges("memory", [
            MEM_PCT, "avg(100 * swap_used_bytes / nullif(swap_total_bytes, 0))"]
        ).get("", [[], []])
        g.charts.append(_chart(w, failed, _("Memory used"), "%", [
            (_("memory"), mem[0]), (_("swap"), mem[1])], y_max=100))
    return g


def _filesystems(src: _Src, w: series.Window, failed: list[float], mounts: list[str]
                 ) -> ChartGroup:
    g = ChartGroup(_("File systems"), "fs")
    data = src.gauges("filesystems", [
        "avg(used_pct)", "avg(100 * inodes_used / nullif(inodes_total, 0))"], key=ident("mount"))
    for m in mounts[:MAX_FILESYSTEMS]:
        pts = data.get(m, [[], []])
        g.charts.append(_chart(w, failed, m, "%", [(_("space"), pts[0]),
                                                   (_("inodes"), pts[1])], y_max=100))
    if len(mounts) > MAX_FILESYSTEMS:
        more = len(mounts) - MAX_FILESYSTEMS
        g.note = ngettext("{n} emptier file system not charted",
                          "{n} emptier file systems not charted", more).format(n=more)
    return g


def _rate_group(g: ChartGroup, data: dict[str, Any], w: series.Window, failed: list[float],
                always: Sequence[str], labels: Sequence[str], quieter: Callable[[int], str],
                idle_said: Callable[[int], str]) -> ChartGroup:
    """Charts of the busiest items' rates (one line per label), the rest told in a note:
    how many quieter ones are not charted, which idle ones are folded."""
    data, idle = _active(data, always)
    names, more = _busiest(data, MAX_ITEMS)
    names += [n for n in data if n not in names and shown_always(n, always)]
    for n in names:
        g.charts.append(_chart(w, failed, n, "B/s", list(zip(labels, data[n], strict=False))))
    g.note = "; ".join(x for x in (quieter(more).format(n=more) if more else "",
                                   _idle_note(idle, idle_said)) if x)
    return g


def _network_disks(src: _Src, w: series.Window, failed: list[float], rels: set[str],
                   always: Sequence[str]) -> list[ChartGroup]:
    out = []
    if "network" in rels:
        data = src.rates("network", ["rx_bytes", "tx_bytes"], [
            "sum(d_rx_bytes) / sum(dt)", "sum(d_tx_bytes) / sum(dt)"], key=ident("interface"))
        out.append(_rate_group(
            ChartGroup(_("Network"), "net"), data, w, failed, always,
            (_("received"), _("sent")),
            lambda n: ngettext("{n} quieter interface not charted",
                               "{n} quieter interfaces not charted", n),
            lambda n: ngettext("{n} idle interface (nothing in the window): {names}",
                               "{n} idle interfaces (nothing in the window): {names}", n)))
    if "disk_io" in rels:
        data = src.rates("disk_io", ["read_bytes", "written_bytes", "transferred_bytes"], [
            "sum(d_read_bytes) / sum(dt)", "sum(d_written_bytes) / sum(dt)",
            "sum(d_transferred_bytes) / sum(dt)"], key=ident("device"))
        out.append(_rate_group(
            ChartGroup(_("Disk IO"), "disk"), data, w, failed, always,
            (_("read"), _("written"), _("read+written")),
            lambda n: ngettext("{n} quieter device not charted",
                               "{n} quieter devices not charted", n),
            lambda n: ngettext("{n} idle device (nothing in the window): {names}",
                               "{n} idle devices (nothing in the window): {names}", n)))
    return out


GPU_EXPRS = ("avg(utilization_pct)", "avg(100 * memory_used_bytes / nullif(memory_total_bytes, 0))",
             "avg(temperature_celsius)", "avg(memory_temperature_celsius)",
             "avg(power_draw_watts)", "max(power_limit_watts)")
GPU_KEY = "CAST(\"index\" AS VARCHAR) || ': ' || coalesce(name, uuid)"


def _sensors_gpus(src: _Src, w: series.Window, failed: list[float], rels: set[str]
                  ) -> list[ChartGroup]:
    out = []
    if "temperatures" in rels:
        data = src.gauges("temperatures", ["avg(celsius)"], key="chip || ' / ' || sensor")
        if data:
            ranked = sorted(data, key=lambda k: -max((v for _, v in data[k][0]), default=0))
            g = ChartGroup(_("Temperatures"), "temp")
            g.charts.append(_chart(w, failed, _("Hottest sensors"), "°C",
                                   [(k, data[k][0]) for k in ranked[:10]], y_min=None))
            cooler = len(ranked) - 10
            g.note = ngettext("{n} cooler sensor not charted", "{n} cooler sensors not charted",
                              cooler).format(n=cooler) if cooler > 0 else ""
            out.append(g)
    if "gpu" in rels:
        data = src.gauges("gpu", GPU_EXPRS, key=GPU_KEY)
        if data:
            # One chart per measure with a line per GPU (as nvtop shows them): an 8-GPU
            # node is 4 charts to compare at a glance, not 24 to scroll through.
            keys = sorted(data, key=natural_key)
            names = {k.partition(": ")[2] for k in keys}
            label = {k: _("GPU {index}").format(index=k.partition(": ")[0])
                     if len(names) == 1 else k for k in keys}
            g = ChartGroup(_("GPUs"), "gpu", note=ngettext(
                "{n} GPU, {name}", "{n} GPUs, all {name}", len(keys)).format(
                    n=len(keys), name=names.pop()) if len(names) == 1 else "")
            for title, unit, i, kw in ((_("GPU use"), "%", 0, {"y_max": 100}),
                                       (_("GPU memory used"), "%", 1, {"y_max": 100}),
                                       (_("GPU temperature"), "°C", 2, {"y_min": None}),
                                       (_("GPU memory temperature"), "°C", 3, {"y_min": None}),
                                       (_("GPU power draw"), "W", 4, {})):
                lines = [(label[k], data[k][i]) for k in keys if data[k][i]]
                if lines:
                    g.charts.append(_chart(w, failed, title, unit, lines, **kw))
            out.append(g)
    return out


def load(con: Con, row: FleetRow, start: dt.datetime, end: dt.datetime,
         rels: set[str] | None = None, always_show: Sequence[str] = ()) -> HostPage:
    """One host's page data (its own queries; a report of many hosts uses :func:`build`
    with the fleet's :class:`FleetData`, read once for all)."""
    rels = relations(con) if rels is None else rels
    return build(FleetData(con, rels, start, end, [row.name]), row, always_show)


def build(fd: FleetData, row: FleetRow, always_show: Sequence[str] = ()) -> HostPage:
    host, rels = row.name, fd.rels
    w = fd.windows[host]
    failed = fd.series.failed().get(host, [])
    src = _Src(fd, host)
    fs_rows = fd.newest("filesystems", "used_pct DESC NULLS LAST, mount",
                        "mount, used_pct, fstype").get(host, [])

    def pseudo(r: dict[str, Any]) -> bool:
        return (r.get("fstype") or "") in PSEUDO_FS and not shown_always(r["mount"], always_show)

    mounts = [r["mount"] for r in fs_rows if not pseudo(r)]
    folded = sorted((r["mount"] for r in fs_rows if pseudo(r)), key=natural_key)
    groups = [_cpu_memory(src, w, failed, rels)]
    if mounts or folded:
        fs = _filesystems(src, w, failed, mounts)
        if folded:
            fs.note = "; ".join(x for x in (fs.note, ngettext(
                "{n} kernel or memory file system not charted: {names}",
                "{n} kernel and memory file systems not charted: {names}", len(folded)).format(
                    n=len(folded), names=_listed(folded))) if x)
        groups.append(fs)
    groups += _network_disks(src, w, failed, rels, always_show) + _sensors_gpus(
        src, w, failed, rels)
    if "polls" in rels:
        timing = src.gauges("polls", ["avg(connect_s)", "avg(command_s)"]).get("", [[], []])
        groups.append(ChartGroup(_("Polls"), "polls", [_chart(
            w, failed, _("Poll timings"), "s", [(_("connect"), timing[0]),
                                                (_("command"), timing[1])])]))
    procs = fd.newest("processes", "pid").get(host, [])
    gpus = fd.newest("gpu", '"index", uuid').get(host, [])
    names = {g["uuid"]: g.get("name") for g in gpus}
    users = fd.gpu_users().get(host, [])
    for u in users:
        u["gpu_name"] = u.get("gpu_name") or names.get(u["uuid"])
    return HostPage(
        row=row, window=w, groups=[g for g in groups if g.charts],
        top_cpu=sorted(procs, key=lambda r: -(r.get("cpu_pct") or 0))[:TOP_PROCESSES],
        top_mem=sorted(procs, key=lambda r: -(r.get("rss_bytes") or 0))[:TOP_PROCESSES],
        process_count=len(procs),
        modules=fd.newest("modules", "name").get(host, []),
        files=fd.newest("files", "path").get(host, []),
        probes=fd.probes().get(host, []),
        polls=fd.polls(host),
        changes=fd.changes(host),
        alerts=fd.alerts(host),
        gpus=gpus, gpu_users=users,
    )
