"""The views users query in DuckDB, over the hot rows and the archived Parquet files.

- ``<table>``: every row, hot and archived;
- ``latest_<table>``: each host's newest rows (from the hot schema: cheap to ask);
- ``<table>_rates``: per-second rates of counters (a counter that went down was reset,
  e.g. by a reboot, and counts from zero);
- ``<table>_5m`` / ``_1h`` / ``_1d``: rollup tiers (per host and item: samples,
  min/avg/max of each gauge, the last value of each counter);
- ``processes_top``: per host and hour, the top consumers by user and command (CPU
  seconds used, peak RSS, processes), what a person asks of a month-old hour;
- a probe's own derived views (``cpu_usage``, ``file_changes`` …).

The tiers' SELECTs are used both here (over hot rows, on the fly) and by the archive
(to write each closed day's tier files), so they live here, below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from onion.core.sqltext import ident, literal
from onion.storage.catalog import HOT, Con, archive_root, has_table, resolve, table_specs
from onion.storage.schema import TableSpec

TIERS = {"5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}
# A process table's long-lived tier: per host and hour, the top N (user, command) groups
# by CPU seconds used and the top N by peak RSS. Every poll's top 10 processes (the
# layout before) took 17 times the room (bench/storage.py) and answered "who used this
# host in that hour" only by adding up samples.
TOP_TABLES = ("processes",)
TOP_NEEDS = {"pid", "uid", "user", "comm", "rss_bytes", "cpu_seconds", "elapsed_seconds"}
TOP_N = 10
TOP_GROUP = ("uid", "user", "comm")


def rate_view(table: str, key: Sequence[str], counters: Sequence[str]) -> str:
    part = ", ".join(ident(c) for c in ["host", *key])
    dt = "(epoch(ts) - epoch(lag(ts) OVER w))"
    rates = ",\n  ".join(
        f"CASE WHEN {ident(c)} >= lag({ident(c)}) OVER w "
        f"THEN {ident(c)}::DOUBLE - lag({ident(c)}) OVER w ELSE {ident(c)}::DOUBLE END "
        f"/ NULLIF({dt}, 0) AS {ident(c + '_per_s')}"
        for c in counters)
    keys = "".join(ident(k) + ", " for k in key)
    return (f"CREATE OR REPLACE VIEW {ident(table + '_rates')} AS\n"
            f"SELECT run_id, host, {keys}ts, {dt} AS interval_s,\n  {rates}\n"
            f"FROM {ident(table)}\nWINDOW w AS (PARTITION BY {part} ORDER BY ts)\n"
            f"QUALIFY lag(ts) OVER w IS NOT NULL")


def tier_selects(spec: TableSpec, source: str | None = None) -> dict[str, str]:
    """SELECTs over a table's rows (default: its hot rows) for each rollup tier it has."""
    table = spec.name
    hot = source or f"{HOT}.{ident(table)}"
    if table in TOP_TABLES:
        return {"top": top_select(hot)} if TOP_NEEDS <= set(spec.names) else {}
    keys = list(spec.key)
    exprs = []
    for c in spec.columns:
        if c.name in ("run_id", "host", "ts") or c.name in keys or not c.type.is_numeric:
            continue
        n = ident(c.name)
        if c.name in spec.counters:
            exprs.append(f"arg_max({n}, ts) AS {n}")
        else:
            exprs += [f"min({n}) AS {ident(c.name + '_min')}",
                      f"avg({n}) AS {ident(c.name + '_avg')}",
                      f"max({n}) AS {ident(c.name + '_max')}"]
    if not exprs:
        return {}
    group = ", ".join(ident(c) for c in ["host", *keys])
    return {tier: (f"SELECT {group}, time_bucket(INTERVAL '{width}', ts) AS ts, "
                   f"count(*)::UINTEGER AS samples, {', '.join(exprs)} FROM {hot} "
                   f"GROUP BY ALL")
            for tier, width in TIERS.items()}


