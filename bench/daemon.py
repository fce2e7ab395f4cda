"""Benchmark ``onion daemon``: a round over kept connections, a soak, and ``onion ctl``.

    python3 bench/daemon.py [--only round,soak,ctl] [--sizes 50,200] [--rounds 3]
        [--soak-rounds 1000] [--soak-hosts 20] [--soak-via daemon|inproc] [--ctl-runs 10]
        [--profile TOP] [--keep]

Starts loopback OpenSSH sshd "hosts" (bench/fleet.py) and prints one table per part,
each goal with PASS or MISS. Ratios are what counts: hosts, poller and peers share one
small machine, so every ratio is taken against a peer measured in the same run.

round  The daemon's own round (``Daemon._round``: start_round, poll_hosts over its kept
       SSHTransport, store_round into DuckDB under the database's write hold,
       finish_round, alerts judged) against a bare asyncssh loop that keeps its
       connections open too and runs the same script (``poller.plan.build``, as
       bench/poll.py's ``onion_script``), checking only the end marker and storing
       nothing. Both run in this process, one after the other, never at once; a warm-up
       round of each opens its connections, then ``--rounds`` measured rounds alternate
       between them (medians). Client CPU is this process's CPU time
       (``time.process_time``: every thread) around each contender's round alone. The
       bare loop offers the same ciphers as Onion (AES-GCM first), so the ratio is
       Onion's own overhead, not a cipher choice. Goals: wall <= 1.15x, client CPU <= 2x.
soak   ``--soak-rounds`` back-to-back rounds over ``--soak-hosts`` hosts, probes
       ``memory`` and ``cpu`` only (``[probes] enable``: the database stays small and
       every round still parses and stores). ``--soak-via daemon`` (default): a real
       ``onion daemon`` subprocess, each round asked for through its API
       (``POST /api/poll``, what ``onion ctl poll`` sends), with the schedule out of the
       way (interval 1d); ``inproc``: the same ``Daemon._round`` here. Resident memory
       and open descriptors of the daemon's process must stay flat (the baseline is taken
       after ``--soak-warmup`` rounds), its ESTABLISHED TCP connections to the sshd ports
       must equal the hosts after every round, and it must log in once per host.
ctl    ``onion ctl status`` against ``onion --version`` (Python and click starting, the
       floor for any verb), each a subprocess of the same entry point, against a real
       daemon (no inventory: this machine through /bin/sh). Goal: <= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import fleet as fleet_mod  # noqa: E402  (bench/ is sys.path[0] when run as a script)
import poll as poll_bench  # noqa: E402

PARTS = ("round", "forward", "soak", "ctl")
CONNECT_TIMEOUT = 60.0
COMMAND_TIMEOUT = 120.0
ROUND_TIMEOUT = CONNECT_TIMEOUT + COMMAND_TIMEOUT + 120.0  # one round, storing included
GOAL_WALL = 1.15
GOAL_CPU = 2.0
GOAL_CTL = 1.5
GOAL_FORWARD = 0.8
RSS_GROWTH = 1.2            # soak: last <= baseline x this + RSS_SLACK
RSS_SLACK = 16 << 20
FD_SLACK = 2
SOAK_PROBES = ("cpu", "memory")
DAEMON_START_S = 60.0


# ---------------------------------------------------------------------------------------
# Files: inventory and config

def write_inventory(path: Path, fl: fleet_mod.Fleet, eps: Sequence[fleet_mod.Endpoint]
                    ) -> Path:
    """Ansible INI, one line per endpoint (as tests/daemon/conftest.py writes it)."""
    lines = ["[fleet]"] + [
        f"{e.name} ansible_host={e.addr} ansible_port={e.port} ansible_user=root "
        f"ansible_ssh_private_key_file={fl.user_key}" for e in eps]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(folder: Path, fl: fleet_mod.Fleet, inventory: Path | None,
                 concurrency: int, probes: Sequence[str] = ()) -> Path:
    """A config of its own folder and database; the schedule far away (rounds are asked
    for), connections kept for a day (a soak must not see them renewed)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    enable = ", ".join(f'"{p}"' for p in probes)
    cfg = folder / "onion.toml"
    cfg.write_text(f"""\
{f'inventory = "{inventory}"' if inventory else ''}
[poller]
concurrency = {max(1, concurrency)}
connect_timeout = {CONNECT_TIMEOUT}
command_timeout = {COMMAND_TIMEOUT}

[ssh]
known_hosts = ["{fl.known_hosts}"]
identity_files = ["{fl.user_key}"]
agent = false
config = []
accept_new_file = "{folder / 'accepted'}"

[storage]
db = "{folder / 'data' / 'onion.duckdb'}"

[daemon]
interval = "1d"
jitter = "0s"
max_connection_age = "1d"
stop_timeout = 5.0
{f'[probes]{chr(10)}enable = [{enable}]' if probes else ''}
""")
    return cfg


