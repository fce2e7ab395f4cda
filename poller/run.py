"""One round: plan per host, run with bounded concurrency and deadlines, collect, store."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from onion.inventory.model import Host
from onion.poller import plan, redact, store
from onion.poller.collect import HostResult, collect, utcnow
from onion.poller.config import Config
from onion.poller.errors import OnionError, StorageError, Timeout, TransportError
from onion.poller.transport import LocalTransport, SSHTransport, TransportOptions
from onion.probes.base import Probe, Table

__version__ = "0.1.0"


def transport_options(cfg: Config) -> TransportOptions:
    p, s = cfg.poller, cfg.ssh
    return TransportOptions(
        connect_timeout=p.connect_timeout, command_timeout=p.command_timeout,
        keepalive_interval=p.keepalive_interval, max_output_bytes=p.max_output_bytes,
        max_section_bytes=p.max_section_bytes,
        known_hosts=tuple(Path(k).expanduser() for k in s.known_hosts),
        host_key_policy=s.host_key_policy,
        accept_new_file=Path(s.accept_new_file).expanduser() if s.accept_new_file else None,
        ssh_config=tuple(Path(c).expanduser() for c in s.config),
        user=s.user or None,
        identity_files=tuple(Path(k).expanduser() for k in s.identity_files),
        agent=s.agent)


def host_vars(cfg: Config, host: Host) -> dict[str, Any]:
    hv = dict(host.vars)
    extra = hv.get("watch_files") or []
    if isinstance(extra, str):
        extra = [extra]
    hv["watch_files"] = list(dict.fromkeys([*cfg.files.watch, *extra]))
    return hv


def host_probes(probes: Sequence[Probe], hv: dict[str, Any]) -> list[Probe]:
    off = hv.get("probes_disable") or []
    return [p for p in probes if p.name not in off]


@dataclass(slots=True)
class RunSummary:
    run_id: int
    results: list[HostResult]
    wall_s: float
    cpu_s: float
    spooled: bool = False
    ingest: store.IngestReport | None = None
    maintenance: Any = None            # archive.MaintainReport, when it ran
    extra: dict[str, Any] = field(default_factory=dict)
    # CPU seconds of this process per phase (poll, batch, store, archive, alerts)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return sum(r.status == "ok" for r in self.results)


@contextlib.contextmanager
def poll_lock(db: Path, wait: float) -> Iterator[None]:
    """Two polls on one database never overlap: the second waits, then gives up clearly."""
    db.parent.mkdir(parents=True, exist_ok=True)
    path = db.with_name(db.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    raise StorageError(
                        f"another onion poll (pid {holder or '?'}) holds {path}; "
                        "not starting a second one (set [poller] lock_wait to wait)") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


async def _poll_host(host: Host, probes: list[Probe], script: plan.Script, transport: Any,
                     sem: asyncio.Semaphore) -> HostResult:
    async with sem:
        started = utcnow()
        try:
            raw = await transport.run(host, script)
        except TransportError as exc:
            return HostResult(host, exc.status, str(exc), collected_at=started)
        result = collect(host, probes, raw)
        result.collected_at = started
        return result


async def poll_hosts(cfg: Config, hosts: Sequence[Host], probes: Sequence[Probe],
                     progress: Callable[[HostResult], None] | None = None) -> list[HostResult]:
    opts = transport_options(cfg)
    ssh = SSHTransport(opts) if any(not h.local for h in hosts) else None
    local = LocalTransport(opts)
    sem = asyncio.Semaphore(cfg.poller.concurrency)
    token = plan.secrets.token_hex(12)
    scripts: dict[Any, plan.Script] = {}
    tasks: dict[asyncio.Task[HostResult], Host] = {}
    for host in hosts:
        hv = host_vars(cfg, host)
        hp = host_probes(probes, hv)
        key = (tuple(p.name for p in hp), tuple(hv["watch_files"]))
        if key not in scripts:  # identical hosts share one script text
            scripts[key] = plan.build(hp, hv, section_timeout=cfg.poller.section_timeout,
                                      token=token)
        transport = local if host.local else ssh
        task = asyncio.create_task(_poll_host(host, hp, scripts[key], transport, sem))
        if progress:
            task.add_done_callback(lambda t: t.cancelled() or progress(t.result()))
        tasks[task] = host
    results: dict[str, HostResult] = {}
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=cfg.poller.run_timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            h = tasks[task]
            results[h.name] = HostResult(h, Timeout.status, "cut at the whole-run deadline "
                                         f"of {cfg.poller.run_timeout:g} s")
        for task in done:
            results[tasks[task].name] = task.result()
    return [results[h.name] for h in hosts]


def make_batch(run_id: int, results: Sequence[HostResult], probes: Sequence[Probe],
               run_row: dict[str, Any],
               redactor: redact.Redactor | None = redact.DEFAULT) -> store.Batch:
    """One run's rows, column by column; command lines masked by ``redactor`` (None:
    stored as they are)."""
    tables: dict[str, list[tuple[str, str]]] = {}
    counters: dict[str, dict[str, Any]] = {}
    data: dict[str, dict[str, list[Any]]] = {
        "runs": {k: [v] for k, v in run_row.items()},
        "polls": {c: [] for c, _ in store.POLL_COLUMNS},
        "probe_results": {c: [] for c, _ in store.PROBE_RESULT_COLUMNS},
        "hosts": {c.split()[0]: [] for c, _ in store.HOST_COLUMNS},
    }
    records_of = {}
    for p in probes:
        tables[p.name], counters[p.name] = store.columns_for(p)
        data[p.name] = {c: [] for c, _ in tables[p.name]}
        records_of[p.name] = p.record
    polls, results_cols, hosts = data["polls"], data["probe_results"], data["hosts"]
    for r in results:
        h = r.host
        os_name = r.os.value if r.os else None
        for k, v in (("run_id", run_id), ("host", h.name), ("ts", r.collected_at),
                     ("status", r.status), ("reason", r.reason), ("os", os_name),
                     ("uname", r.uname), ("connect_s", r.connect_s),
                     ("command_s", r.command_s), ("bytes_read", r.bytes_read),
                     ("host_key", r.host_key)):
            polls[k].append(v)
        for k, v in (("host", h.name), ("address", h.address), ("port", h.port),
                     ("user", h.user), ("groups", list(h.groups)), ("os", os_name),
                     ("first_seen", r.collected_at), ("last_seen", r.collected_at),
                     ("last_ok", r.collected_at if r.status == "ok" else None),
                     ("last_status", r.status), ("last_reason", r.reason)):
            hosts[k].append(v)
        for pr in r.probes.values():
            for k, v in (("run_id", run_id), ("host", h.name), ("ts", r.collected_at),
                         ("probe", pr.probe), ("status", pr.status), ("reason", pr.reason),
                         ("records", len(pr.records))):
                results_cols[k].append(v)
            if not pr.records or pr.probe not in records_of:
                continue
            cols = data[pr.probe]
            n = len(pr.records)
            cols["run_id"].extend([run_id] * n)
            cols["host"].extend([h.name] * n)
            cols["ts"].extend([r.collected_at] * n)
            for name, values in Table.of(records_of[pr.probe], pr.records).columns.items():
                cols[name].extend(values)
    if redactor is not None:
        for table, fields in redact.FIELDS.items():
            for name in fields:
                if table in data and name in data[table]:
                    # A cluster runs the same command lines on many hosts: mask each once.
                    seen: dict[str, str] = {}
                    data[table][name] = [
                        (seen[v] if v in seen else seen.setdefault(v, redactor(v)))
                        if isinstance(v, str) else v for v in data[table][name]]
    return store.Batch(run_id, tables, data, counters)


def run_poll(cfg: Config, hosts: Sequence[Host], probes: Sequence[Probe],
             progress: Callable[[HostResult], None] | None = None) -> RunSummary:
    """A whole round, ending with the batch stored (or spooled if the database is locked)."""
    proc = psutil.Process()
    cpu0 = proc.cpu_times()
    t0 = time.perf_counter()
    started = utcnow()
    run_id = time.time_ns() // 1000
    phases: dict[str, float] = {}
    mark = time.process_time()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.process_time()
        phases[name] = phases.get(name, 0.0) + now - mark
        mark = now

    with poll_lock(cfg.db_path, cfg.poller.lock_wait):
        results = asyncio.run(poll_hosts(cfg, hosts, probes, progress))
        phase("poll")
        cpu1 = proc.cpu_times()
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak *= 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        run_row = {
            "run_id": run_id, "started_at": started, "finished_at": utcnow(), "wall_s": wall,
            "hosts": len(results), "hosts_ok": sum(r.status == "ok" for r in results),
            "cpu_user_s": cpu1.user - cpu0.user, "cpu_system_s": cpu1.system - cpu0.system,
            "peak_rss_bytes": peak, "version": __version__, "argv": " ".join(sys.argv[1:])[:500]}
        batch = make_batch(run_id, results, probes, run_row, redact.from_settings(
            cfg.privacy.redact_args, cfg.privacy.redact_patterns))
        phase("batch")
        # One connection for storing, archiving and judging alerts: opening a database
        # costs tens of milliseconds each time, whatever the fleet's size.
        report, con = store.ingest_and_keep(cfg.db_path, store.Spool(cfg.spool_path), batch)
        phase("store")
        maintenance = judged = None
        if con is not None:
            from onion.poller import archive
            from onion.poller.alerts import live

            try:
                if report.error is None:
                    try:
                        maintenance = archive.maintain(cfg.db_path, cfg.archive_path,
                                                       cfg.retention(), utcnow(),
                                                       spool=cfg.spool_path, con=con)
                    except (StorageError, OSError, archive.duckdb.Error) as exc:
                        # The samples are stored; archiving waits for the next run.
                        report.error = f"archiving deferred: {exc}"
                    phase("archive")
                # Never raises: a failure is logged, the next run catches up.
                judged = live.judge_after_poll(cfg, con, utcnow())
                phase("alerts")
            finally:
                con.close()
            if maintenance is not None:
                try:
                    archive.finish(maintenance, cfg.db_path, cfg.archive_path, cfg.spool_path)
                except (StorageError, OSError, archive.duckdb.Error) as exc:
                    report.error = f"rewrite deferred: {exc}"
                phase("archive")
            live.deliver_after_poll(cfg, cfg.db_path, judged)
            phase("alerts")
    cpu2 = proc.cpu_times()
    summary = RunSummary(run_id, results, time.perf_counter() - t0,
                         (cpu2.user - cpu0.user) + (cpu2.system - cpu0.system),
                         spooled=run_id not in report.ingested and run_id not in report.skipped,
                         ingest=report, maintenance=maintenance, phases=phases)
    return summary


__all__ = ["OnionError", "RunSummary", "run_poll"]
