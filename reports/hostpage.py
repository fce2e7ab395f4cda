"""Everything one host's page shows: charts over the window and the newest tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from onion.core.natural import natural_key
from onion.core.sqltext import ident
from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports import series
from onion.reports.fleet import FleetRow
from onion.reports.sql import Con, dicts, relations
from onion.reports.svg import Chart, Series

TOP_PROCESSES = 15
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
    return Chart(title, unit, kept, w.t0, w.t1, w.gap_s, failed=failed, **kw)


def _busiest(data: dict[str, list[series.Points]], limit: int) -> tuple[list[str], int]:
    """Items ordered by their summed values, the first ``limit``; and how many were left."""
    ranked = sorted(data, key=lambda k: -sum(v for pts in data[k] for _, v in pts))
    return ranked[:limit], max(0, len(ranked) - limit)


def _active(data: dict[str, list[series.Points]]) -> tuple[dict[str, list[series.Points]],
                                                           list[str]]:
    """The items that moved in the window, and the idle ones (every value 0 or none: the
    8 loop devices, ifb0, zram0 …), which get one line instead of a chart each."""
    idle = sorted((k for k, pts in data.items() if not any(v for p in pts for _, v in p)),
                  key=natural_key)
    return {k: v for k, v in data.items() if k not in idle}, idle


def _idle_note(idle: list[str], what: str) -> str:
    if not idle:
        return ""
    shown = ", ".join(idle[:12]) + (f" and {len(idle) - 12} more" if len(idle) > 12 else "")
    return f"{len(idle)} idle {what} (nothing in the window): {shown}"


# Kernel and memory file systems: always "in use", never full in a way a person acts on.
PSEUDO_FS = {"tmpfs", "devtmpfs", "devfs", "proc", "sysfs", "cgroup", "cgroup2", "efivarfs",
             "securityfs", "debugfs", "tracefs", "pstore", "bpf", "configfs", "fusectl",
             "mqueue", "hugetlbfs", "fdescfs", "procfs", "linprocfs", "linsysfs", "ramfs"}


def _cpu_memory(con: Con, w: series.Window, failed: list[float], rels: set[str]) -> ChartGroup:
    g = ChartGroup("CPU and memory", "cpu")
    if "cpu" in rels:
        tot = "(" + " + ".join(f"coalesce(d_{c}, 0)" for c in CPU_COUNTERS) + ")"
        use = series.rates(con, w, "cpu", CPU_COUNTERS, [
            f"100 * (sum({tot}) - sum(d_idle_seconds)) / nullif(sum({tot}), 0)",
            f"100 * sum(d_iowait_seconds) / nullif(sum({tot}), 0)",
            f"100 * sum(d_system_seconds) / nullif(sum({tot}), 0)",
        ]).get("", [[], [], []])
        g.charts.append(_chart(w, failed, "CPU use", "%", [
            ("busy", use[0]), ("iowait", use[1]), ("system", use[2])], y_max=100))
        load = series.gauges(con, w, "cpu", ["avg(load_1m)", "avg(load_5m)", "max(ncpu)"]
                             ).get("", [[], [], []])
        g.charts.append(_chart(w, failed, "Load average", "", [
            ("1 min", load[0]), ("5 min", load[1]), ("CPUs", load[2])]))
    if "memory" in rels:
        mem = series.gauges(con, w, "memory", [
            "avg(100 * (1 - coalesce(available_bytes, total_bytes - used_bytes)"
            " / nullif(total_bytes, 0)))",
            "avg(100 * swap_used_bytes / nullif(swap_total_bytes, 0))"]).get("", [[], []])
        g.charts.append(_chart(w, failed, "Memory used", "%", [
            ("memory", mem[0]), ("swap", mem[1])], y_max=100))
    return g


def _filesystems(con: Con, w: series.Window, failed: list[float], mounts: list[str]
                 ) -> ChartGroup:
    g = ChartGroup("File systems", "fs")
    data = series.gauges(con, w, "filesystems", [
        "avg(used_pct)", "avg(100 * inodes_used / nullif(inodes_total, 0))"], key=ident("mount"))
    for m in mounts[:MAX_FILESYSTEMS]:
        pts = data.get(m, [[], []])
        g.charts.append(_chart(w, failed, m, "%", [("space", pts[0]), ("inodes", pts[1])],
                               y_max=100))
    if len(mounts) > MAX_FILESYSTEMS:
        g.note = f"{len(mounts) - MAX_FILESYSTEMS} fuller-to-emptier file systems not charted"
    return g


def _network_disks(con: Con, w: series.Window, failed: list[float], rels: set[str]
                   ) -> list[ChartGroup]:
    out = []
    if "network" in rels:
        g = ChartGroup("Network", "net")
        data = series.rates(con, w, "network", ["rx_bytes", "tx_bytes"], [
            "sum(d_rx_bytes) / sum(dt)", "sum(d_tx_bytes) / sum(dt)"], key=ident("interface"))
        data, idle = _active(data)
        names, more = _busiest(data, MAX_ITEMS)
        for n in names:
            g.charts.append(_chart(w, failed, n, "B/s", [("received", data[n][0]),
                                                         ("sent", data[n][1])]))
        g.note = "; ".join(x for x in (f"{more} quieter interfaces not charted" if more else "",
                                       _idle_note(idle, "interfaces")) if x)
        out.append(g)
    if "disk_io" in rels:
        g = ChartGroup("Disk IO", "disk")
        data = series.rates(con, w, "disk_io", ["read_bytes", "written_bytes",
                                                "transferred_bytes"], [
            "sum(d_read_bytes) / sum(dt)", "sum(d_written_bytes) / sum(dt)",
            "sum(d_transferred_bytes) / sum(dt)"], key=ident("device"))
        data, idle = _active(data)
        names, more = _busiest(data, MAX_ITEMS)
        for n in names:
            g.charts.append(_chart(w, failed, n, "B/s", [
                ("read", data[n][0]), ("written", data[n][1]), ("read+written", data[n][2])]))
        g.note = "; ".join(x for x in (f"{more} quieter devices not charted" if more else "",
                                       _idle_note(idle, "devices")) if x)
        out.append(g)
    return out


def _sensors_gpus(con: Con, w: series.Window, failed: list[float], rels: set[str]
                  ) -> list[ChartGroup]:
    out = []
    if "temperatures" in rels:
        data = series.gauges(con, w, "temperatures", ["avg(celsius)"],
                             key="chip || ' / ' || sensor")
        if data:
            ranked = sorted(data, key=lambda k: -max((v for _, v in data[k][0]), default=0))
            g = ChartGroup("Temperatures", "temp")
            g.charts.append(_chart(w, failed, "Hottest sensors", "°C",
                                   [(k, data[k][0]) for k in ranked[:10]], y_min=None))
            g.note = f"{len(ranked) - 10} cooler sensors not charted" if len(ranked) > 10 else ""
            out.append(g)
    if "gpu" in rels:
        data = series.gauges(con, w, "gpu", [
            "avg(utilization_pct)", "avg(100 * memory_used_bytes / nullif(memory_total_bytes, 0))",
            "avg(temperature_celsius)", "avg(memory_temperature_celsius)",
            "avg(power_draw_watts)", "max(power_limit_watts)"],
            key="CAST(\"index\" AS VARCHAR) || ': ' || coalesce(name, uuid)")
        if data:
            g = ChartGroup("GPUs", "gpu")
            for name in sorted(data):
                p = data[name]
                g.charts.append(_chart(w, failed, f"GPU {name} use", "%", [
                    ("compute", p[0]), ("memory used", p[1])], y_max=100))
                g.charts.append(_chart(w, failed, f"GPU {name} temperature", "°C", [
                    ("core", p[2]), ("memory", p[3])], y_min=None))
                g.charts.append(_chart(w, failed, f"GPU {name} power", "W", [
                    ("draw", p[4]), ("limit", p[5])]))
            out.append(g)
    return out


class _Newest:
    """A host's rows from its newest run that wrote each table (as ``latest_*`` says).

    One grouped scan of ``probe_results`` finds every table's newest run for the host;
    rows are then read by ``run_id``, which grows with time, so DuckDB skips every row
    group but the last few instead of scanning a table's whole history for one host.
    """

    def __init__(self, con: Con, rels: set[str], host: str) -> None:
        self.con, self.rels, self.p = con, rels, {"host": host}
        self.runs: dict[str, int | None] = {}
        self.any_run: int | None = None
        if "probe_results" in rels:
            src = self.src("probe_results")
            rows = con.execute(f"SELECT probe, max(run_id) FILTER (WHERE records > 0), "
                               f"max(run_id) FROM {src} WHERE host = $host GROUP BY probe",
                               self.p).fetchall()
            self.runs = {probe: int(r) for probe, r, _ in rows if r is not None}
            self.any_run = max((int(r) for _, _, r in rows), default=None)

    def src(self, table: str) -> str:
        return f"hot.{ident(table)}" if f"hot.{table}" in self.rels else ident(table)

    def rows(self, table: str, order: str, run: int | None = None,
             columns: str = "*") -> list[dict[str, Any]]:
        if table not in self.rels:
            return []
        if run is None and table not in self.runs:  # no probe_results for it: ask the table
            found = self.con.execute(f"SELECT max(run_id) FROM {self.src(table)} "
                                     "WHERE host = $host", self.p).fetchone()
            self.runs[table] = found[0] if found else None
        run = run if run is not None else self.runs.get(table)
        if run is None:
            return []
        return dicts(self.con, f"SELECT {columns} FROM {self.src(table)} "
                               f"WHERE host = $host AND run_id = {int(run)} ORDER BY {order}",
                     self.p)


def load(con: Con, row: FleetRow, start: dt.datetime, end: dt.datetime,
         rels: set[str] | None = None) -> HostPage:
    rels = relations(con) if rels is None else rels
    host = row.name
    w = series.window(con, host, start, end)
    failed = series.failed_polls(con, w)
    newest = _Newest(con, rels, host)
    fs_rows = newest.rows("filesystems", "used_pct DESC NULLS LAST, mount",
                          columns="mount, used_pct, fstype")
    mounts = [r["mount"] for r in fs_rows if (r.get("fstype") or "") not in PSEUDO_FS]
    pseudo = sorted((r["mount"] for r in fs_rows if (r.get("fstype") or "") in PSEUDO_FS),
                    key=natural_key)
    groups = [_cpu_memory(con, w, failed, rels)]
    if mounts or pseudo:
        fs = _filesystems(con, w, failed, mounts)
        if pseudo:
            more = f" and {len(pseudo) - 12} more" if len(pseudo) > 12 else ""
            fs.note = "; ".join(x for x in (fs.note, f"{len(pseudo)} kernel and memory file "
                                            f"systems not charted: {', '.join(pseudo[:12])}"
                                            f"{more}") if x)
        groups.append(fs)
    groups += _network_disks(con, w, failed, rels) + _sensors_gpus(con, w, failed, rels)
    timing = series.gauges(con, w, "polls", ["avg(connect_s)", "avg(command_s)"]
                           ).get("", [[], []])
    groups.append(ChartGroup("Polls", "polls", [_chart(
        w, failed, "Poll timings", "s", [("connect", timing[0]), ("command", timing[1])])]))
    procs = newest.rows("processes", "pid")
    gpus = newest.rows("gpu", '"index", uuid')
    return HostPage(
        row=row, window=w, groups=[g for g in groups if g.charts],
        top_cpu=sorted(procs, key=lambda r: -(r.get("cpu_pct") or 0))[:TOP_PROCESSES],
        top_mem=sorted(procs, key=lambda r: -(r.get("rss_bytes") or 0))[:TOP_PROCESSES],
        process_count=len(procs),
        modules=newest.rows("modules", "name"),
        files=newest.rows("files", "path"),
        probes=newest.rows("probe_results", "status = 'ok', probe", newest.any_run,
                           "probe, status, reason, records, ts"),
        polls=dicts(con, "SELECT ts, status, reason, connect_s, command_s, bytes_read FROM polls "
                         "WHERE host = $host AND ts >= $start ORDER BY ts DESC LIMIT 20",
                    {"host": host, "start": start}),
        changes=changes_mod.load(con, start, host=host, rels=rels),
        alerts=alerts_mod.load(con, start, host=host, rels=rels),
        gpus=gpus, gpu_users=_gpu_users(con, newest, rels, gpus),
    )


def _gpu_users(con: Con, newest: _Newest, rels: set[str], gpus: list[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Who holds which GPU at the newest poll that asked (none there: nobody, not the
    last users ever seen)."""
    if "gpu_usage_by_user" not in rels or "probe_results" not in rels:
        return []
    found = con.execute(f"SELECT max(run_id) FROM {newest.src('probe_results')} WHERE host = "
                        "$host AND probe = 'gpu_processes' AND status IN ('ok', 'partial')",
                        newest.p).fetchone()
    if not found or found[0] is None:
        return []
    names = {g["uuid"]: g.get("name") for g in gpus}
    rows = newest.rows("gpu_usage_by_user", "uuid, memory_bytes DESC NULLS LAST, \"user\"",
                       run=int(found[0]))
    for r in rows:
        r["gpu_name"] = r.get("gpu_name") or names.get(r["uuid"])
    return rows