# ---------------------------------------------------------------------------------------
# Measuring helpers

def remote_cpu_s(fl: fleet_mod.Fleet) -> float:
    """CPU of every sshd tree, live sessions included (kept connections are never reaped
    during a round, so fleet.remote_cpu_s alone would miss them)."""
    total = 0.0
    for lst in fl.listeners:
        if lst.ps is None:
            continue
        procs = [lst.ps]
        with contextlib.suppress(psutil.Error):
            procs += lst.ps.children(recursive=True)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


def established(proc: psutil.Process, peers: set[tuple[str, int]]) -> int:
    """TCP connections of ``proc`` in state ESTABLISHED to one of ``peers``."""
    return sum(1 for c in proc.net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.raddr
               and (c.raddr.ip, c.raddr.port) in peers)


def peers_of(eps: Sequence[fleet_mod.Endpoint]) -> set[tuple[str, int]]:
    return {(e.addr, e.port) for e in eps}


def onion_tool() -> list[str]:
    """The ``onion`` entry point beside this interpreter, else ``python -m onion.cli``."""
    beside = Path(sys.executable).parent / "onion"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("onion")
    return [found] if found else [sys.executable, "-m", "onion.cli"]


# ---------------------------------------------------------------------------------------
# Contenders of the round part

class OnionRounds:
    """The daemon's round, in this process: ``Daemon._round`` on its own transport and
    database hold, the poll lock held as ``Daemon.run`` holds it."""

    name = "onion-daemon"

    def __init__(self, cfg: Path, inventory: Path) -> None:
        from onion.daemon.service import Daemon
        from onion.pipeline.lock import poll_lock

        self.d = Daemon(str(cfg), None, str(inventory))
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(poll_lock(self.d.cfg.db_path, 0.0, holder="bench/daemon.py"))
        self.last_wall_s: float | None = None
        self.phases: list[dict[str, float]] = []   # CPU s per phase, each round
        finished = self.d._finished

        def noting(rec: Any, summary: Any) -> None:
            self.phases.append(dict(summary.phases))
            finished(rec, summary)

        self.d._finished = noting  # type: ignore[method-assign]

    def phase_medians(self, last: int) -> dict[str, float]:
        """Median CPU seconds per phase over the last ``last`` rounds."""
        got = self.phases[-last:]
        names = dict.fromkeys(k for p in got for k in p)
        return {k: statistics.median(p.get(k, 0.0) for p in got) for k in names}

    @property
    def logins(self) -> int:
        return self.d.ssh.connects

    async def round(self) -> tuple[int, str | None]:
        # The private round on purpose: the daemon's own code path, not a copy of it
        # that could drift (a rename breaks this bench loudly, as it should).
        rec = await self.d._round(self.d.hosts, "request")
        self.last_wall_s = rec.wall_s
        note = "; ".join(rec.errors)[:160] or None
        if not rec.stored:
            note = note or "round not stored"
        return (rec.ok if rec.stored else 0), note

    async def close(self) -> None:
        try:
            await self.d.ssh.aclose()
            await asyncio.to_thread(self.d.db.close)
        finally:
            self._lock.close()

    def probe_statuses(self) -> dict[str, int]:
        """Every probe result stored so far, by status (read after close)."""
        import duckdb

        with duckdb.connect(str(self.d.cfg.db_path), read_only=True) as con:
            return dict(con.execute(
                "SELECT status, count(*) FROM probe_results GROUP BY ALL").fetchall())


