"""``onion daemon``: the round of ``onion poll`` on a schedule, in one long-lived process.

What it keeps between rounds: one SSH connection per host (and per jump host), the
inventory, the probes and plugins, and the hold on its database (the poll lock: a cron
``onion poll`` beside it refuses to start). Each round: poll with the kept connections,
store through the same sinks and queue as ``onion poll`` (on a thread, so the API keeps
answering), judge alerts, send notifications, tell the alert stream's listeners.

Signals: SIGHUP reloads the config and inventory (a bad one is refused and the running
one kept); SIGTERM or SIGINT lets the hosts mid-round finish for ``[daemon]
stop_timeout`` seconds, cuts the rest, stores the round and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from onion.alerts import config as alert_config
from onion.alerts import live
from onion.core import duration
from onion.core.clock import utcnow
from onion.core.config import Config
from onion.core.errors import ConfigError, OnionError, StorageError
from onion.core.plugins import Registry
from onion.core.units import parse_budget
from onion.core.version import __version__
from onion.daemon import api, central, schedule
from onion.daemon.central import Central
from onion.daemon.db import Database
from onion.inventory import limit as limit_mod
from onion.inventory.model import Host
from onion.pipeline import check as checks
from onion.pipeline import setup
from onion.pipeline.lock import poll_lock
from onion.pipeline.round import Meter, RunSummary, refuse_if_blocked, start_round
from onion.pipeline.store import finish_round, store_round
from onion.poller.collect import HostResult
from onion.poller.run import fd_budget, poll_hosts, transport_options
from onion.poller.transport import KeepOptions, SSHTransport
from onion.probes.base import Probe
from onion.storage import duck as store
from onion.storage import fanout
from onion.storage.queue import Queue

log = logging.getLogger("onion.daemon")
FORWARD_RETRY_S = 5.0
rounds_log = logging.getLogger("onion.daemon.rounds")  # one line per round: `-v`

HISTORY = 200          # rounds remembered for /api/status
SUBSCRIBER_BACKLOG = 1000  # alert events a slow stream listener may lag behind


@dataclass(slots=True)
class RoundRecord:
    """One round as the daemon saw it."""

    reason: str                       # schedule, request, start
    started_at: dt.datetime
    run_id: int | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    hosts: int = 0
    ok: int = 0
    failed: int = 0
    stored: bool = False
    interrupted: bool = False
    skipped_after: int = 0            # slots that passed while it ran
    errors: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat() + "Z"
        del out["statuses"]
        return out


@dataclass(slots=True)
class Loaded:
    """What a config file gives: rebuilt whole on reload, swapped in one step."""

    cfg: Config
    hosts: list[Host]
    registry: Registry
    probes: list[Probe]
    warnings: list[str]


def load(config_path: str | None, db: str | None, inventory: str | None,
         limit: str | None, shard: str | None = None) -> Loaded:
    cfg = setup.load_config(config_path, db)
    hosts, warnings = setup.inventory(cfg, inventory, limit, shard)
    reg = setup.plugins(cfg)
    probes = setup.probes(cfg, reg)
    setup.sinks(cfg, reg)   # a sink that cannot be configured stops the start (or reload)
    bad = checks.rule_errors([r for r in alert_config.check(cfg) if not r.builtin], probes)
    if bad:
        from onion.core.i18n import _

        raise ConfigError(_("{problems} (onion check lists every problem)").format(
            problems="; ".join(bad)))
    return Loaded(cfg, hosts, reg, probes, [*warnings, *reg.broken])


def _seconds(text: str, where: str) -> float:
    return duration.parse(text, where).total_seconds()


class Daemon:
    def __init__(self, config_path: str | None = None, db: str | None = None,
                 inventory: str | None = None, limit: str | None = None,
                 shard: str | None = None) -> None:
        self._args = (config_path, db, inventory, limit, shard)
        self.loaded = load(*self._args)
        for line in self.loaded.warnings:
            log.warning("onion: %s", line)
        self.db = Database(self.cfg.db_path)
        self.central = Central(self.cfg, self.loaded.registry, self.db.writing) \
            if self.cfg.daemon.role == "central" else None
        self.ssh = self._transport()
        self.started_at = utcnow()
        self.rounds: deque[RoundRecord] = deque(maxlen=HISTORY)
        self.current: RoundRecord | None = None
        self.next_at: float | None = None
        self.counts = {"rounds": 0, "skipped": 0, "overran": 0, "reloads": 0,
                       "reload_errors": 0, "requests": 0}
        self.last_reload_error: str | None = None
        self.stopping = asyncio.Event()
        self._cut = asyncio.Event()       # hosts mid-round are cut when set
        self._wake = asyncio.Event()
        self._reload_wanted = False
        self._reload_waiters: list[asyncio.Future[str | None]] = []
        self._requests: list[tuple[set[str], asyncio.Future[RoundRecord]]] = []
        self._removed: set[str] = set()   # hosts that left: their alerts to resolve
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.queue_waiting: dict[str, int] = {}
        self._forward_wake = asyncio.Event()   # a round queued batches to forward
        self._forward_error: str | None = None

    # -- what the API reads -------------------------------------------------------------

    @property
    def cfg(self) -> Config:
        return self.loaded.cfg

    @property
    def hosts(self) -> list[Host]:
        return self.loaded.hosts

    def status(self) -> dict[str, Any]:
        d = self.cfg.daemon
        last = self.rounds[-1] if self.rounds else None
        return {
            "pid": os.getpid(), "version": __version__,
            "started_at": self.started_at.isoformat() + "Z",
            "config": str(self.cfg.source) if self.cfg.source else None,
            "database": str(self.cfg.db_path), "socket": str(self.cfg.socket_path),
            "interval_s": _seconds(d.interval, "[daemon] interval"),
            "hosts": len(self.hosts), "probes": [p.name for p in self.loaded.probes],
            "role": d.role, "shard": self._args[4] or d.shard or None,
            "central": self.central.status() if self.central else None,
            "round_running": self.current.as_json() if self.current else None,
            "next_round_at": (dt.datetime.fromtimestamp(self.next_at, dt.UTC)
                              .replace(tzinfo=None).isoformat() + "Z")
            if self.next_at else None,
            "last_round": last.as_json() if last else None,
            "rounds": dict(self.counts), "connections_open": self.ssh.open_connections,
            "ssh_logins": self.ssh.connects, "queue": dict(self.queue_waiting),
            "last_reload_error": self.last_reload_error,
        }

    def listen(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._listeners.add(q)
        return q

    def unlisten(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._listeners.discard(q)

    def _tell(self, events: Iterable[dict[str, Any]]) -> None:
        for ev in events:
            for q in list(self._listeners):
                try:
                    q.put_nowait(ev)
                except asyncio.QueueFull:  # a listener that stopped reading is let go
                    self._listeners.discard(q)
                    with contextlib.suppress(asyncio.QueueFull):
                        q.put_nowait({"event": "overflow"})

    async def poll_now(self, limit: str | None) -> RoundRecord:
        """A round for these hosts as soon as none is running (requests that arrive
        meanwhile share one)."""
        chosen = limit_mod.select(self.hosts, limit) if limit else list(self.hosts)
        if not chosen:
            raise ConfigError(f"--limit {limit!r} matches no host of the inventory")
        fut: asyncio.Future[RoundRecord] = asyncio.get_running_loop().create_future()
        self._requests.append(({h.name for h in chosen}, fut))
        self.counts["requests"] += 1
        self._wake.set()
        return await fut

    def reload_soon(self) -> None:
        self._reload_wanted = True
        self._wake.set()

    async def reload_now(self) -> str | None:
        """Reload between rounds; the reason it was refused, or None."""
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._reload_waiters.append(fut)
        self.reload_soon()
        return await fut

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("onion daemon: stopping (hosts mid-round get %g s)",
                     self.cfg.daemon.stop_timeout)
            self.stopping.set()
            asyncio.get_running_loop().call_later(self.cfg.daemon.stop_timeout, self._cut.set)
            if self.current is None:
                self._cut.set()
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------

    async def run(self, ready: Any = None) -> None:
        """Serve until stopped. ``ready`` (optional) is called once the API listens."""
        loop = asyncio.get_running_loop()
        with poll_lock(self.cfg.db_path, 0.0, holder="onion daemon"):
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.reload_soon)
            server = await api.start(self)
            try:
                log.info("onion daemon %s: %d host(s), every %s, API on %s%s", __version__,
                         len(self.hosts), self.cfg.daemon.interval, self.cfg.socket_path,
                         f" and https://{self.cfg.daemon.listen}"
                         if self.cfg.daemon.listen else "")
                if ready is not None:
                    ready()
                await asyncio.to_thread(self._catch_up)
                forwarder = asyncio.create_task(self._forwarder())
                try:
                    await self._loop()
                finally:
                    forwarder.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await forwarder
            finally:
                await server.cleanup()
                with contextlib.suppress(OSError):
                    self.cfg.socket_path.unlink()
                await self.ssh.aclose()
                await asyncio.to_thread(self.db.close)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        log.info("onion daemon: stopped")

    async def _loop(self) -> None:
        interval = _seconds(self.cfg.daemon.interval, "[daemon] interval")
        self.next_at = schedule.next_slot(time.time(), interval)
        while not self.stopping.is_set():
            self._wake.clear()
            if self._reload_wanted:
                self._reload_wanted = False
                waiters, self._reload_waiters = self._reload_waiters, []
                error = await self._reload()
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(error)
                interval = _seconds(self.cfg.daemon.interval, "[daemon] interval")
                self.next_at = schedule.next_slot(time.time(), interval)
                continue
            if self._requests:
                wanted, self._requests = self._requests, []
                names = set().union(*(w for w, _ in wanted))
                rec = await self._round([h for h in self.hosts if h.name in names], "request")
                for _, fut in wanted:
                    if not fut.done():
                        fut.set_result(rec)
                continue
            wait = self.next_at - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            slot = self.next_at
            rec = await self._round(self.hosts, "schedule")
            missed = schedule.slots_missed(slot, time.time(), interval)
            if missed:
                rec.skipped_after = missed
                self.counts["overran"] += 1
                self.counts["skipped"] += missed
                log.warning("onion daemon: round %s took %.1f s, past the %g s interval: "
                            "%d round(s) skipped, never run on top of each other",
                            rec.run_id, rec.wall_s or 0.0, interval, missed)
            self.next_at = schedule.next_slot(time.time(), interval)
        for _, fut in self._requests:
            if not fut.done():
                fut.set_exception(OnionError("the daemon stopped before this round ran"))
        for waiter in self._reload_waiters:
            if not waiter.done():
                waiter.set_result("the daemon stopped first")

    def _transport(self) -> SSHTransport:
        d = self.cfg.daemon
        return SSHTransport(transport_options(self.cfg), KeepOptions(
            max_age=_seconds(d.max_connection_age, "[daemon] max_connection_age"),
            backoff_min=_seconds(d.reconnect_min, "[daemon] reconnect_min"),
            backoff_max=_seconds(d.reconnect_max, "[daemon] reconnect_max")))

    async def _reload(self) -> str | None:
        try:
            new = await asyncio.to_thread(load, *self._args)
            if new.cfg.db_path != self.cfg.db_path:
                raise ConfigError(f"the database changed ({self.cfg.db_path} → "
                                  f"{new.cfg.db_path}): restart the daemon for that")
        except (OnionError, OSError) as exc:
            self.counts["reload_errors"] += 1
            self.last_reload_error = str(exc)
            log.error("onion daemon: reload refused, still running the previous config: %s",
                      exc)
            return str(exc)
        try:
            if new.cfg.daemon.role != self.cfg.daemon.role:
                raise ConfigError(f"[daemon] role changed ({self.cfg.daemon.role} → "
                                  f"{new.cfg.daemon.role}): restart the daemon for that")
            if self.central is not None:
                self.central.reconfigure(new.cfg, new.registry)
        except OnionError as exc:
            self.counts["reload_errors"] += 1
            self.last_reload_error = str(exc)
            log.error("onion daemon: reload refused, still running the previous config: %s",
                      exc)
            return str(exc)
        old = {h.name for h in self.hosts}
        now = {h.name for h in new.hosts}
        self._removed |= old - now
        self._removed -= now
        for line in new.warnings:
            log.warning("onion: %s", line)
        if transport_options(new.cfg) != transport_options(self.cfg):
            await self.ssh.aclose()  # new keys, timeouts or known_hosts: connect afresh
            self.loaded = new
            self.ssh = self._transport()
        else:
            self.loaded = new
            await self.ssh.forget(now)
        self.counts["reloads"] += 1
        self.last_reload_error = None
        log.info("onion daemon: reloaded: %d host(s) (%d added, %d removed)", len(now),
                 len(now - old), len(old - now))
        return None

    # -- one round ------------------------------------------------------------------------

    async def _round(self, hosts: list[Host], reason: str) -> RoundRecord:
        cfg, probes = self.cfg, self.loaded.probes
        meter = Meter()
        rec = RoundRecord(reason, meter.started, hosts=len(hosts),
                          statuses={h.name: "polling" for h in hosts})
        self.current = rec
        try:
            try:
                await asyncio.to_thread(refuse_if_blocked, cfg,
                                        setup.sinks(cfg, self.loaded.registry))
            except StorageError as exc:  # a queue that blocks is full: no round, said
                rec.errors.append(f"round not run: {exc}")
                rec.statuses = {}
                self.counts["skipped"] += 1
                log.warning("onion daemon: %s", exc)
                return rec
            summary = start_round(cfg, meter)
            rec.run_id = summary.run_id
            jitter = _seconds(cfg.daemon.jitter, "[daemon] jitter") if reason == "schedule" \
                else 0.0
            delays = {h.name: schedule.jitter_of(h.name, jitter) for h in hosts}
            concurrency, lowered = fd_budget(min(cfg.poller.concurrency, max(len(hosts), 1)))
            if lowered:
                summary.warnings.append(lowered)
            if self.stopping.is_set() and self._cut.is_set():
                results: list[HostResult] = []
            else:
                results = await poll_hosts(cfg, hosts, probes, None, concurrency, self._cut,
                                           ssh=self.ssh, delays=delays)
            judged = await asyncio.to_thread(self._store, summary, meter, results)
            await asyncio.to_thread(finish_round, cfg, summary, meter, judged, self.db.writing)
            self._finished(rec, summary)
            if summary.alerts is not None and summary.alerts.runs:
                await self.announce(summary.alerts.runs)
        except Exception as exc:  # a round that fails must not end the daemon
            log.exception("onion daemon: round %s failed", rec.run_id)
            rec.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.current = None
            self.rounds.append(rec)
            self.counts["rounds"] += 1
        return rec

    def _finished(self, rec: RoundRecord, summary: RunSummary) -> None:
        rec.wall_s, rec.cpu_s = summary.wall_s, summary.cpu_s
        rec.ok = summary.ok
        rec.failed = len(summary.results) - summary.ok
        rec.stored = summary.stored
        rec.interrupted = any(r.status == "interrupted" for r in summary.results)
        rec.statuses = {r.host.name: str(r.status) for r in summary.results}
        rec.errors += [*summary.errors, *summary.delivery.errors, *summary.warnings]
        if summary.delivery.lost:
            rec.errors.append(f"batch lost: {summary.delivery.lost}")
        for line in rec.errors:
            log.warning("onion daemon: round %s: %s", rec.run_id, line)
        rounds_log.info("onion daemon: round %s (%s): %d ok, %d not ok, %.2f s%s",
                        rec.run_id, rec.reason, rec.ok, rec.failed, rec.wall_s or 0.0,
                        "" if rec.stored else ", waiting in the queue")

    def _store(self, summary: RunSummary, meter: Meter, results: list[HostResult]
               ) -> live.Judged | None:
        with self.db.writing():
            sinks = setup.sinks(self.cfg, self.loaded.registry, background=True)
            judged = store_round(self.cfg, summary, meter, results, self.loaded.probes, sinks,
                                 central.extra_tables(self.central, summary.run_id, utcnow()))
            if self._removed and summary.stored:
                self._retire(summary.run_id)
            self._note_queue()
        self._forward_wake.set()
        return judged

    def _retire(self, run_id: int) -> None:
        gone = set(self._removed)
        try:
            with store.private_files():
                con = store.connect(self.cfg.db_path)
                try:
                    n = live.retire_hosts(self.cfg, con, gone, utcnow(), run_id)
                finally:
                    con.close()
        except Exception as exc:  # OnionError, OSError, duckdb's: tried after the next round
            log.warning("onion daemon: alerts of removed hosts not resolved yet: %s", exc)
            return
        self._removed -= gone
        if n:
            log.info("onion daemon: %d alert(s) of %d removed host(s) resolved", n, len(gone))
            self._tell({"event": "resolved", "host": h, "summary": live.REMOVED}
                       for h in sorted(gone))

    def _catch_up(self) -> None:
        """Batches a previous run left queued (the daemon killed mid-store, a sink down)
        go first, before the first round."""
        queue = Queue(self.cfg.spool_path, parse_budget(self.cfg.storage.max_spool,
                                                       "max_spool"))
        if not queue.entries():
            return
        with self.db.writing():
            sinks = setup.sinks(self.cfg, self.loaded.registry, background=True)
            try:
                out = fanout.deliver(sinks, queue, None)
            finally:
                for s in sinks:
                    with contextlib.suppress(Exception):
                        s.close()
            for line in out.errors:
                log.warning("onion daemon: catching up: %s", line)
            self._note_queue()

    async def _forwarder(self) -> None:
        """Sends the batches queued for forwarding sinks (a central): after each round,
        and every FORWARD_RETRY_S while some wait (each sink keeps its own backoff). A
        slow or absent central costs the rounds nothing; the batches wait on disk."""
        self._forward_wake.set()   # what a previous run left, first
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._forward_wake.wait(), FORWARD_RETRY_S)
            self._forward_wake.clear()
            try:
                await asyncio.to_thread(self._forward)
            except Exception:  # a bug must not end the daemon; the next try comes
                log.exception("onion daemon: forwarding failed")

    def _forward(self) -> None:
        sinks = [s for s in setup.sinks(self.cfg, self.loaded.registry, background=True)
                 if getattr(s, "deferred", False)]
        queue = Queue(self.cfg.spool_path, parse_budget(self.cfg.storage.max_spool,
                                                       "max_spool"))
        if not sinks or not any(queue.pending(s.name) for s in sinks):
            return
        try:
            out = fanout.deliver(sinks, queue, None, now_too=True)
        finally:
            for s in sinks:
                with contextlib.suppress(Exception):
                    s.close()
        error = "; ".join(out.errors) or None
        if error != self._forward_error:   # said when it changes, not every retry
            if error:
                log.warning("onion daemon: forwarding: %s (batches wait in %s)", error,
                            queue.folder)
            elif self._forward_error:
                log.info("onion daemon: forwarding: caught up")
            self._forward_error = error
        for r in out.reports.values():
            for line in r.quarantined:
                log.warning("onion daemon: sink %s refused batch %s; kept in %s", r.name,
                            line, queue.quarantine_folder)
        self._note_queue()

    def _note_queue(self) -> None:
        try:
            self.queue_waiting = dict(Queue(self.cfg.spool_path).waiting())
        except OSError:
            pass

    async def announce(self, runs: list[int]) -> None:
        """The alert events of these runs, to every listener of the stream."""
        self._tell(await asyncio.to_thread(self._events, runs))

    def _events(self, runs: list[int]) -> list[dict[str, Any]]:
        try:
            with self.db.reading() as con:
                cur = con.execute(
                    "SELECT ts, run_id, rule, host, item, event, state, severity, value, "
                    "summary, notify FROM alert_events WHERE list_contains(?, run_id) "
                    "ORDER BY ts, rule, host, item", [runs])
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        except Exception as exc:  # storage or duckdb errors: the stream misses this round
            log.warning("onion daemon: alert stream: %s", exc)
            return []


__all__ = ["Daemon", "RoundRecord"]
