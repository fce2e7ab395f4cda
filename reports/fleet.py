"""The fleet overview's rows: each host's newest state, aggregated in SQL.

"Newest" is the host's last run that wrote that table (as the ``latest_*`` views say),
found by a grouped ``max(run_id)`` on the recent (hot) rows, which stays cheap however
long the history is. A row also says since when the host has had its current status,
and what is wrong with it; rows with problems sort first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from onion.core.i18n import _, decimal, formats, ngettext
from onion.core.natural import natural_key
from onion.core.sqltext import ident
from onion.reports import alerts as alerts_mod
from onion.reports.names import host_filename
from onion.reports.sql import Con, dicts, relations

# Display thresholds for "problems first" (alert rules are separate: see the alerts page).
FS_FULL_PCT = 90.0
MEM_FULL_PCT = 95.0
LOAD_PER_CPU = 2.0
HOT_CELSIUS = 90.0
PROBE_FAILURES = ("parse_error", "failed", "timeout", "lost")


def latest(rels: set[str], table: str) -> str:
    """A FROM clause: each host's rows from its newest run that wrote ``table``."""
    src = f"hot.{ident(table)}" if f"hot.{table}" in rels else ident(table)
    return (f"(SELECT t.* FROM {src} t JOIN (SELECT host, max(run_id) AS run_id FROM {src}"
            f" GROUP BY host) m USING (host, run_id))")


def _facts(con: Con, rels: set[str]) -> dict[str, dict[str, Any]]:
    queries = {
        # Each with its poll's time (<table>_ts): a value from before the host's last
        # poll (it failed, or this probe did) is shown as of then, never as current.
        "cpu": "SELECT host, ncpu, load_1m, load_5m, load_15m, ts AS cpu_ts FROM {src}",
        "memory": "SELECT host, total_bytes, 100 * (1 - coalesce(available_bytes, "
                  "total_bytes - used_bytes) / nullif(total_bytes, 0)) AS mem_pct, "
                  "100 * swap_used_bytes / nullif(swap_total_bytes, 0) AS swap_pct, "
                  "ts AS memory_ts FROM {src}",
        "filesystems": "SELECT host, arg_max(mount, used_pct) AS fs_mount, max(used_pct) AS "
                       "fs_pct, max(100 * inodes_used / nullif(inodes_total, 0)) AS inode_pct, "
                       "max(ts) AS filesystems_ts FROM {src} GROUP BY host",
        "gpu": "SELECT host, count(*) AS gpus, avg(utilization_pct) AS gpu_util, "
               "max(temperature_celsius) AS gpu_temp, "
               "100 * sum(memory_used_bytes) / nullif(sum(memory_total_bytes), 0) AS gpu_mem, "
               "max(ts) AS gpu_ts FROM {src} GROUP BY host",
        "temperatures": "SELECT host, arg_max(chip || ' / ' || sensor, celsius) AS hot_label, "
                        "max(celsius) AS hot_c, arg_max(crit_celsius, celsius) AS hot_crit, "
                        "max(ts) AS temperatures_ts FROM {src} GROUP BY host",
        "system": "SELECT host, distro_name, distro_version, kernel_release, machine, "
                  "boot_time, uptime_seconds FROM {src}",
    }
    facts: dict[str, dict[str, Any]] = {}
    for table, query in queries.items():
        if table in rels:
            for row in dicts(con, query.format(src=latest(rels, table))):
                facts.setdefault(row.pop("host"), {}).update(row)
    if {"gpu_usage_by_user", "probe_results"} <= rels:
        # Who holds GPUs, most memory first, at each host's newest poll that asked (a
        # poll that found nobody shows nobody, not the users before it).
        pr = "hot.probe_results" if "hot.probe_results" in rels else "probe_results"
        for row in dicts(con, f"""
                WITH r AS (SELECT host, max(run_id) AS run_id FROM {pr}
                           WHERE probe = 'gpu_processes' AND status IN ('ok', 'partial')
                           GROUP BY host),
                u AS (SELECT host, coalesce("user", uid::VARCHAR, '?') AS who,
                             sum(memory_bytes) AS mem
                      FROM gpu_usage_by_user JOIN r USING (host, run_id) GROUP BY ALL)
                SELECT host, list(who ORDER BY mem DESC NULLS LAST, who) AS gpu_users
                FROM u GROUP BY host"""):
            facts.setdefault(row.pop("host"), {}).update(row)
    return facts


@dataclass(slots=True)
class FleetRow:
    name: str
    page: str
    status: str
    reason: str | None
    last_seen: dt.datetime | None
    last_ok: dt.datetime | None
    os: str | None
    groups: list[str]
    since: dt.datetime | None = None           # first poll with the current status
    since_window: bool = False                  # the status held the whole window
    polls: int = 0
    failed: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    probe_issues: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rank: int = 3

    @property
    def up(self) -> bool:
        return self.status == "ok"

    @property
    def load_ratio(self) -> float | None:
        f = self.facts
        if f.get("load_1m") is None or not f.get("ncpu"):
            return None
        return float(f["load_1m"]) / float(f["ncpu"])

    @property
    def availability(self) -> float | None:
        return 100.0 * (self.polls - self.failed) / self.polls if self.polls else None