class BareRounds:
    """Connections opened once, then per round the script on each through one exec
    channel, all at once; only the end marker is checked, nothing parsed or stored."""

    name = poll_bench.BARE

    def __init__(self, fl: fleet_mod.Fleet, eps: Sequence[fleet_mod.Endpoint], script: str,
                 done: str) -> None:
        self.fl = fl
        self.eps = list(eps)
        self.script = script.encode()
        self.done = done.encode()
        self.conns: list[Any] = []

    async def open(self) -> None:
        import asyncssh

        from onion.poller.transport import ENCRYPTION_ALGS

        kw: dict[str, Any] = {
            "username": "root",
            "known_hosts": asyncssh.read_known_hosts(str(self.fl.known_hosts)),
            "client_keys": [asyncssh.read_private_key(str(self.fl.user_key))],
            "agent_path": None, "config": None,
            "connect_timeout": CONNECT_TIMEOUT, "login_timeout": CONNECT_TIMEOUT,
            "keepalive_interval": 15.0, "encryption_algs": list(ENCRYPTION_ALGS),
        }
        async with asyncio.timeout(CONNECT_TIMEOUT + 30):
            got = await asyncio.gather(*(asyncssh.connect(e.addr, e.port, **kw)
                                         for e in self.eps), return_exceptions=True)
        self.conns = [c for c in got if not isinstance(c, BaseException)]
        bad = [c for c in got if isinstance(c, BaseException)]
        if bad:
            await self.close()
            raise RuntimeError(f"bare asyncssh: {len(bad)} connect(s) failed: {bad[0]!r}")

    async def _one(self, conn: Any) -> bool:
        res = await conn.run("/bin/sh -s", input=self.script, encoding=None,
                             timeout=COMMAND_TIMEOUT)
        out = res.stdout if isinstance(res.stdout, bytes) else b""
        return self.done in out

    async def round(self) -> tuple[int, str | None]:
        async with asyncio.timeout(ROUND_TIMEOUT):
            got = await asyncio.gather(*(self._one(c) for c in self.conns),
                                       return_exceptions=True)
        errors = [repr(g) for g in got if isinstance(g, BaseException)]
        missing = sum(g is False for g in got)
        note = errors[0][:160] if errors else (f"{missing} without end marker"
                                                if missing else None)
        return sum(g is True for g in got), note

    async def close(self) -> None:
        for c in self.conns:
            c.close()
        for c in self.conns:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await c.wait_closed()
        self.conns = []


@dataclass
class Sample:
    wall_s: float
    cpu_s: float
    remote_s: float
    ok: int
    note: str | None


async def measure(fl: fleet_mod.Fleet, run: Callable[[], Any]) -> Sample:
    gc.collect()                     # the other contender's garbage is not ours to pay
    await asyncio.sleep(0.2)         # the last round's sessions settle on the hosts
    r0 = remote_cpu_s(fl)
    c0, t0 = time.process_time(), time.perf_counter()
    ok, note = await run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await asyncio.sleep(0.2)
    return Sample(wall, cpu, remote_cpu_s(fl) - r0, ok, note)


@dataclass
class SizeResult:
    n: int
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    profile: str = ""
    error: str | None = None

    def median(self, who: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples[who])

    def ok(self, who: str) -> int:
        return min(s.ok for s in self.samples[who])

    def note(self, who: str) -> str | None:
        return next((s.note for s in self.samples[who] if s.note), None)


async def round_size(tmp: Path, fl: fleet_mod.Fleet, n: int, rounds: int, script: str,
                     done: str, profile_top: int = 0) -> SizeResult:
    eps = fl.endpoints[:n]
    folder = tmp / f"round-{n}"
    folder.mkdir()
    inv = write_inventory(folder / "hosts.ini", fl, eps)
    cfg = write_config(folder, fl, inv, n)
    res = SizeResult(n, {OnionRounds.name: [], BareRounds.name: []})
    onion = OnionRounds(cfg, inv)
    bare = BareRounds(fl, eps, script, done)
    try:
        # Warm-up: each opens its connections (and Onion makes its schema).
        for who, first in ((onion.name, onion.round), (bare.name, bare.round)):
            if who == bare.name:
                await bare.open()
            ok, note = await first()
            log(f"  warm-up {who:14} N={n:<4} ok {ok}/{n} {note or ''}")
        for k in range(rounds):
            order = (onion, bare) if k % 2 == 0 else (bare, onion)
            for c in order:
                s = await measure(fl, c.round)
                res.samples[c.name].append(s)
                log(f"  {c.name:14} N={n:<4} round {k + 1}: wall {s.wall_s:6.3f} s  "
                    f"client {s.cpu_s:6.3f} s  remote {s.remote_s:6.3f} s  ok {s.ok}/{n}  "
                    f"{s.note or ''}")
        res.phases = onion.phase_medians(rounds)
        if profile_top:
            res.profile = await profile_round(onion, n, profile_top)
        if onion.logins != n:
            res.error = f"onion logged in {onion.logins} times for {n} hosts"
    finally:
        await bare.close()
        await onion.close()
    with contextlib.suppress(Exception):
        res.statuses = onion.probe_statuses()
    return res


async def profile_round(onion: OnionRounds, n: int, top: int) -> str:
    """One more Onion round (not timed) under cProfile: the event loop's thread (SSH,
    splitting, parsing) and the worker thread that stores, archives and judges alerts,
    as one table."""
    import cProfile
    import io
    import pstats

    # Each thread's own CPU, not wall (the hosts share the CPUs) nor the process's.
    prof, stored = cProfile.Profile(time.thread_time), cProfile.Profile(time.thread_time)
    store = onion.d._store

    def profiled_store(*args: Any) -> Any:
        stored.enable()
        try:
            return store(*args)
        finally:
            stored.disable()

    onion.d._store = profiled_store  # type: ignore[method-assign]
    prof.enable()
    try:
        await onion.round()
    finally:
        prof.disable()
        onion.d._store = store  # type: ignore[method-assign]
    buf = io.StringIO()
    buf.write(f"onion-daemon round on {n} hosts under cProfile (CPU time; event loop "
              f"and store threads), top {top} by tottime:\n")
    stats = pstats.Stats(prof, stream=buf)
    stats.add(stored)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue().rstrip()


