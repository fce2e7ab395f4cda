"""Polling a fleet once: plan per host, run with bounded concurrency and deadlines,
collect, and turn the results into one engine-neutral batch (storing it is the
pipeline's job, :mod:`onion.pipeline.round`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from onion.core.clock import utcnow
from onion.core.config import Config
from onion.core.errors import ConfigError, Timeout, TransportError
from onion.core.status import HostStatus
from onion.inventory.model import Host
from onion.poller import plan, redact
from onion.poller.collect import HostResult, collect
from onion.poller.transport import LocalTransport, SSHTransport, TransportOptions
from onion.probes.base import Probe, Table
from onion.storage import schema
from onion.storage.batch import Batch

log = logging.getLogger("onion.poller")

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


def watched_files(cfg: Config) -> list[str]:
    """The files every host watches: ``[probes.files] watch``, else the older
    ``[files] watch``."""
    mine = cfg.probes.settings.get("files", {})
    watch = mine.get("watch", cfg.files.watch)
    if not isinstance(watch, list) or not all(isinstance(w, str) for w in watch):
        raise ConfigError("[probes.files] watch must be a list of paths")
    return watch


def host_vars(cfg: Config, host: Host) -> dict[str, Any]:
    hv = dict(host.vars)
    extra = hv.get("watch_files") or []
    if isinstance(extra, str):
        extra = [extra]
    hv["watch_files"] = list(dict.fromkeys([*watched_files(cfg), *extra]))
    return hv


def host_probes(probes: Sequence[Probe], hv: dict[str, Any]) -> list[Probe]:
    off = hv.get("probes_disable") or []
    return [p for p in probes if p.name not in off]


async def _poll_host(host: Host, probes: list[Probe], script: plan.Script, transport: Any,
                     sem: asyncio.Semaphore, delay: float = 0.0) -> HostResult:
    if delay > 0:
        await asyncio.sleep(delay)  # the daemon's per-host jitter within a round
    async with sem:
        started = utcnow()
        try:
            raw = await transport.run(host, script)
            result = collect(host, probes, raw)
        except TransportError as exc:
            return HostResult(host, exc.status, str(exc), collected_at=started)
        except Exception as exc:  # a bug while polling one host costs that host only
            log.debug("polling %s failed", host.name, exc_info=True)
            return HostResult(host, HostStatus.FAILED,
                              f"Onion failed on this host: {type(exc).__name__}: {exc}",
                              collected_at=started)
        result.collected_at = started
        return result


# File descriptors a host being polled holds: a socket over SSH; three pipes, both ends
# for a moment, for the local transport. What is left over is for the database, logs,
# the queue and Python itself.
FDS_PER_HOST = 6
FDS_RESERVED = 64


def fd_budget(wanted: int) -> tuple[int, str | None]:
    """Raise the soft limit on open files to the hard one, and the concurrency that fits
    under it (with why it was lowered, if it was): running out of descriptors mid-round
    would make healthy hosts look unreachable."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    fits = max(1, (soft - FDS_RESERVED) // FDS_PER_HOST)
    if wanted <= fits:
        return wanted, None
    return fits, (f"[poller] concurrency {wanted} lowered to {fits}: {soft} open files allowed "
                  f"(ulimit -n); raise the limit to poll more hosts at once")