def _judge(row: FleetRow) -> None:
    f = row.facts
    problems = []
    if not row.up:
        problems.append(f"{row.status}: {row.reason}" if row.reason else row.status)
    if row.alerts:
        problems.append(ngettext("{n} alert firing", "{n} alerts firing",
                                 len(row.alerts)).format(n=len(row.alerts)))
    if (f.get("fs_pct") or 0) >= FS_FULL_PCT:
        problems.append(_("{mount} {pct} full").format(mount=f["fs_mount"],
                                                       pct=formats().percent(f["fs_pct"])))
    if (f.get("inode_pct") or 0) >= FS_FULL_PCT:
        problems.append(_("inodes {pct} used").format(pct=formats().percent(f["inode_pct"])))
    if (f.get("mem_pct") or 0) >= MEM_FULL_PCT:
        problems.append(_("memory {pct} used").format(pct=formats().percent(f["mem_pct"])))
    if (row.load_ratio or 0) > LOAD_PER_CPU:
        problems.append(_("load {load} on {n} CPUs").format(load=decimal(f"{f['load_1m']:.1f}"),
                                                            n=f["ncpu"]))
    crit = f.get("hot_crit") or HOT_CELSIUS
    if f.get("hot_c") is not None and f["hot_c"] >= crit:
        problems.append(_("{sensor} at {celsius} °C").format(sensor=f["hot_label"],
                                                             celsius=f"{f['hot_c']:.0f}"))
    if (f.get("gpu_temp") or 0) >= HOT_CELSIUS:
        problems.append(_("GPU at {celsius} °C").format(celsius=f"{f['gpu_temp']:.0f}"))
    for p in row.probe_issues:
        if p["status"] in PROBE_FAILURES:
            problems.append(_("probe {probe}: {status}").format(probe=p["probe"],
                                                                status=p["status"]))
    row.problems = problems
    row.rank = 0 if not row.up else 1 if row.alerts else 2 if problems else 3


def load(con: Con, start: dt.datetime, hosts: set[str] | None = None,
         rels: set[str] | None = None) -> list[FleetRow]:
    """Every host (or those in ``hosts``), problems first, then by name."""
    rels = relations(con) if rels is None else rels
    if "hosts" not in rels:
        return []
    facts = _facts(con, rels)
    issues: dict[str, list[dict[str, Any]]] = {}
    if "probe_results" in rels:
        for r in dicts(con, "SELECT host, probe, status, reason FROM "
                            f"{latest(rels, 'probe_results')} WHERE status <> 'ok' "
                            "ORDER BY host, probe"):
            issues.setdefault(r.pop("host"), []).append(r)
    status_runs = {r["host"]: r for r in dicts(con, """
        WITH p AS (SELECT host, ts, status FROM polls WHERE ts >= $start),
        d AS (SELECT p.host, max(p.ts) AS last_diff FROM p JOIN hosts h USING (host)
              WHERE p.status IS DISTINCT FROM h.last_status GROUP BY p.host)
        SELECT p.host, count(*) AS polls, count(*) FILTER (WHERE p.status <> 'ok') AS failed,
               min(p.ts) FILTER (WHERE d.last_diff IS NULL OR p.ts > d.last_diff) AS since,
               bool_and(d.last_diff IS NULL) AS since_window
        FROM p LEFT JOIN d USING (host) GROUP BY p.host""", {"start": start})} \
        if "polls" in rels else {}
    firing = alerts_mod.firing_by_host(con, rels)
    rows = []
    for h in dicts(con, "SELECT host, last_status, last_reason, last_seen, last_ok, os, "
                        "groups FROM hosts ORDER BY host"):
        name = h["host"]
        if hosts is not None and name not in hosts:
            continue
        run = status_runs.get(name, {})
        row = FleetRow(name, host_filename(name), h["last_status"] or _("never polled"),
                       h["last_reason"], h["last_seen"], h["last_ok"], h["os"],
                       list(h["groups"] or []), run.get("since"), bool(run.get("since_window")),
                       run.get("polls", 0), run.get("failed", 0), facts.get(name, {}),
                       issues.get(name, []), firing.get(name, []))
        _judge(row)
        rows.append(row)
    rows.sort(key=lambda r: (r.rank, natural_key(r.name)))
    return rows


@dataclass(slots=True)
class GroupSummary:
    name: str
    hosts: int = 0
    down: int = 0
    problems: int = 0


def no_group() -> str:
    """The group summary's name for hosts in no group, in the language in use."""
    return _("(no group)")


def groups(rows: list[FleetRow]) -> list[GroupSummary]:
    out: dict[str, GroupSummary] = {}
    for r in rows:
        for g in r.groups or [no_group()]:
            s = out.setdefault(g, GroupSummary(g))
            s.hosts += 1
            s.down += not r.up
            # As the headline counts: down hosts apart, not also "with problems".
            s.problems += r.up and r.rank < 3
    return sorted(out.values(), key=lambda s: (-s.down, -s.problems, natural_key(s.name)))