def round_table(results: Sequence[SizeResult], rounds: int) -> str:
    o, b = OnionRounds.name, BareRounds.name
    rows: list[list[str]] = []
    for r in results:
        if r.error and not r.samples[o]:
            rows.append([str(r.n), "-", "-", "-", "-", "-", f"failed: {r.error}"])
            continue
        complete = r.ok(o) == r.n and r.ok(b) == r.n
        for label, attr, scale, goal in (
                ("wall s", "wall_s", 1.0, GOAL_WALL),
                ("client CPU s", "cpu_s", 1.0, GOAL_CPU),
                ("remote CPU ms/host", "remote_s", 1000.0 / r.n, None)):
            mine, theirs = r.median(o, attr) * scale, r.median(b, attr) * scale
            ratio = mine / theirs if theirs > 0 else float("inf")
            verdict = "(info)" if goal is None else \
                ("PASS" if ratio <= goal and complete else "MISS")
            rows.append([str(r.n), label, f"{mine:.3f}", f"{theirs:.3f}", f"{ratio:.2f}x",
                         f"<= {goal:.2f}x" if goal else "-", verdict])
        verdict = "PASS" if complete and not r.error else "MISS"
        rows.append([str(r.n), "hosts ok (worst round)", f"{r.ok(o)}/{r.n}",
                     f"{r.ok(b)}/{r.n}", "-", "all, stored", verdict])
        notes = [x for x in (r.error, r.note(o), r.note(b)) if x]
        if r.phases:
            notes.append("onion CPU s by phase (median; poll = SSH and parsing): " + ", ".join(
                f"{k} {v:.3f}" for k, v in r.phases.items()))
        if r.statuses:
            notes.append("probe results stored: " + ", ".join(
                f"{k} {v}" for k, v in sorted(r.statuses.items())))
        rows += [["", "", "", "", "", "", f"  {x}"] for x in notes]
    head = ["N", "metric", o, b, "ratio", "goal", "result"]
    profiles = "".join(f"\n\n{r.profile}" for r in results if r.profile)
    return (f"round: a steady-state round over kept connections; medians of {rounds} "
            "measured rounds after one warm-up (client = this process's CPU around each "
            "contender's round alone; remote = sshd trees)\n"
            + table(head, rows, left={0, 1, 6}) + profiles)


async def round_part(tmp: Path, fl: fleet_mod.Fleet, sizes: Sequence[int], rounds: int,
                     profile_top: int = 0) -> str:
    ref = write_config(tmp / "script", fl, None, 1)
    script, done = poll_bench.onion_script(ref)
    out = []
    for n in sizes:
        try:
            out.append(await round_size(tmp, fl, n, rounds, script, done, profile_top))
        except (OSError, RuntimeError, TimeoutError) as exc:
            res = SizeResult(n, {OnionRounds.name: [], BareRounds.name: []})
            res.error = f"{type(exc).__name__}: {exc}"[:200]
            out.append(res)
    return round_table(out, rounds)


# ---------------------------------------------------------------------------------------
# Forwarding: the same poller with and without a central to forward to

def central_config(folder: Path, fl: fleet_mod.Fleet, port: int) -> tuple[Path, Path, Path]:
    """A central on loopback (TLS, a poller token); its config, certificate and token."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.alerts.test_notifiers import _cert  # the tests' self-signed 127.0.0.1 cert

    cfg = write_config(folder, fl, None, 1)
    cert, key = _cert(folder)
    key.chmod(0o600)
    token = folder / "bench.token"
    token.write_text(os.urandom(20).hex() + "\n")
    token.chmod(0o600)
    api = folder / "token"
    api.write_text(os.urandom(20).hex() + "\n")
    api.chmod(0o600)
    text = cfg.read_text().replace("[daemon]\n", f"""[daemon]
listen = "127.0.0.1:{port}"
tls_cert = "{cert}"
tls_key = "{key}"
token_file = "{api}"
url = "https://127.0.0.1:{port}"
tls_ca = "{cert}"
role = "central"
""", 1)
    cfg.write_text(text + f'[central]\n[central.pollers.bench]\ntoken_file = "{token}"\n')
    return cfg, cert, token


async def forward_part(tmp: Path, fl: fleet_mod.Fleet, n: int, rounds: int) -> str:
    from tests.sshd import free_port

    port = free_port()
    ccfg, cert, token = central_config(tmp / "central", fl, port)
    central = DaemonProc(ccfg, tmp / "central.log")
    eps = fl.endpoints[:n]
    inv = write_inventory(tmp / "forward-hosts.ini", fl, eps)
    plain_cfg = write_config(tmp / "fw-plain", fl, inv, n)
    fwd_cfg = write_config(tmp / "fw-forward", fl, inv, n)
    fwd_cfg.write_text(fwd_cfg.read_text() + f"""
