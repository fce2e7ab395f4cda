"""Render the HTML report from the database: a library call (the daemon will serve it too).

jinja2 with autoescape on; a user template folder, when given, overrides any template.
The output folder works offline: no script, font or style is fetched from anywhere.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from poller import store

TEMPLATES = Path(__file__).parent / "templates"


def environment(user_templates: Path | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if user_templates:
        loaders.append(jinja2.FileSystemLoader(str(user_templates)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["bytes"] = human_bytes
    env.filters["ts"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S UTC") if v else "—"
    return env


def human_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")}


def _by_host(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, dict[str, Any]]:
    rel = con.execute(query)
    cols = [d[0] for d in rel.description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rel.fetchall()}


@dataclass(slots=True)
class HostRow:
    name: str
    status: str
    reason: str | None
    last_seen: dt.datetime | None
    last_ok: dt.datetime | None
    os: str | None
    groups: Sequence[str]
    facts: dict[str, Any]
    probe_issues: list[tuple[str, str, str | None]]


FACT_QUERIES = {
    "cpu": "SELECT host, ncpu, load_1m, load_5m, load_15m FROM latest_cpu",
    "memory": "SELECT host, total_bytes, available_bytes, "
              "100 * (1 - available_bytes / nullif(total_bytes, 0)) AS mem_used_pct "
              "FROM latest_memory",
    "filesystems": "SELECT host, arg_max(mount, used_pct) AS fullest_mount, "
                   "max(used_pct) AS fullest_pct FROM latest_filesystems GROUP BY host",
    "gpu": "SELECT host, count(*) AS gpus, avg(utilization_pct) AS gpu_util_pct, "
           "max(temperature_celsius) AS gpu_temp_c FROM latest_gpu GROUP BY host",
    "temperatures": "SELECT host, arg_max(chip || ' ' || sensor, celsius) AS hottest, "
                    "max(celsius) AS hottest_c FROM latest_temperatures GROUP BY host",
    "system": "SELECT host, distro_name, kernel_release, boot_time FROM latest_system",
}


def load_rows(con: duckdb.DuckDBPyConnection) -> list[HostRow]:
    tables = _tables(con)
    if "hosts" not in tables:
        return []
    facts: dict[str, dict[str, Any]] = {}
    for table, query in FACT_QUERIES.items():
        if f"latest_{table}" in tables:
            try:
                for host, row in _by_host(con, query).items():
                    facts.setdefault(host, {}).update(row)
            except duckdb.Error:
                continue  # an older schema without a column: show the rest
    issues: dict[str, list[tuple[str, str, str | None]]] = {}
    for host, probe, status, reason in con.execute(
            "SELECT host, probe, status, reason FROM latest_probe_results "
            "WHERE status <> 'ok' ORDER BY host, probe").fetchall():
        issues.setdefault(host, []).append((probe, status, reason))
    rows = []
    for h in con.execute("SELECT host, last_status, last_reason, last_seen, last_ok, os, groups "
                         "FROM hosts ORDER BY host").fetchall():
        rows.append(HostRow(h[0], h[1], h[2], h[3], h[4], h[5], h[6] or [],
                            facts.get(h[0], {}), issues.get(h[0], [])))
    # Problems first: a down host, then parse errors, then the rest by name.
    rows.sort(key=lambda r: (r.status == "ok", r.name))
    return rows


def write_report(db: Path, out: Path, user_templates: Path | None = None) -> Path:
    with store.reading(db) as con:
        rows = load_rows(con)
        last_run = con.execute("SELECT max(finished_at) FROM runs").fetchone()
    env = environment(user_templates)
    out.mkdir(parents=True, exist_ok=True)
    html = env.get_template("index.html").render(
        hosts=rows, generated=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        last_run=last_run[0] if last_run else None)
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    shutil.copyfile(TEMPLATES / "style.css", out / "style.css")
    return index
