"""The storing half of a round: the batch into every sink, the database kept small,
alerts judged, then (the poll lock released) the notifications sent.

A cron run imports this module while its SSH round runs (:func:`onion.pipeline.round.
run_poll`): DuckDB, numpy and the store's and alerts' modules are the slowest part of
starting Python for a poll, and the round spends most of its time waiting on hosts.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb

from onion.alerts import live
from onion.core.clock import utcnow
from onion.core.config import Config
from onion.core.errors import StorageError
from onion.core.i18n import _
from onion.core.status import POLLER_SIDE
from onion.core.units import parse_budget
from onion.core.version import __version__
from onion.pipeline import upkeep
from onion.pipeline.summary import Meter, RunSummary, peak_rss_bytes
from onion.poller import redact
from onion.poller.collect import HostResult
from onion.poller.run import make_batch
from onion.probes.base import Probe
from onion.storage import fanout
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.queue import Queue
from onion.storage.schema import TableSpec
from onion.storage.sink import Sink

log = logging.getLogger("onion")


def store_round(cfg: Config, summary: RunSummary, meter: Meter, results: list[HostResult],
                probes: Sequence[Probe], sinks: Sequence[Sink],
                extra: Mapping[str, tuple[TableSpec, dict[str, list[Any]]]] | None = None
                ) -> live.Judged | None:
    """The polled results into one batch, handed to every sink (queued for those that
    cannot take it), the database kept small, alerts judged; every sink closed. Returns
    what is due to be sent, which :func:`finish_round` sends once the database is free."""
    run_id = summary.run_id
    summary.results = results
    phase = meter.phase
    phase("poll")
    duck = next((s for s in sinks if isinstance(s, DuckDBSink)), None)
    judged: live.Judged | None = None
    user, system = meter.cpu()
    peak = peak_rss_bytes()
    run_row = {
        "run_id": run_id, "started_at": meter.started, "finished_at": utcnow(),
        "wall_s": time.perf_counter() - meter.t0, "hosts": len(results),
        "hosts_ok": sum(r.status == "ok" for r in results),
        "cpu_user_s": user, "cpu_system_s": system,
        "peak_rss_bytes": peak, "version": __version__, "argv": " ".join(sys.argv[1:])[:500]}
    batch = make_batch(run_id, results, probes, run_row, redact.from_settings(
        cfg.privacy.redact_args, cfg.privacy.redact_patterns))
    if cfg.daemon.shard:
        batch.meta["shard"] = cfg.daemon.shard
    for name, (spec, data) in (extra or {}).items():  # tables not from hosts (a central's)
        batch.tables[name], batch.data[name] = spec, data
    phase("batch")
    try:
        queue = Queue(cfg.spool_path, parse_budget(cfg.storage.max_spool, "max_spool"))
        summary.delivery = fanout.deliver(sinks, queue, batch)
        maintain = False
        if duck is not None:
            summary.stored = summary.delivery.reports[duck.name].ok
            if summary.stored:
                duck.record_drops(queue.take_dropped(), utcnow())
                summary.went_down = _went_down(duck, run_id, results)
                maintain = upkeep.due(duck.db_path, duck.queue_dir,
                                      duck.retention.max_size, utcnow())
            if maintain:
                duck.checkpoint()  # else closing does it, once, after the alerts' writes
        phase("store")
        if duck is not None and duck.con is not None and summary.stored:
            if maintain:
                try:
                    summary.maintenance = duck.maintain(utcnow())
                except (StorageError, OSError, duckdb.Error) as exc:
                    # The samples are stored; archiving waits for the next run.
                    summary.errors.append(_("archiving deferred: {error}").format(error=exc))
                phase("archive")
            # Never raises: a failure is logged, the next run catches up.
            judged = live.judge_after_poll(cfg, duck.con, utcnow())
            phase("alerts")
    finally:
        for s in sinks:
            try:
                s.close()
            except Exception as exc:  # closing one sink must not cost the others
                log.debug("closing sink %s failed", s.name, exc_info=True)
                summary.errors.append(_("sink {sink}: close failed: {error}").format(
                    sink=s.name, error=exc))
        phase("close")   # DuckDB's checkpoint: not the alerts' time
    if duck is not None and summary.maintenance is not None:
        try:
            duck.finish()
            upkeep.noted(duck.db_path, duck.queue_dir, summary.maintenance.size_after,
                         utcnow())
        except (StorageError, OSError, duckdb.Error) as exc:
            summary.errors.append(_("rewrite deferred: {error}").format(error=exc))
        phase("archive")
    return judged


def finish_round(cfg: Config, summary: RunSummary, meter: Meter, judged: live.Judged | None,
                 guard: Callable[[], contextlib.AbstractContextManager[Any]]
                 = contextlib.nullcontext) -> None:
    """Send what the round queued (never while holding the lock that the next cron run
    waits for: sending can take each notifier's deadline), and total the round's time."""
    if judged is not None:
        summary.alerts = live.deliver_after_poll(cfg, cfg.db_path, judged, guard)
        meter.phase("alerts")
    user, system = meter.cpu()
    summary.wall_s = time.perf_counter() - meter.t0
    summary.cpu_s = user + system
    summary.phases = meter.phase.spent


def _went_down(duck: DuckDBSink, run_id: int, results: Sequence[HostResult]
               ) -> list[HostResult]:
    """Hosts that were ok at their previous poll and are not now (poller-side statuses
    aside): what a cron job should say once, not on every run while they stay down."""
    bad = [r for r in results if r.status != "ok" and r.status not in POLLER_SIDE]
    if not bad or duck.con is None:
        return []
    before = dict(duck.con.execute(
        "SELECT host, arg_max(status, run_id) FROM hot.polls WHERE run_id < ? "
        "AND list_contains(?, host) GROUP BY host", [run_id, [r.host.name for r in bad]]
    ).fetchall())
    return [r for r in bad if before.get(r.host.name, "ok") == "ok"]


__all__ = ["finish_round", "store_round"]