[sinks.central]
type = "onion"
url = "https://127.0.0.1:{port}"
token_file = "{token}"
tls_ca = "{cert}"
poller = "bench"
""")
    walls: dict[str, list[float]] = {"local DuckDB only": [], "forwarding to a central": []}
    contenders = {"local DuckDB only": OnionRounds(plain_cfg, inv),
                  "forwarding to a central": OnionRounds(fwd_cfg, inv)}
    errors: list[str] = []
    # The daemon's own forwarding task, as `onion daemon` runs it beside the rounds.
    sender = asyncio.create_task(contenders["forwarding to a central"].d._forwarder())
    try:
        for who, c in contenders.items():
            ok, note = await c.round()   # warm-up: connections, schema
            log(f"  warm-up {who:24} ok {ok}/{n} {note or ''}")
        for k in range(rounds):
            order = list(contenders.items())
            for who, c in (order if k % 2 == 0 else order[::-1]):
                ok, note = await c.round()
                walls[who].append(c.last_wall_s or 0.0)
                if ok != n or note:
                    errors.append(f"{who}: {ok}/{n} {note or ''}")
                log(f"  {who:24} round {k + 1}: wall {c.last_wall_s or 0:6.3f} s  ok {ok}/{n}")
        from onion.storage.queue import Queue

        spool = Queue(contenders["forwarding to a central"].d.cfg.spool_path)
        deadline = time.monotonic() + ROUND_TIMEOUT
        while spool.pending("central") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)   # the last round's batch still on its way
        got = central.status().get("central") or {}
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        for c in contenders.values():
            await c.close()
        central.stop()
    plain = statistics.median(walls["local DuckDB only"])
    fwd = statistics.median(walls["forwarding to a central"])
    ratio = plain / fwd if fwd else 0.0
    stored = got.get("batches", 0)
    complete = not errors and stored == rounds + 1
    rows = [["rounds/s", f"{1 / plain:.3f}", f"{1 / fwd:.3f}", f"{ratio:.2f}x",
             f">= {GOAL_FORWARD:.2f}x", "PASS" if ratio >= GOAL_FORWARD and complete else "MISS"],
            ["batches at the central", "-", f"{stored}/{rounds + 1}", "-", "all, once",
             "PASS" if stored == rounds + 1 and not got.get("duplicates") else "MISS"]]
    head = ["metric", "local only", "forwarding", "ratio", "goal", "result"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [f"forward: {n} hosts, the same round with and without a [sinks.NAME] type "
             f"\"onion\" to a central daemon on this machine; medians of {rounds}",
             "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "-" * (sum(widths) + 2 * (len(widths) - 1))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines += [f"  {e}" for e in errors[:5]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Soak

@dataclass
class Series:
    values: list[float] = field(default_factory=list)

    def add(self, v: float) -> None:
        self.values.append(v)

    def at(self, i: int) -> float:
        return self.values[min(i, len(self.values) - 1)]


@dataclass
class Soak:
    hosts: int
    rounds: int
    warmup: int
    via: str
    rss: Series = field(default_factory=Series)
    fds: Series = field(default_factory=Series)
    conns: Series = field(default_factory=Series)
    sessions: Series = field(default_factory=Series)
    walls: Series = field(default_factory=Series)
    rounds_ok: int = 0
    rounds_done: int = 0
    logins: int | None = None
    first_bad: str | None = None
    db_bytes: int = 0
    error: str | None = None
    elapsed_s: float = 0.0

    def note(self, rnd: int, ok: int, stored: bool, note: str | None) -> None:
        self.rounds_done += 1
        if ok == self.hosts and stored:
            self.rounds_ok += 1
        elif self.first_bad is None:
            self.first_bad = f"round {rnd}: {ok}/{self.hosts} ok, stored {stored}: {note}"


def sample(soak: Soak, proc: psutil.Process, fl: fleet_mod.Fleet,
           peers: set[tuple[str, int]]) -> None:
    soak.rss.add(proc.memory_info().rss)
    soak.fds.add(proc.num_fds())
    soak.conns.add(established(proc, peers))
    soak.sessions.add(fl.live_sessions())


def db_size(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


async def soak_inproc(soak: Soak, cfg: Path, inv: Path, fl: fleet_mod.Fleet,
                      eps: Sequence[fleet_mod.Endpoint]) -> None:
    onion = OnionRounds(cfg, inv)
    me, peers = psutil.Process(), peers_of(eps)
    try:
        for i in range(soak.rounds):
            ok, note = await onion.round()
            soak.note(i + 1, ok, ok > 0, note)
            soak.walls.add(onion.last_wall_s or 0.0)
            sample(soak, me, fl, peers)
            progress(soak, i)
        soak.logins = onion.logins
    finally:
        await onion.close()
        soak.db_bytes = db_size(onion.d.cfg.db_path)


class DaemonProc:
    """A real ``onion daemon`` subprocess, and a client of its API."""

    def __init__(self, cfg: Path, log_path: Path) -> None:
        from onion.daemon.client import Client
        from onion.pipeline.setup import load_config

        self.cfg = load_config(cfg)
        self.client = Client.from_config(self.cfg, timeout=ROUND_TIMEOUT)
        env = {**os.environ}
        env.pop("ONION_DB", None)
        env.pop("ONION_CONFIG", None)
        self._err = open(log_path, "ab")
        self.log_path = log_path
        self.proc = subprocess.Popen([*onion_tool(), "daemon", "--config", str(cfg)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._err, env=env, start_new_session=True)
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + DAEMON_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the daemon exited {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            if self.client.alive():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the daemon did not answer in {DAEMON_START_S:g} s: "
                           f"{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-1500:]
        return ""

    def poll(self) -> dict[str, Any]:
        rec: dict[str, Any] = self.client.post("/api/poll", {}, timeout=ROUND_TIMEOUT)
        return rec

    def status(self) -> dict[str, Any]:
        s: dict[str, Any] = self.client.get("/api/status")
        return s

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._err.close()
        return self.proc.returncode


def soak_daemon(soak: Soak, cfg: Path, tmp: Path, fl: fleet_mod.Fleet,
                eps: Sequence[fleet_mod.Endpoint]) -> None:
    d = DaemonProc(cfg, tmp / "soak-daemon.log")
    peers = peers_of(eps)
    try:
        for i in range(soak.rounds):
            rec = d.poll()
            soak.note(i + 1, int(rec.get("ok") or 0), bool(rec.get("stored")),
                      "; ".join(rec.get("errors") or [])[:160] or None)
            soak.walls.add(float(rec.get("wall_s") or 0.0))
            sample(soak, d.ps, fl, peers)
            progress(soak, i)
        soak.logins = int(d.status()["ssh_logins"])
    finally:
        rc = d.stop()
        soak.db_bytes = db_size(d.cfg.db_path)
    if rc != 0:
        soak.error = f"the daemon exited {rc} on SIGTERM: {d.log_tail()[-300:]}"


def progress(soak: Soak, i: int) -> None:
    step = max(1, soak.rounds // 10)
    if (i + 1) % step == 0 or i + 1 == soak.rounds:
        log(f"  soak round {i + 1}/{soak.rounds}: rss {soak.rss.values[-1] / 2**20:.1f} MiB, "
            f"fds {soak.fds.values[-1]:.0f}, established {soak.conns.values[-1]:.0f}, "
            f"round {soak.walls.values[-1]:.3f} s")


def soak_part(tmp: Path, fl: fleet_mod.Fleet, hosts: int, rounds: int, warmup: int,
              via: str) -> str:
    eps = fl.endpoints[:hosts]
    folder = tmp / "soak"
    folder.mkdir()
    inv = write_inventory(folder / "hosts.ini", fl, eps)
    cfg = write_config(folder, fl, inv, hosts, SOAK_PROBES)
    soak = Soak(hosts, rounds, min(warmup, max(rounds - 1, 0)), via)
    t0 = time.monotonic()
    try:
        if via == "daemon":
            soak_daemon(soak, cfg, tmp, fl, eps)
        else:
            asyncio.run(soak_inproc(soak, cfg, inv, fl, eps))
    except (OSError, RuntimeError, TimeoutError) as exc:
        soak.error = f"{type(exc).__name__}: {exc}"[:300]
    soak.elapsed_s = time.monotonic() - t0
    return soak_table(soak)


def soak_table(s: Soak) -> str:
    how = ("a real `onion daemon` subprocess, each round asked for with POST /api/poll"
           if s.via == "daemon" else "Daemon._round in this process")
    title = (f"soak: {s.rounds_done} rounds over {s.hosts} hosts, probes "
             f"{'+'.join(SOAK_PROBES)} only, through {how}; {s.elapsed_s:.0f} s; "
             f"baseline after round {s.warmup + 1}")
    if not s.rss.values:
        return f"{title}\n  failed: {s.error}"
    w, mid = s.warmup, len(s.rss.values) // 2
    mib = 2**20

    def row(label: str, series: Series, fmt: Callable[[float], str], goal: str,
            verdict: str) -> list[str]:
        v = series.values
        return [label, fmt(v[0]), fmt(series.at(w)), fmt(series.at(mid)), fmt(max(v)),
                fmt(min(v)), fmt(v[-1]), goal, verdict]

    def whole(x: float) -> str:
        return f"{x:.0f}"

    rss_ok = s.rss.values[-1] <= s.rss.at(w) * RSS_GROWTH + RSS_SLACK
    fd_ok = abs(s.fds.values[-1] - s.fds.at(w)) <= FD_SLACK
    conn_ok = min(s.conns.values) == max(s.conns.values) == s.hosts
    sess_ok = min(s.sessions.values) == max(s.sessions.values) == s.hosts
    complete = s.rounds_ok == s.rounds_done == s.rounds and not s.error
    tenth = max(1, len(s.walls.values) // 10)
    early = statistics.median(s.walls.values[:tenth])
    late = statistics.median(s.walls.values[-tenth:])
    rows = [
        row("resident memory MiB", s.rss, lambda x: f"{x / mib:.1f}",
            f"last <= base x {RSS_GROWTH} + {RSS_SLACK // mib} MiB",
            "PASS" if rss_ok else "MISS"),
        row("open file descriptors", s.fds, whole, f"last = base +-{FD_SLACK}",
            "PASS" if fd_ok else "MISS"),
        row("TCP ESTABLISHED to sshd", s.conns, whole, f"= {s.hosts} after every round",
            "PASS" if conn_ok else "MISS"),
        row("sshd sessions (host side)", s.sessions, whole, f"= {s.hosts} after every round",
            "PASS" if sess_ok else "MISS"),
        ["SSH logins", "-", "-", "-", "-", "-",
         str(s.logins if s.logins is not None else "?"), f"= {s.hosts} (kept open)",
         "PASS" if s.logins == s.hosts else "MISS"],
        ["rounds all ok and stored", "-", "-", "-", "-", "-", f"{s.rounds_ok}/{s.rounds}",
         "every round", "PASS" if complete else "MISS"],
        row("round wall s", s.walls, lambda x: f"{x:.3f}",
            f"median last/first tenth {late / early:.2f}x" if early > 0 else "-", "(info)"),
        ["database + archive MiB", "-", "-", "-", "-", "-", f"{s.db_bytes / mib:.1f}", "-",
         "(info)"],
    ]
    for x in (s.first_bad, s.error):
        if x:
            rows.append(["", "", "", "", "", "", "", "", f"  {x}"])
    head = ["metric", "round 1", f"base ({w + 1})", f"mid ({mid + 1})", "max", "min", "last",
            "goal", "result"]
    return title + "\n" + table(head, rows, left={0, 7, 8})


# ---------------------------------------------------------------------------------------
# onion ctl status

def ctl_part(tmp: Path, runs: int) -> str:
    folder = tmp / "ctl"
    folder.mkdir(mode=0o700)
    cfg = folder / "onion.toml"
    cfg.write_text(f"""\
