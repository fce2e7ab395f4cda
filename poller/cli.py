"""The ``onion`` command line."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import duckdb

from poller import config as config_mod
from poller import store
from poller.errors import OnionError

_STATUS_OK = "ok"


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options every verb takes."""
    @click.option("--config", "config_path", type=click.Path(dir_okay=False),
                  help="Config file (env ONION_CONFIG; default ~/.config/onion/onion.toml).")
    @click.option("--db", "db_path", type=click.Path(dir_okay=False),
                  help="DuckDB file (env ONION_DB; default ~/.local/share/onion/onion.duckdb).")
    @functools.wraps(f)
    def wrapper(config_path: str | None, db_path: str | None, **kw: Any) -> Any:
        try:
            cfg = config_mod.load(config_path, db_path)
            return f(cfg, **kw)
        except OnionError as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


def inventory_option(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("-l", "--limit", "limit", metavar="PATTERN",
                     help="Hosts to use: globs, groups, ! to exclude, & to intersect.")(f)
    return click.option("-i", "--inventory", "inventory", type=click.Path(dir_okay=False),
                        help="Inventory file (Ansible INI/YAML, Onion YAML or a host list); "
                             "none: this machine.")(f)


def _hosts(cfg: config_mod.Config, inventory: str | None, limit: str | None) -> list[Any]:
    from inventory import limit as limit_mod
    from inventory import loader, sshconfig

    path = inventory or cfg.inventory or None
    hosts = loader.load(Path(path).expanduser() if path else None)
    if limit:
        hosts = limit_mod.select(hosts, limit)
    paths = [Path(p).expanduser() for p in cfg.ssh.config]
    return [h if h.local else sshconfig.resolve(h, paths) for h in hosts]


def _probes(cfg: config_mod.Config) -> list[Any]:
    from probes import registry

    found = registry.available(Path(p).expanduser() for p in cfg.plugins.paths)
    return registry.select(found, cfg.probes.enable or None, cfg.probes.disable)


@click.group()
@click.version_option(package_name="onion-poller")
def main() -> None:
    """Onion: agentless monitoring over SSH into DuckDB."""


@main.command()
@common
@inventory_option
@click.option("-v", "--verbose", count=True, help="Say what happened to each host.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar (default: on when stderr is a terminal).")
def poll(cfg: config_mod.Config, inventory: str | None, limit: str | None, verbose: int,
         progress: bool | None) -> None:
    """Poll every host once and store the results (cron-friendly: quiet unless -v).

    Exits 0 when the round completed, even if hosts were down: down hosts are data.
    """
    from poller.run import run_poll

    hosts = _hosts(cfg, inventory, limit)
    probes = _probes(cfg)
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = click.progressbar(length=len(hosts), label="polling", file=sys.stderr) \
        if show_bar and hosts else None
    cb = (lambda r: bar.update(1)) if bar else None
    if bar:
        bar.__enter__()
    try:
        summary = run_poll(cfg, hosts, probes, cb)
    finally:
        if bar:
            bar.__exit__(None, None, None)
    ingest = summary.ingest
    if verbose:
        for r in summary.results:
            line = f"{r.host.name:30} {r.status:18} {r.reason or ''}"
            click.echo(line.rstrip())
            if verbose > 1:
                for p in r.probes.values():
                    click.echo(f"    {p.probe:14} {p.status:12} {p.reason or ''}".rstrip())
        click.echo(f"{summary.ok}/{len(summary.results)} hosts ok in {summary.wall_s:.2f} s; "
                   f"stored in {cfg.db_path}")
    thinned = summary.maintenance.thinned if summary.maintenance else []
    if thinned:
        click.echo(f"onion: over the storage budget ([storage] max_size), dropped the oldest "
                   f"archive files: {', '.join(thinned[:10])}{' …' if len(thinned) > 10 else ''}",
                   err=True)
    if ingest and ingest.locked:
        click.echo(f"onion: database busy; this run waits in {cfg.spool_path} and is stored by "
                   f"the next run ({ingest.error})", err=True)
    elif ingest and ingest.error:
        click.echo(f"onion: {ingest.error}", err=True)
        sys.exit(1)


def _emit(con: duckdb.DuckDBPyConnection, query: str, fmt: str) -> None:
    rel = con.execute(query)
    cols = [d[0] for d in rel.description] if rel.description else []
    rows = rel.fetchall()
    if fmt == "json":
        click.echo(json.dumps([dict(zip(cols, r, strict=True)) for r in rows],
                              default=str, indent=1))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        texts = [[("" if v is None else str(v)) for v in r] for r in rows]
        widths = [max([len(c), *(min(len(t[i]), 60) for t in texts)]) for i, c in enumerate(cols)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        click.echo("  ".join("-" * w for w in widths))
        for t in texts:
            cells = [(v if len(v) <= 60 else v[:59] + "…").ljust(w)
                     for v, w in zip(t, widths, strict=True)]
            click.echo("  ".join(cells).rstrip())
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


@main.command()
@common
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def sql(cfg: config_mod.Config, query: str, fmt: str) -> None:
    """Run a read-only SQL query on the database."""
    with store.reading(cfg.db_path) as con:
        try:
            _emit(con, query, fmt)
        except duckdb.Error as exc:
            raise click.ClickException(f"SQL error: {exc}") from exc


@main.command()
@common
@inventory_option
@click.option("--rekey", metavar="HOST", help="Forget HOST's recorded key (a reinstalled node).")
def hosts(cfg: config_mod.Config, inventory: str | None, limit: str | None,
          rekey: str | None) -> None:
    """The inventory with each host's last status and its probes' state."""
    if rekey:
        from poller import hostkeys
        n = 0
        for f in [cfg.ssh.accept_new_file, *cfg.ssh.known_hosts]:
            n += hostkeys.forget(Path(f), rekey)
        click.echo(f"removed {n} key line(s) for {rekey}; its next poll records the new key "
                   "with host_key_policy = \"accept-new\", or add it to known_hosts yourself")
        return
    inv = _hosts(cfg, inventory, limit)
    last: dict[str, tuple[Any, ...]] = {}
    probe_states: dict[str, list[str]] = {}
    if cfg.db_path.exists():
        with store.reading(cfg.db_path) as con:
            for row in con.execute("SELECT host, last_status, last_seen, last_ok, last_reason "
                                   "FROM hosts").fetchall():
                last[row[0]] = row[1:]
            for host, probe, status, reason in con.execute(
                    "SELECT host, probe, status, reason FROM latest_probe_results "
                    "WHERE status <> 'ok' ORDER BY host, probe").fetchall():
                probe_states.setdefault(host, []).append(f"{probe}: {status} ({reason})")
    for h in inv:
        status, seen, _ok, reason = last.get(h.name, ("never polled", None, None, None))
        target = "local" if h.local else f"{h.user + '@' if h.user else ''}{h.target}" \
            f"{':' + str(h.port) if h.port else ''}"
        groups = ",".join(h.groups)
        click.echo(f"{h.name:28} {target:32} {status:16} "
                   f"{seen.isoformat() + 'Z' if isinstance(seen, dt.datetime) else '-':21} "
                   f"{groups}".rstrip())
        if reason and status != _STATUS_OK:
            click.echo(f"    {reason}")
        for s in probe_states.get(h.name, []):
            click.echo(f"    {s}")


@main.command()
@click.argument("probe_name", metavar="PROBE")
@click.option("--os", "os_name", type=click.Choice(["linux", "freebsd", "openbsd", "macos"]),
              default="linux", show_default=True)
@click.option("--part", "parts", multiple=True, metavar="PART[=FILE]",
              help="Which part FILE holds (default: the probe's first part); "
                   "repeat as PART=FILE for several parts.")
@click.argument("file", type=click.File("rb"), default="-")
def parse(probe_name: str, os_name: str, parts: tuple[str, ...], file: Any) -> None:
    """Run PROBE's parser on saved output and print the records as JSON.

    Example: onion parse memory --os linux /proc/meminfo
    """
    from probes import registry
    from probes.base import OS, ProbeError, as_json

    probes = registry.installed()
    if probe_name not in probes:
        raise click.ClickException(
            f"unknown probe {probe_name!r}; known: {', '.join(sorted(probes))}")
    probe = probes[probe_name]
    os = OS(os_name)
    if not probe.supports(os):
        raise click.ClickException(f"{probe_name}: {probe.why_unsupported(os)}")
    known = [p.name for p in probe.parts[os]]
    texts: dict[str, str] = {}
    single = [p for p in parts if "=" not in p]
    for spec in parts:
        if "=" in spec:
            name, path = spec.split("=", 1)
            texts[name] = Path(path).read_bytes().decode("utf-8", errors="replace")
    if single or not texts:
        name = single[0] if single else known[0]
        texts[name] = file.read().decode("utf-8", errors="replace")
    unknown = set(texts) - set(known)
    if unknown:
        raise click.ClickException(f"{probe_name} on {os_name} has parts {known}, "
                                   f"not {sorted(unknown)}")
    try:
        records = probe.parse(os, texts)
    except ProbeError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    click.echo(json.dumps([as_json(r) for r in records], indent=1))


@main.command()
@common
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder to write (default: [report] out).")
def report(cfg: config_mod.Config, out_dir: str | None) -> None:
    """Write the HTML report of the hosts and their latest state."""
    from reports import render

    out = Path(out_dir or cfg.report.out).expanduser()
    index = render.write_report(cfg.db_path, out)
    click.echo(f"report written to {index}")


@main.group()
def db() -> None:
    """Storage: sizes, compaction, export."""


@db.command("stats")
@common
@click.option("--columns", is_flag=True, help="Also show each archived column's size.")
def db_stats(cfg: config_mod.Config, columns: bool) -> None:
    """Bytes per table, per row and per sample; compression per column."""
    from poller import archive

    size, tables = archive.stats(cfg.db_path)
    total = archive.footprint(cfg.db_path, cfg.archive_path, cfg.spool_path)
    budget = cfg.retention().max_size
    click.echo(f"database {cfg.db_path}: {size:,} bytes used in the file; everything Onion "
               f"keeps: {total:,} bytes" + (f" of a {budget:,} byte budget" if budget else ""))
    click.echo(f"{'table':16} {'hot rows':>10} {'archived':>12} {'archive B':>12} "
               f"{'B/row':>8} {'B/sample':>9}")
    for t in tables:
        per_row = f"{t.bytes_per_row:.2f}" if t.bytes_per_row is not None else "-"
        per_sample = f"{t.bytes_per_sample:.2f}" if t.bytes_per_sample is not None else "-"
        click.echo(f"{t.table:16} {t.hot_rows:>10,} {t.archived_rows:>12,} "
                   f"{t.archive_bytes:>12,} {per_row:>8} {per_sample:>9}")
        if columns:
            for name, enc, nbytes in t.columns:
                click.echo(f"    {name:24} {nbytes:>12,}  {enc}")


@db.command("compact")
@common
def db_compact(cfg: config_mod.Config) -> None:
    """Archive closed days, apply retention and budget, and rewrite the file."""
    from poller import archive
    from poller.collect import utcnow
    from poller.run import poll_lock

    with poll_lock(cfg.db_path, cfg.poller.lock_wait):
        r = archive.maintain(cfg.db_path, cfg.archive_path, cfg.retention(), utcnow(),
                             spool=cfg.spool_path, force_rewrite=True)
    click.echo(f"archived {sum(n for _, _, n in r.archived):,} rows in {len(r.archived)} "
               f"table-days; dropped {len(r.dropped)} file(s); "
               f"{r.size_before:,} -> {r.size_after:,} bytes")


@db.command("export")
@common
@click.option("--parquet", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write, one sub-folder per table, partitioned by date and host.")
def db_export(cfg: config_mod.Config, out: str) -> None:
    """Export every sample table as Parquet for other engines."""
    from poller import archive

    for path in archive.export_parquet(cfg.db_path, Path(out)):
        click.echo(str(path))


@main.command()
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str | None, force: bool) -> None:
    """Write a commented example config with every default."""
    target = Path(path or config_mod.DEFAULT_CONFIG).expanduser()
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config_mod.EXAMPLE)
    click.echo(f"wrote {target}")
