"""One round: poll the fleet, hand the batch to every sink, keep the database small,
judge alerts; then, with the poll lock released, send the notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import psutil

from onion.alerts import live
from onion.core.clock import utcnow
from onion.core.config import Config
from onion.core.errors import StorageError
from onion.core.status import POLLER_SIDE
from onion.core.units import parse_budget
from onion.core.version import __version__
from onion.inventory.model import Host
from onion.pipeline.lock import poll_lock
from onion.pipeline.runid import next_run_id
from onion.poller import redact
from onion.poller.collect import HostResult
from onion.poller.run import fd_budget, make_batch, poll_hosts
from onion.probes.base import Probe
from onion.storage import fanout
from onion.storage.archive import MaintainReport
from onion.storage.duckdb_sink import DuckDBSink
from onion.storage.queue import Queue
from onion.storage.schema import TableSpec
from onion.storage.sink import Sink

log = logging.getLogger("onion")


@dataclass(slots=True)
class RunSummary:
    run_id: int
    results: list[HostResult]
    wall_s: float
    cpu_s: float
    delivery: fanout.Delivery = field(default_factory=fanout.Delivery)
    maintenance: MaintainReport | None = None
    errors: list[str] = field(default_factory=list)   # storage steps deferred this run
    warnings: list[str] = field(default_factory=list)  # said on stderr, not a failure
    stored: bool = False          # the database has this round (else it waits in the queue)
    signal: int | None = None     # SIGINT / SIGTERM received during the round
    went_down: list[HostResult] = field(default_factory=list)  # ok last poll, not now
    # CPU seconds of this process per phase (poll, batch, store, archive, alerts)
    phases: dict[str, float] = field(default_factory=dict)
    alerts: live.Report | None = None   # how judging and sending went

    @property
    def ok(self) -> int:
        return sum(r.status == "ok" for r in self.results)


class _Phases:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.mark = time.process_time()

    def __call__(self, name: str) -> None:
        now = time.process_time()
        self.spent[name] = self.spent.get(name, 0.0) + now - self.mark
        self.mark = now


class Meter:
    """Wall and CPU time of one round, from its start, and CPU per phase."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.cpu0 = self.proc.cpu_times()
        self.t0 = time.perf_counter()
        self.started = utcnow()
        self.phase = _Phases()

    def cpu(self) -> tuple[float, float]:
        now = self.proc.cpu_times()
        return now.user - self.cpu0.user, now.system - self.cpu0.system


def start_round(cfg: Config, meter: Meter) -> RunSummary:
    """The round's id and summary; call it holding the poll lock."""
    rid = next_run_id(cfg.db_path)
    summary = RunSummary(rid.value, [], 0.0, 0.0)
    if rid.clock_behind_s:
        summary.warnings.append(
            f"this machine's clock is {rid.clock_behind_s:.0f} s behind the last run's; "
            "run ids continue from the last one (alerts are judged in run order)")
    return summary


def peak_rss_bytes() -> int:
    """This process's peak resident size. Linux's VmHWM, because ru_maxrss carries the
    parent's size over fork and exec (a daemon started by a big process would report it)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB elsewhere


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
        if duck is not None:
            summary.stored = summary.delivery.reports[duck.name].ok
            if summary.stored:
                duck.record_drops(queue.take_dropped(), utcnow())
                summary.went_down = _went_down(duck, run_id, results)
            duck.checkpoint()
        phase("store")
        if duck is not None and duck.con is not None and summary.stored:
            try:
                summary.maintenance = duck.maintain(utcnow())
            except (StorageError, OSError, duckdb.Error) as exc:
                # The samples are stored; archiving waits for the next run.
                summary.errors.append(f"archiving deferred: {exc}")
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
                summary.errors.append(f"sink {s.name}: close failed: {exc}")
    if duck is not None and summary.maintenance is not None:
        try:
            duck.finish()
        except (StorageError, OSError, duckdb.Error) as exc:
            summary.errors.append(f"rewrite deferred: {exc}")
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


def refuse_if_blocked(cfg: Config, sinks: Sequence[Sink]) -> None:
    """No round while a sink that blocks (``when_full = "block"``) has a full queue: what
    is collected must not be dropped, so nothing new is collected until it drains."""
    why = fanout.blocked(sinks, Queue(cfg.spool_path))
    if why:
        raise StorageError("; ".join(why))


def run_poll(cfg: Config, hosts: Sequence[Host], probes: Sequence[Probe],
             progress: Callable[[HostResult], None] | None = None,
             sinks: Sequence[Sink] | None = None) -> RunSummary:
    """A whole round, ending with the batch in every sink (or queued for those that could
    not take it) and the notifications sent."""
    meter = Meter()
    if sinks is None:
        sinks = [DuckDBSink.from_settings(cfg)]
    signals: list[int] = []
    with poll_lock(cfg.db_path, cfg.poller.lock_wait), _deferred(signals):
        refuse_if_blocked(cfg, sinks)
        summary = start_round(cfg, meter)
        concurrency, lowered = fd_budget(min(cfg.poller.concurrency, max(len(hosts), 1)))
        if lowered:
            summary.warnings.append(lowered)
        results = asyncio.run(_poll(cfg, hosts, probes, progress, concurrency, signals))
        judged = store_round(cfg, summary, meter, results, probes, sinks)
    finish_round(cfg, summary, meter, judged)
    summary.signal = signals[0] if signals else None
    return summary


async def _poll(cfg: Config, hosts: Sequence[Host], probes: Sequence[Probe],
                progress: Callable[[HostResult], None] | None, concurrency: int,
                signals: list[int]) -> list[HostResult]:
    """The SSH round; SIGINT or SIGTERM cuts the hosts still running (``interrupted``),
    and the round goes on to store what arrived."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def stopping(sig: int) -> None:
        signals.append(sig)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopping, sig)
    try:
        return await poll_hosts(cfg, hosts, probes, progress, concurrency, stop)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)  # which restores the default, not _deferred's
            signal.signal(sig, _noting(signals))


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


def _noting(signals: list[int]) -> Callable[[int, Any], None]:
    def note(sig: int, _frame: Any) -> None:
        signals.append(sig)
    return note


@contextlib.contextmanager
def _deferred(signals: list[int]) -> Iterator[None]:
    """Outside the SSH round (storing, archiving, judging), a stop signal is noted and
    acted on once the batch is safe: the caller exits 128 + its number afterwards."""
    previous = {sig: signal.signal(sig, _noting(signals)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["Meter", "RunSummary", "finish_round", "run_poll", "start_round", "store_round"]
