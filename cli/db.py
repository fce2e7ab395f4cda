"""``onion db``: what the database holds and costs, and keeping it small."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from onion.cli.common import common, emit_rows, format_option
from onion.cli.translated import Group
from onion.core import config as config_mod
from onion.core.clock import utcnow
from onion.core.errors import StorageError
from onion.core.i18n import N_, _
from onion.pipeline import upkeep
from onion.pipeline.lock import poll_lock
from onion.storage import archive
from onion.storage.queue import Queue


def _num(v: float | None, digits: int = 2) -> float | None:
    return None if v is None else round(v, digits)


@click.group("db", cls=Group)
def db() -> None:
    """The database: its size per table, compaction and export."""


@db.command("stats")
@common
@format_option
@click.option("--columns", is_flag=True, help=N_("Also bytes and encodings per archived column."))
def stats(cfg: config_mod.Config, fmt: str, columns: bool) -> None:
    """Rows, bytes per row and per sample of each table, and what waits in the queue.

    Example: onion db stats --columns
    """
    size, tables = archive.stats(cfg.db_path)
    footprint = archive.footprint(cfg.db_path, cfg.archive_path, cfg.spool_path)
    if fmt == "table":
        click.echo(_("database {path}: {size} bytes; everything Onion keeps: {footprint} bytes")
                   .format(path=cfg.db_path, size=size, footprint=footprint))
        queue = Queue(cfg.spool_path)
        for sink, n in sorted(queue.waiting().items()):
            click.echo(_("queue: {n} batch(es) waiting for sink {sink}").format(n=n, sink=sink))
        for held in queue.quarantined():
            reason = (held / "REASON").read_text().strip() if (held / "REASON").exists() else ""
            click.echo(_("quarantine: {path}: {reason}").format(path=held, reason=reason))
    rows = [(t.table, t.hot_rows, t.archived_rows, t.archive_bytes, _num(t.bytes_per_row),
             _num(t.bytes_per_sample, 3)) for t in tables]
    emit_rows(["table", "hot_rows", "archived_rows", "archive_bytes", "bytes_per_row",
               "bytes_per_sample"], rows, fmt)
    if columns:
        emit_rows(["table", "column", "encodings", "bytes"],
                  [(t.table, c, enc, b) for t in tables for c, enc, b in t.columns], fmt)


@db.command("check")
@common
def check(cfg: config_mod.Config) -> None:
    """Check the archive against its catalog: files that are missing (left out of the
    views, with a warning, until they are back) and files nothing names (removed by the
    next maintenance). Exits 1 when something is wrong.

    Example: onion db check
    """
    report = archive.check(cfg.db_path)
    for path in report.missing:
        click.echo(_("missing: {path} (catalogued; its rows are left out of the views)")
                   .format(path=path))
    for path in report.strays:
        click.echo(_("not catalogued: {path} (the next poll or `onion db compact` removes it)")
                   .format(path=path))
    click.echo(_("archive {root}: {verdict}").format(
        root=report.root or _("(none yet)"), verdict=_("ok") if report.ok else _("problems found")))
    if not report.ok:
        sys.exit(1)


@db.command("compact")
@common
def compact(cfg: config_mod.Config) -> None:
    """Archive every closed day now, apply retention and the budget, and rewrite the
    database file to give back the room of deleted rows.

    Example: onion db compact
    """
    if not cfg.db_path.exists():
        raise click.ClickException(_("no database at {path} yet: run `onion poll` first")
                                   .format(path=cfg.db_path))
    with poll_lock(cfg.db_path, cfg.poller.lock_wait):
        try:
            report = archive.maintain(cfg.db_path, cfg.archive_path,
                                      archive.Retention.from_settings(cfg.storage), utcnow(),
                                      spool=cfg.spool_path, force_rewrite=True)
            # The rounds' estimate of the footprint starts from the last maintenance's.
            upkeep.noted(cfg.db_path, cfg.spool_path, report.size_after, utcnow())
        except (StorageError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(_("archived {archived} table-day(s), dropped {dropped} file(s); {before} -> "
                 "{after} bytes").format(archived=len(report.archived),
                                         dropped=len(report.dropped),
                                         before=report.size_before, after=report.size_after))


@db.command("export")
@common
@click.option("--parquet", "out", required=True, type=click.Path(file_okay=False),
              help=N_("Folder to write: one sub-folder per table, partitioned by date and host."))
def export(cfg: config_mod.Config, out: str) -> None:
    """Every table as Parquet, for other engines (Spark, pandas, ClickHouse …).

    Example: onion db export --parquet /tmp/onion-export
    """
    try:
        written = archive.export_parquet(cfg.db_path, Path(out).expanduser())
    except (StorageError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_("wrote {n} table(s) to {path}").format(n=len(written), path=out))