async def poll_hosts(cfg: Config, hosts: Sequence[Host], probes: Sequence[Probe],
                     progress: Callable[[HostResult], None] | None = None,
                     concurrency: int | None = None,
                     stop: asyncio.Event | None = None, ssh: SSHTransport | None = None,
                     delays: Mapping[str, float] | None = None) -> list[HostResult]:
    """Every host once, at most ``concurrency`` at a time, within ``[poller] run_timeout``;
    ``stop`` set (a signal) cuts the hosts still running: their results say so.

    ``ssh``: a transport the caller keeps (the daemon's, with connections kept open);
    else one for this round, closed at its end. ``delays``: seconds each host waits
    before its turn."""
    opts = transport_options(cfg)
    own = ssh is None
    if own and any(not h.local for h in hosts):
        ssh = SSHTransport(opts)
        ssh.plan(h for h in hosts if not h.local)
    local = LocalTransport(opts)
    delays = delays or {}
    sem = asyncio.Semaphore(concurrency or cfg.poller.concurrency)
    token = plan.secrets.token_hex(12)
    scripts: dict[Any, plan.Script] = {}
    tasks: dict[asyncio.Task[HostResult], Host] = {}
    for host in hosts:
        hv = host_vars(cfg, host)
        hp = host_probes(probes, hv)
        key = (tuple(p.name for p in hp), tuple(hv["watch_files"]))
        if key not in scripts:  # identical hosts share one script text
            scripts[key] = plan.build(hp, hv, section_timeout=cfg.poller.section_timeout,
                                      token=token, settings=cfg.probes.settings)
        transport = local if host.local else ssh
        task = asyncio.create_task(_poll_host(host, hp, scripts[key], transport, sem,
                                              delays.get(host.name, 0.0)))
        if progress:
            task.add_done_callback(lambda t: t.cancelled() or progress(t.result()))
        tasks[task] = host
    results: dict[str, HostResult] = {}
    if tasks:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.poller.run_timeout
        pending: set[asyncio.Future[Any]] = set(tasks)
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        while pending and loop.time() < deadline:
            done_now, _ = await asyncio.wait(
                pending | ({stopper} if stopper else set()), timeout=deadline - loop.time(),
                return_when=asyncio.FIRST_COMPLETED)
            pending -= done_now
            if stopper is not None and stopper in done_now:
                break
        if stopper is not None:
            stopper.cancel()
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            h = tasks[task]
            if stop is not None and stop.is_set():
                results[h.name] = HostResult(h, HostStatus.INTERRUPTED,
                                             "cut: the poller was told to stop mid-round")
            else:
                results[h.name] = HostResult(h, Timeout.status, "cut at the whole-run "
                                             f"deadline of {cfg.poller.run_timeout:g} s")
        for task in tasks:
            if task not in pending:
                results[tasks[task].name] = task.result()
    if own and ssh is not None:
        await ssh.aclose()  # jump hosts a deadline left open
    return [results[h.name] for h in hosts]


def make_batch(run_id: int, results: Sequence[HostResult], probes: Sequence[Probe],
               run_row: dict[str, Any],
               redactor: redact.Redactor | None = redact.DEFAULT) -> Batch:
    """One run's rows, column by column; command lines masked by ``redactor`` (None:
    stored as they are)."""
    tables = schema.tables_for(probes)
    data: dict[str, dict[str, list[Any]]] = {
        name: {c: [] for c in spec.names} for name, spec in tables.items()}
    data["runs"] = {k: [run_row.get(k)] for k in tables["runs"].names}
    records_of = {p.name: p.record for p in probes}
    polls, results_cols, hosts = data["polls"], data["probe_results"], data["hosts"]
    for r in results:
        h = r.host
        os_name = r.os.value if r.os else None
        status = str(r.status)
        for k, v in (("run_id", run_id), ("host", h.name), ("ts", r.collected_at),
                     ("status", status), ("reason", r.reason), ("os", os_name),
                     ("uname", r.uname), ("connect_s", r.connect_s),
                     ("command_s", r.command_s), ("bytes_read", r.bytes_read),
                     ("host_key", r.host_key)):
            polls[k].append(v)
        for k, v in (("host", h.name), ("address", h.address), ("port", h.port),
                     ("user", h.user), ("groups", list(h.groups)), ("os", os_name),
                     ("first_seen", r.collected_at), ("last_seen", r.collected_at),
                     ("last_ok", r.collected_at if r.status == HostStatus.OK else None),
                     ("last_status", status), ("last_reason", r.reason)):
            hosts[k].append(v)
        for pr in r.probes.values():
            for k, v in (("run_id", run_id), ("host", h.name), ("ts", r.collected_at),
                         ("probe", pr.probe), ("status", str(pr.status)),
                         ("reason", pr.reason), ("records", len(pr.records))):
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
    return Batch(run_id, tables, data)
