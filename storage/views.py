"""The views users query in DuckDB, over the hot rows and the archived Parquet files.

- ``<table>``: every row, hot and archived;
- ``latest_<table>``: each host's newest rows (from the hot schema: cheap to ask);
- ``<table>_rates``: per-second rates of counters (a counter that went down was reset,
  e.g. by a reboot, and counts from zero);
- ``<table>_5m`` / ``_1h`` / ``_1d``: rollup tiers (per host and item: samples,
  min/avg/max of each gauge, the last value of each counter); ``processes_top``;
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
# Past its raw window a process table keeps, per host and poll, the top N by these.
THIN_BY = {"processes": ("cpu_pct", "rss_bytes")}
TOP_N = 10


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
    if table in THIN_BY:
        a, b = THIN_BY[table]
        if {a, b} <= set(spec.names):
            top = (f"row_number() OVER (PARTITION BY host, ts ORDER BY {{}} DESC NULLS LAST) "
                   f"<= {TOP_N}")
            return {"top": (f"SELECT * FROM {hot} QUALIFY {top.format(ident(a))} "
                            f"OR {top.format(ident(b))}")}
        return {}
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