[ssh]
config = []
[storage]
db = "{folder / 'data' / 'onion.duckdb'}"
[daemon]
interval = "1d"
jitter = "0s"
""")
    tool = onion_tool()
    env = {k: v for k, v in os.environ.items() if k not in ("ONION_DB", "ONION_CONFIG")}
    cmds = {
        "python -c pass (reference)": [sys.executable, "-c", "pass"],
        "onion --version": [*tool, "--version"],
        "onion ctl status": [*tool, "ctl", "status", "--config", str(cfg)],
    }
    d = DaemonProc(cfg, tmp / "ctl-daemon.log")
    times: dict[str, list[float]] = {k: [] for k in cmds}
    error = None
    try:
        rec = d.poll()  # one round first (this machine): status then has a last round
        if not rec.get("stored"):
            error = f"the daemon's first round was not stored: {rec.get('errors')}"
        for k in range(runs + 1):          # run 0 warms the page cache and bytecode
            for name, argv in cmds.items():
                t0 = time.perf_counter()
                r = subprocess.run(argv, capture_output=True, env=env, cwd=tmp, timeout=60,
                                   check=False)
                wall = time.perf_counter() - t0
                if r.returncode != 0 or (name == "onion ctl status"
                                         and b"onion daemon" not in r.stdout):
                    error = error or (f"{name}: exit {r.returncode}: "
                                      f"{(r.stderr or r.stdout).decode()[-200:]}")
                if k:
                    times[name].append(wall)
    finally:
        d.stop()
    base = statistics.median(times["onion --version"])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        goal = name == "onion ctl status"
        rows.append([name, f"{med * 1000:.1f}", f"{min(ts) * 1000:.1f}",
                     f"{med / base:.2f}x", f"<= {GOAL_CTL:.2f}x" if goal else "-",
                     ("PASS" if med / base <= GOAL_CTL and not error else "MISS")
                     if goal else "(info)"])
    if error:
        rows.append(["", "", "", "", "", f"  {error}"])
    head = ["command", "median ms", "min ms", "vs --version", "goal", "result"]
    return (f"ctl: each command as a subprocess ({' '.join(tool)}), medians of {runs} "
            "interleaved runs after one warm-up, against a running daemon\n"
            + table(head, rows, left={0, 5}))


# ---------------------------------------------------------------------------------------
# Output and main

def table(head: Sequence[str], rows: Sequence[Sequence[str]], left: set[int]) -> str:
    """Columns sized to fit; ``left`` columns left-aligned, the rest right-aligned. A row
    whose only text is in its last cell is a note under the row before."""
    full = [r for r in rows if any(r[:-1])]
    widths = [max(len(x) for x in col) for col in zip(head, *full, strict=True)]

    def line(cells: Sequence[str]) -> str:
        if not any(cells[:-1]):
            return cells[-1]
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), "-" * len(line(head))]
    out += [line(r) for r in rows]
    return "\n".join(out)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="onion-bench-daemon-"))
    try:
        yield tmp
    finally:
        if keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(PARTS), help="comma list out of "
                    f"{','.join(PARTS)} (default all)")
    ap.add_argument("--sizes", default="50,200", help="round: host counts (default 50,200)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="round: measured rounds per contender after the warm-up (default 3)")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="round: afterwards one more Onion round per size under cProfile; "
                    "print its TOP hotspots")
    ap.add_argument("--soak-rounds", type=int, default=1000, help="soak: rounds (default 1000)")
    ap.add_argument("--soak-hosts", type=int, default=20, help="soak: hosts (default 20)")
    ap.add_argument("--soak-warmup", type=int, default=10,
                    help="soak: rounds before the memory/fd baseline (default 10)")
    ap.add_argument("--soak-via", choices=("daemon", "inproc"), default="daemon",
                    help="soak: a real daemon subprocess (default) or Daemon._round here")
    ap.add_argument("--ctl-runs", type=int, default=10, help="ctl: runs per command")
    ap.add_argument("--per-sshd", type=int, default=10, help="endpoints per sshd (<= 16)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args(argv)
    args.only = [p for p in args.only.split(",") if p]
    bad = set(args.only) - set(PARTS)
    if bad or not args.only:
        ap.error(f"--only: parts out of {','.join(PARTS)}")
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not args.sizes or min(args.sizes) < 1 or max(args.sizes) > 1000:
        ap.error("--sizes: host counts between 1 and 1000")
    if not 1 <= args.rounds <= 50:
        ap.error("--rounds: 1 to 50")
    if not 1 <= args.soak_rounds <= 100_000:
        ap.error("--soak-rounds: 1 to 100000")
    if not 1 <= args.soak_hosts <= 1000:
        ap.error("--soak-hosts: 1 to 1000")
    if not 1 <= args.ctl_runs <= 200:
        ap.error("--ctl-runs: 1 to 200")
    args.soak_warmup = max(0, args.soak_warmup)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    tables: list[str] = []
    fl: fleet_mod.Fleet | None = None
    with workspace(args.keep) as tmp:
        # Bytecode compiled once, as an installed package has it (see bench/poll.py).
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        try:
            need = [*(args.sizes if {"round", "forward"} & set(args.only) else ()),
                    *((args.soak_hosts,) if "soak" in args.only else ())]
            if need:
                t0 = time.monotonic()
                fl = fleet_mod.start(tmp / "fleet", max(need), args.per_sshd)
                log(f"started {len(fl.listeners)} sshd serving {len(fl.endpoints)} "
                    f"endpoints in {time.monotonic() - t0:.1f} s; {os.cpu_count()} CPUs")
            if "round" in args.only and fl is not None:
                tables.append(asyncio.run(round_part(tmp, fl, args.sizes, args.rounds,
                                                     args.profile)))
            if "forward" in args.only and fl is not None:
                tables.append(asyncio.run(forward_part(tmp, fl, min(args.sizes),
                                                       args.rounds)))
            if "soak" in args.only and fl is not None:
                tables.append(soak_part(tmp, fl, args.soak_hosts, args.soak_rounds,
                                        args.soak_warmup, args.soak_via))
            if "ctl" in args.only:
                try:
                    tables.append(ctl_part(tmp, args.ctl_runs))
                except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
                    tables.append(f"ctl: failed: {type(exc).__name__}: {exc}"[:400])
        except KeyboardInterrupt:
            log("interrupted; cleaning up")
            return 130
        finally:
            if fl is not None:
                fl.stop()
    print()
    print(f"onion daemon benchmark; loopback hosts and poller share this machine's "
          f"{os.cpu_count()} CPUs")
    for t in tables:
        print()
        print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
