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

from onion.poller import config as config_mod
from onion.poller import store
from onion.poller.errors import OnionError

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
    from onion.inventory import limit as limit_mod
    from onion.inventory import loader, sshconfig

    path = inventory or cfg.inventory or None
    hosts = loader.load(Path(path).expanduser() if path else None)
    if limit:
        hosts = limit_mod.select(hosts, limit)
    paths = [Path(p).expanduser() for p in cfg.ssh.config]
    return [h if h.local else sshconfig.resolve(h, paths) for h in hosts]


def _probes(cfg: config_mod.Config) -> list[Any]:
    from onion.probes import registry

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
    from onion.poller.run import run_poll

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
        if verbose > 1:
            click.echo("CPU seconds of this run: " + ", ".join(
                f"{k} {v:.3f}" for k, v in summary.phases.items()))
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
        from onion.poller import hostkeys
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
    from onion.probes import registry
    from onion.probes.base import OS, ProbeError, as_json

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
@click.option("--since", "since", default="7d", show_default=True, metavar="DURATION",
              help="Window the charts and change lists cover: 12h, 7d, 2w …")
@click.option("-l", "--limit", "limit", metavar="PATTERN",
              help="Hosts to show: globs, groups, ! to exclude, & to intersect.")
@click.option("--templates", "templates", type=click.Path(file_okay=False, exists=True),
              help="Folder of templates that override the built-in ones (any of them).")
def report(cfg: config_mod.Config, out_dir: str | None, since: str, limit: str | None,
           templates: str | None) -> None:
    """Write the HTML report: fleet overview, a page per host, alerts, changes.

    The folder is self-contained (no network fetch): open index.html, serve it, or mail it.
    """
    from onion.inventory import limit as limit_mod
    from onion.inventory.model import Host
    from onion.reports import names, render

    try:
        window = names.parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    chosen: set[str] | None = None
    if limit:
        with store.reading(cfg.db_path) as con:
            known = [Host(name=n, groups=tuple(g or ())) for n, g in con.execute(
                "SELECT host, groups FROM hosts ORDER BY host").fetchall()]
        chosen = {h.name for h in limit_mod.select(known, limit)}
    out = Path(out_dir or cfg.report.out).expanduser()
    index = render.write_report(cfg.db_path, out, Path(templates) if templates else None,
                                since=window, hosts=chosen)
    click.echo(f"report written to {index}")


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


from onion.poller.alerts.cli import alerts as alerts_group  # noqa: E402 (it imports common)

main.add_command(alerts_group)