def top_select(source: str) -> str:
    """Per host, hour, uid, user and command: the CPU seconds its processes used in that
    hour, the most RSS they held together at one poll, how many processes (distinct
    pids) and polls; the top N groups of each host-hour by CPU and the top N by RSS.

    CPU time is a counter per process: each sample adds what it grew since the same
    process's previous sample (pid and command alike; a counter that went down is a new
    process under a reused pid and counts whole). A process seen first counts whole if
    it started since its host's previous poll (``elapsed_seconds`` says so), otherwise
    from its next sample on: over one day's rows, the interval before the day's first
    poll is not counted (at most one poll interval a day)."""
    step = "(epoch(ts) - epoch(prev_poll))"
    group = ", ".join(ident(c) for c in TOP_GROUP)
    return f"""WITH polls AS (
  SELECT host, ts, lag(ts) OVER (PARTITION BY host ORDER BY ts) AS prev_poll
  FROM (SELECT DISTINCT host, ts FROM {source})),
p AS (
  SELECT s.host, s.ts, s.pid, {", ".join("s." + ident(c) for c in TOP_GROUP)},
    s.rss_bytes, s.cpu_seconds, s.elapsed_seconds, polls.prev_poll,
    lag(s.cpu_seconds) OVER (PARTITION BY s.host, s.pid, s.comm ORDER BY s.ts) AS prev_cpu
  FROM {source} AS s JOIN polls USING (host, ts)),
d AS (
  SELECT *, CASE
    WHEN prev_cpu IS NOT NULL AND cpu_seconds >= prev_cpu
      AND NOT coalesce(elapsed_seconds < {step}, false) THEN cpu_seconds - prev_cpu
    WHEN prev_cpu IS NOT NULL OR elapsed_seconds <= {step} THEN cpu_seconds
    ELSE 0 END AS used
  FROM p),
per_poll AS (
  SELECT host, ts, {group}, sum(rss_bytes) AS rss FROM d GROUP BY ALL),
hourly AS (
  SELECT host, time_bucket(INTERVAL '1 hour', ts) AS ts, {group},
    count(DISTINCT pid)::UINTEGER AS processes, count(DISTINCT ts)::UINTEGER AS polls,
    round(sum(used), 2)::DOUBLE AS cpu_seconds
  FROM d GROUP BY ALL),
peaks AS (
  SELECT host, time_bucket(INTERVAL '1 hour', ts) AS ts, {group},
    max(rss)::UBIGINT AS rss_bytes_max
  FROM per_poll GROUP BY ALL)
SELECT h.host, h.ts, {", ".join("h." + ident(c) for c in TOP_GROUP)}, h.processes, h.polls,
  h.cpu_seconds, k.rss_bytes_max
FROM hourly AS h JOIN peaks AS k
  ON h.host = k.host AND h.ts = k.ts
  AND {" AND ".join(f"h.{ident(c)} IS NOT DISTINCT FROM k.{ident(c)}" for c in TOP_GROUP)}
QUALIFY row_number() OVER (PARTITION BY h.host, h.ts ORDER BY h.cpu_seconds DESC NULLS LAST)
    <= {TOP_N}
  OR row_number() OVER (PARTITION BY h.host, h.ts ORDER BY k.rss_bytes_max DESC NULLS LAST)
    <= {TOP_N}"""


def tier_order(spec: TableSpec, tier: str) -> list[str]:
    """The columns a tier's files are sorted by: each series' rows together, in time."""
    if tier == "top":
        return ["host", "comm", "user", "uid", "ts"]
    return ["host", *spec.key, "ts"]


def archive_files(con: Con, root: Path | None) -> dict[tuple[str, str], list[Path]]:
    """Every catalogued file, as a path that works now, by (table, tier), oldest first."""
    out: dict[tuple[str, str], list[Path]] = {}
    if has_table(con, "archive_files"):
        for table, tier, path in con.execute(
                "SELECT table_name, tier, path FROM archive_files ORDER BY day, path").fetchall():
            out.setdefault((table, tier), []).append(resolve(root, path))
    return out


def _union(files: list[Path], hot_select: str) -> str:
    if not files:
        return hot_select
    listed = ", ".join(literal(str(f)) for f in files)
    return (f"{hot_select}\nUNION ALL BY NAME\n"
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true)")


def refresh_views(con: Con, files: dict[tuple[str, str], list[Path]] | None = None,
                  temp: bool = False, only: set[str] | None = None) -> None:
    """(Re)create every view: after a schema change, and whenever archive files change
    (inside the transaction that changes the catalog, so no reader sees the one without
    the other). ``temp``: views of this connection only, which shadow the stored ones (a
    reader whose archive moved, or lost a file). ``only``: the views of these tables
    (the others, and the derived ones, which name tables and bind when read, stand)."""
    if files is None:
        files = archive_files(con, archive_root(con))
    kind = "TEMP VIEW" if temp else "VIEW"
    where = "" if temp else "main."
    specs = table_specs(con)
    for table, spec in specs.items():
        if only is not None and table not in only:
            continue
        con.execute(f"CREATE OR REPLACE {kind} {where}{ident(table)} AS " + _union(
            files.get((table, "raw"), []), f"SELECT * FROM {HOT}.{ident(table)}"))
        con.execute(f"CREATE OR REPLACE {kind} {ident('latest_' + table)} AS SELECT * FROM "
                    f"{HOT}.{ident(table)} QUALIFY run_id = max(run_id) OVER (PARTITION BY host)")
        if spec.counters:
            con.execute(rate_view(table, spec.key, spec.counters).replace(
                "CREATE OR REPLACE VIEW", f"CREATE OR REPLACE {kind}", 1))
        for tier, select in tier_selects(spec).items():
            con.execute(f"CREATE OR REPLACE {kind} {ident(table + '_' + tier)} AS "
                        + _union(files.get((table, tier), []), select))
    for spec in specs.values() if only is None else ():
        for name, select in spec.views.items():
            con.execute(f"CREATE OR REPLACE {kind} {ident(name)} AS {select}")
