"""Pictures of the whole fleet: heatmaps (host × time) of CPU and GPU use, one sparkline
of CPU, memory and GPU use per host, and every GPU of the fleet on one page.

All on one time axis (:class:`series.Grid`), a query per table for every host.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from onion.core.i18n import _
from onion.core.natural import natural_key
from onion.reports import series, svg
from onion.reports.fleet import FleetRow
from onion.reports.fleetdata import FleetData
from onion.reports.hostpage import CPU_COUNTERS, MEM_PCT
from onion.reports.names import host_filename
from onion.reports.sql import Con

HOST_DIR = "hosts"


@dataclass(slots=True)
class Pictures:
    grid: series.Grid
    cpu_heat: Markup | None = None
    gpu_heat: Markup | None = None
    gpu_hosts: int = 0
    sparks: dict[str, dict[str, Markup]] = field(default_factory=dict)  # host -> kind -> svg

    @property
    def key(self) -> Markup:
        return svg.heat_scale()


def _interval(ws: Mapping[str, series.Window]) -> float:
    found = sorted(w.interval for w in ws.values() if w.interval)
    return found[len(found) // 2] if found else 0.0


def load(con: Con, rels: set[str], rows: Sequence[FleetRow],
         ws: Mapping[str, series.Window], start: dt.datetime, end: dt.datetime) -> Pictures:
    g = series.grid(start, end, _interval(ws))
    pics = Pictures(g)
    if not rows:
        return pics
    names = [r.name for r in rows]
    chosen: list[str] | None = names
    ordered = sorted(rows, key=lambda r: natural_key(r.name))
    down = series.grid_down(con, g, chosen) if "polls" in rels else {}
    cpu = series.grid_cpu(con, g, CPU_COUNTERS, chosen) if "cpu" in rels else {}
    mem = series.grid_gauge(con, g, "memory", MEM_PCT, chosen) if "memory" in rels else {}
    gpu = series.grid_gauge(con, g, "gpu", "avg(utilization_pct)", chosen) \
        if "gpu" in rels else {}

    def heat(title: str, data: dict[str, dict[int, float]], only: bool) -> Markup:
        hrows = [svg.HeatRow(r.name, f"{HOST_DIR}/{host_filename(r.name)}",
                             data.get(r.name, {}), down.get(r.name, {}))
                 for r in ordered if not only or r.name in data]
        return svg.heatmap(title, hrows, g.t0, g.t1, g.cols)

    if cpu or "cpu" in rels:
        pics.cpu_heat = heat(_("CPU use per host over the window"), cpu, False)
    if gpu:
        pics.gpu_heat = heat(_("GPU use per host over the window"), gpu, True)
        pics.gpu_hosts = len(gpu)
    labels = {"cpu": _("CPU busy"), "mem": _("memory used"), "gpu": _("GPU busy")}
    for r in rows:
        mine: dict[str, Markup] = {}
        if r.name in cpu:
            mine["cpu"] = svg.spark(cpu[r.name], g.cols, labels["cpu"])
        if r.name in mem:
            mine["mem"] = svg.spark(mem[r.name], g.cols, labels["mem"])
        if r.name in gpu:
            mine["gpu"] = svg.spark(gpu[r.name], g.cols, labels["gpu"])
        pics.sparks[r.name] = mine
    return pics


@dataclass(slots=True)
class Gpu:
    host: str
    page: str
    row: dict[str, Any]
    users: list[dict[str, Any]]
    stale: bool                      # from before the host's newest poll


@dataclass(slots=True)
class GpuPage:
    gpus: list[Gpu]
    hosts: int
    users_known: bool                # the gpu_usage_by_user view exists


def gpus(data: FleetData, rows: Sequence[FleetRow]) -> GpuPage:
    """Every GPU of the fleet at its host's newest poll that listed it, with who uses it."""
    by_host = data.newest("gpu", '"index", uuid')
    users = data.gpu_users()
    out = []
    for r in sorted(rows, key=lambda r: natural_key(r.name)):
        for g in by_host.get(r.name, []):
            mine = [u for u in users.get(r.name, []) if u.get("uuid") == g.get("uuid")]
            stale = bool(g.get("ts") and r.last_seen and g["ts"] < r.last_seen)
            out.append(Gpu(r.name, r.page, g, mine, stale))
    return GpuPage(out, len({x.host for x in out}), "gpu_usage_by_user" in data.rels)
