"""Running the poll script on a host: over SSH (asyncssh) or on this machine.

Both transports send the script on stdin to ``/bin/sh -s`` through one channel and
feed stdout and stderr into :class:`poller.sections.Splitter` as the bytes arrive.
asyncssh and OS errors are mapped to :mod:`poller.errors` here, and only here.

asyncssh's defaults are not ours: ``run()`` has no timeout, login waits 120 s and
keepalives are off. Every one of them is set from :class:`TransportOptions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import asyncssh
from asyncssh.saslprep import SASLPrepError

from onion.core.errors import (
    AuthRefused,
    HostKeyMismatch,
    HostKeyUnknown,
    OutputTooLarge,
    PollerFault,
    Timeout,
    TransportError,
    Unreachable,
)
from onion.inventory.model import Host
from onion.poller import hostkeys
from onion.poller.plan import Script
from onion.poller.sections import Splitter

READ_CHUNK = 1 << 16
_OURS = (errno.EMFILE, errno.ENFILE)  # the poller's own limits, not the host's fault
ENCRYPTION_ALGS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                   "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr")


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportOptions:
    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    keepalive_interval: float = 15.0
    keepalive_count_max: int = 3
    max_output_bytes: int = 64 << 20
    max_section_bytes: int = 16 << 20
    known_hosts: tuple[Path, ...] = ()
    host_key_policy: str = "strict"            # or "accept-new"
    accept_new_file: Path | None = None         # where accept-new records keys
    ssh_config: tuple[Path, ...] = ()
    user: str | None = None
    identity_files: tuple[Path, ...] = ()
    agent: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepOptions:
    """Connections kept open between rounds (the daemon): one per host, replaced when
    older than ``max_age``; a host whose connect failed is tried again after a backoff
    that doubles from ``backoff_min`` to ``backoff_max``."""

    max_age: float = 3600.0
    backoff_min: float = 5.0
    backoff_max: float = 300.0


@dataclass(slots=True)
class RawOutput:
    stdout: Splitter
    stderr: Splitter
    connect_s: float | None = None
    command_s: float | None = None
    exit_status: int | None = None
    bytes_read: int = 0
    error: TransportError | None = None         # set when output stopped early
    host_key: str | None = None                 # fingerprint seen, for the hosts table
    extra: dict[str, Any] = field(default_factory=dict)


class Transport(Protocol):
    async def run(self, host: Host, script: Script) -> RawOutput: ...


def _splitters(script: Script, opts: TransportOptions) -> tuple[Splitter, Splitter]:
    return (Splitter(script.marker, opts.max_section_bytes),
            Splitter(script.marker, min(opts.max_section_bytes, 1 << 20)))


async def _pump(reader: Any, splitter: Splitter, out: RawOutput, cap: int) -> None:
    """Copy a stream into its splitter until EOF or the host's output cap."""
    while True:
        chunk = await reader.read(READ_CHUNK)
        if not chunk:
            break
        out.bytes_read += len(chunk)
        if out.bytes_read > cap:
            splitter.feed(chunk[: max(0, len(chunk) - (out.bytes_read - cap))])
            raise OutputTooLarge(f"host sent more than {cap} bytes; output cut there")
        splitter.feed(chunk)
    splitter.close()


async def _exchange(stdin: Any, stdout: Any, stderr: Any, script: Script,
                    out: RawOutput, opts: TransportOptions) -> None:
    stdin.write(script.text.encode())
    stdin.write_eof()
    await asyncio.gather(_pump(stdout, out.stdout, out, opts.max_output_bytes),
                         _pump(stderr, out.stderr, out, opts.max_output_bytes))


class LocalTransport:
    """This machine, through a subprocess: same script, same parsers, no SSH."""

    def __init__(self, opts: TransportOptions) -> None:
        self.opts = opts

    async def run(self, host: Host, script: Script) -> RawOutput:
        out = RawOutput(*_splitters(script, self.opts), connect_s=0.0)
        t0 = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-s", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            if exc.errno in _OURS:
                raise PollerFault(f"cannot start sh: {exc.strerror}") from exc
            raise
        try:
            async with asyncio.timeout(self.opts.command_timeout):
                await _exchange(_PipeWriter(proc.stdin), proc.stdout, proc.stderr,
                                script, out, self.opts)
                out.exit_status = await proc.wait()
        except TimeoutError:
            out.error = Timeout(f"command did not finish in {self.opts.command_timeout:g} s")
        except OutputTooLarge as exc:
            out.error = exc
        finally:
            if proc.returncode is None:
                await _end_session(proc)
            await _drain(proc)
            out.command_s = time.perf_counter() - t0
        return out


async def _end_session(proc: asyncio.subprocess.Process) -> None:
    """TERM first, so the script's EXIT trap removes its temp folder; KILL after a
    moment. Shielded: this runs while the round is being cancelled."""
    async def end() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(1):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    await asyncio.shield(end())


async def _drain(proc: asyncio.subprocess.Process) -> None:
    """Read what is left of stdout and stderr (after a cap, unread) to their end, so their
    pipes close here rather than at garbage collection, after the loop is gone."""
    async def drain() -> None:
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    while stream is not None and await stream.read(READ_CHUNK):
                        pass
    await asyncio.shield(drain())


class _PipeWriter:
    """asyncio's StreamWriter with asyncssh's ``write_eof`` spelling."""

    def __init__(self, writer: asyncio.StreamWriter | None) -> None:
        assert writer is not None
        self._w = writer

    def write(self, data: bytes) -> None:
        self._w.write(data)

    def write_eof(self) -> None:
        self._w.close()


class _Client(asyncssh.SSHClient):
    """Decides on host keys that known_hosts does not trust, and remembers why."""

    def __init__(self, checker: hostkeys.HostKeyChecker, host: Host) -> None:
        self._checker = checker
        self._host = host
        self.lost = False                           # the connection closed under us
        self.verdict: TransportError | None = None
        self.fingerprint: str | None = None
        self.accepted: tuple[str, int, asyncssh.SSHKey] | None = None  # to record (accept-new)

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        self.fingerprint = key.get_fingerprint()
        ok, err = self._checker.decide(self._host.name, host, addr, port, key)
        self.verdict = err
        if ok:
            self.accepted = (host, port, key)
        return ok

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


Chain = tuple[tuple[str, int | None, str | None], ...]


def _chain(hops: tuple[Host, ...]) -> Chain:
    return tuple((h.target, h.port, h.user) for h in hops)


@dataclass(slots=True)
class _Kept:
    """A host's connection kept for the next round."""

    conn: asyncssh.SSHClientConnection
    client: _Client
    identity: tuple[Any, ...]            # what it was opened with: a change means reconnect
    opened: float                        # monotonic

    def usable(self, identity: tuple[Any, ...], max_age: float) -> bool:
        return (identity == self.identity and not self.client.lost
                and not self.conn.is_closed() and time.monotonic() - self.opened < max_age)


@dataclass(slots=True)
class _Backoff:
    failures: int
    retry_at: float                      # monotonic
    error: TransportError


def _identity(host: Host) -> tuple[Any, ...]:
    return (host.target, host.port, host.user, host.key_files, _chain(host.jump_hosts),
            tuple(sorted((k, str(v)) for k, v in host.ssh_options.items())))


@dataclass(slots=True)
class _Tunnel:
    """One connection to a jump host (through the hops before it), shared by every target
    of the round behind it."""

    connecting: asyncio.Task[asyncssh.SSHClientConnection]
    remaining: int                       # targets of the round that have still to use it


class SSHTransport:
    """Connections to hosts, and to the jump hosts in front of them.

    A jump host is connected once per round, however many targets are behind it, and
    closed as soon as the last of them is done (:meth:`plan` tells how many there are;
    unplanned, each target's hops are closed after it). :meth:`aclose` closes whatever a
    deadline left open.
    """

    def __init__(self, opts: TransportOptions, keep: KeepOptions | None = None) -> None:
        self.opts = opts
        self.keep = keep
        self.checker = hostkeys.HostKeyChecker(
            opts.known_hosts, opts.host_key_policy, opts.accept_new_file)
        self._tunnels: dict[Chain, _Tunnel] = {}
        self._planned: Counter[Chain] = Counter()
        self._checkers: dict[tuple[str, ...], hostkeys.HostKeyChecker] = {}
        self._kept: dict[str, _Kept] = {}
        self._backoff: dict[str, _Backoff] = {}
        self.connects = 0                # SSH logins made, jump hosts included

    @property
    def open_connections(self) -> int:
        """Kept connections and jump-host tunnels open now."""
        return sum(not k.conn.is_closed() for k in self._kept.values()) + sum(
            t.connecting.done() and not t.connecting.cancelled()
            and t.connecting.exception() is None for t in self._tunnels.values())

    async def forget(self, keep_names: Iterable[str]) -> None:
        """Close the kept connections of hosts not in ``keep_names`` (left the inventory),
        and the tunnels no kept connection rides on any more."""
        wanted = set(keep_names)
        for name in [n for n in self._kept if n not in wanted]:
            await self._drop(name)
        self._backoff = {n: b for n, b in self._backoff.items() if n in wanted}
        used = {c for k in self._kept.values() for c in _prefixes(k.identity[4])}
        for key in [k for k in self._tunnels if k not in used]:
            await self._close_tunnel(key)

    async def _drop(self, name: str) -> None:
        kept = self._kept.pop(name, None)
        if kept is not None:
            await _close(kept.conn, abort=kept.client.lost)

    def _checker(self, host: Host) -> hostkeys.HostKeyChecker:
        """Onion's known_hosts, plus the files the host's ssh_config names."""
        extra = tuple(host.ssh_options.get("known_hosts", ()))
        if not extra:
            return self.checker
        if extra not in self._checkers:
            o = self.opts
            self._checkers[extra] = hostkeys.HostKeyChecker(
                [*o.known_hosts, *(Path(f) for f in extra)], o.host_key_policy,
                o.accept_new_file)
        return self._checkers[extra]

    def plan(self, hosts: Iterable[Host]) -> None:
        """The round's targets: each hop stays open until all of its targets are done."""
        for h in hosts:
            for i in range(1, len(h.jump_hosts) + 1):
                self._planned[_chain(h.jump_hosts[:i])] += 1

    async def aclose(self) -> None:
        for name in list(self._kept):
            await self._drop(name)
        for key in sorted(self._tunnels, key=len, reverse=True):  # the far hops first
            await self._close_tunnel(key)

    def _connect_kwargs(self, host: Host, checker: hostkeys.HostKeyChecker) -> dict[str, Any]:
        o = self.opts
        so = host.ssh_options
        # ssh_config's ConnectTimeout for this host, within Onion's own connect budget.
        timeout = min(float(so.get("connect_timeout") or o.connect_timeout), o.connect_timeout)
        kw: dict[str, Any] = {
            "known_hosts": checker.known_hosts(),
            "connect_timeout": timeout,
            "login_timeout": timeout,
            "keepalive_interval": so.get("keepalive_interval") or o.keepalive_interval,
            "keepalive_count_max": so.get("keepalive_count_max") or o.keepalive_count_max,
            "config": [str(p) for p in o.ssh_config if p.exists()] or None,
            # The user's own forwarding settings have no business in a poll.
            "agent_forwarding": False, "x11_forwarding": False,
            # AES-GCM first: hardware-accelerated on both ends, about a fifth less client
            # CPU than asyncssh's default chacha20-poly1305 (bench/poll.py).
            "encryption_algs": ENCRYPTION_ALGS,
        }
        user = host.user or o.user
        if user:
            kw["username"] = user
        if host.port:
            kw["port"] = host.port
        keys = [str(Path(k).expanduser()) for k in host.key_files] or \
            [str(p) for p in o.identity_files]
        if keys:
            kw["client_keys"] = keys
        if not o.agent or (so.get("identities_only") and keys):
            kw["agent_path"] = None  # IdentitiesOnly: the named keys, not the agent's
        if so.get("host_key_alias"):
            kw["host_key_alias"] = so["host_key_alias"]
        return kw

    async def _open(self, host: Host) -> tuple[asyncssh.SSHClientConnection, _Client]:
        tunnel = None
        for i in range(1, len(host.jump_hosts) + 1):
            tunnel = await self._hop(host, host.jump_hosts[:i], tunnel)
        return await self._connect_one(host, tunnel)

    async def _hop(self, target: Host, hops: tuple[Host, ...],
                   via: asyncssh.SSHClientConnection | None) -> asyncssh.SSHClientConnection:
        """The shared connection to the last of ``hops``, opened by the first target."""
        key = _chain(hops)
        tunnel = self._tunnels.get(key)
        if tunnel is not None and self.keep is not None and tunnel.connecting.done() and (
                tunnel.connecting.cancelled() or tunnel.connecting.exception() is not None
                or tunnel.connecting.result().is_closed()):
            await self._close_tunnel(key)  # kept from an earlier round, and gone since
            tunnel = None
        if tunnel is None:
            # A hop without keys of its own uses the target's; host keys are checked as
            # for any host.
            hop = hops[-1]
            if not hop.key_files and target.key_files:
                hop = replace(hop, key_files=target.key_files)
            tunnel = _Tunnel(asyncio.ensure_future(self._connect_hop(hop, via)),
                             self._planned.get(key, 1))
            self._tunnels[key] = tunnel
        # Shielded: a target cut by its deadline must not cancel the others' connection.
        return await asyncio.shield(tunnel.connecting)

    async def _connect_hop(self, hop: Host, via: asyncssh.SSHClientConnection | None
                           ) -> asyncssh.SSHClientConnection:
        try:
            conn, _ = await self._connect_one(hop, via)
        except TransportError as exc:
            raise type(exc)(f"jump host {hop.name}: {exc}") from exc
        return conn

    async def _release(self, host: Host) -> None:
        """One target is done with its hops: close those no target needs any more (kept
        connections keep theirs)."""
        if self.keep is not None:
            return
        for i in range(len(host.jump_hosts), 0, -1):
            key = _chain(host.jump_hosts[:i])
            tunnel = self._tunnels.get(key)
            if tunnel is None:
                continue
            tunnel.remaining -= 1
            if tunnel.remaining <= 0:
                await self._close_tunnel(key)

    async def _close_tunnel(self, key: Chain) -> None:
        tunnel = self._tunnels.pop(key, None)
        if tunnel is None:
            return
        if not tunnel.connecting.done():
            tunnel.connecting.cancel()
        with contextlib.suppress(BaseException):
            await _close(await tunnel.connecting)

    async def _connect_one(self, host: Host, tunnel: Any
                           ) -> tuple[asyncssh.SSHClientConnection, _Client]:
        checker = self._checker(host)
        client = _Client(checker, host)
        kw = self._connect_kwargs(host, checker)
        if tunnel is not None:
            kw["tunnel"] = tunnel
        self.connects += 1
        try:
            conn = await asyncssh.connect(host.target, client_factory=lambda: client, **kw)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise client.verdict or HostKeyUnknown(str(exc)) from exc
        except asyncssh.PermissionDenied as exc:
            raise AuthRefused(f"authentication refused: {exc.reason or exc}") from exc
        except SASLPrepError as exc:  # a user name SSH cannot carry (control characters)
            raise AuthRefused(f"cannot log in as {kw.get('username')!r}: {exc}") from exc
        except TimeoutError as exc:
            raise Timeout(f"no SSH session within {self.opts.connect_timeout:g} s") from exc
        except asyncssh.DisconnectError as exc:
            raise Unreachable(f"SSH disconnect: {exc.reason or exc}") from exc
        except socket.gaierror as exc:
            raise Unreachable(f"cannot resolve {host.target}: {exc.strerror}") from exc
        except UnicodeError as exc:  # the IDNA codec refuses it: not a host name at all
            raise Unreachable(f"cannot resolve {host.target!r}: not a host name ({exc})") \
                from exc
        except ConnectionRefusedError as exc:
            raise Unreachable(f"connection refused by {host.target}") from exc
        except OSError as exc:
            if exc.errno in _OURS:
                raise PollerFault(f"this poller is out of file descriptors ({exc.strerror}); "
                                  "lower [poller] concurrency or raise ulimit -n") from exc
            raise Unreachable(f"{host.target}: {exc.strerror or exc}") from exc
        except asyncssh.Error as exc:
            raise Unreachable(f"SSH error: {exc}") from exc
        checker.confirm(client)
        return conn, client

    async def run(self, host: Host, script: Script) -> RawOutput:
        try:
            return await self._run(host, script)
        finally:
            if host.jump_hosts:
                await asyncio.shield(self._release(host))

    async def _connect(self, host: Host) -> tuple[asyncssh.SSHClientConnection, _Client]:
        try:
            async with asyncio.timeout(self.opts.connect_timeout):
                return await self._open(host)
        except TimeoutError as exc:
            raise Timeout(f"no SSH session within {self.opts.connect_timeout:g} s") from exc

    async def _session(self, host: Host) -> tuple[asyncssh.SSHClientConnection, _Client, bool]:
        """A connection to run on, and whether it was kept from an earlier round."""
        if self.keep is None:
            return (*await self._connect(host), False)
        identity = _identity(host)
        kept = self._kept.get(host.name)
        if kept is not None:
            if kept.usable(identity, self.keep.max_age):
                return kept.conn, kept.client, True
            await self._drop(host.name)
        now = time.monotonic()
        back = self._backoff.get(host.name)
        if back is not None and now < back.retry_at:
            raise type(back.error)(
                f"{back.error} (not tried again for {back.retry_at - now:.0f} s: "
                f"backoff after {back.failures} failed connect(s))")
        try:
            conn, client = await self._connect(host)
        except TransportError as exc:
            failures = back.failures + 1 if back else 1
            wait = min(self.keep.backoff_max, self.keep.backoff_min * 2 ** (failures - 1))
            self._backoff[host.name] = _Backoff(failures, time.monotonic() + wait, exc)
            raise
        self._backoff.pop(host.name, None)
        self._kept[host.name] = _Kept(conn, client, identity, time.monotonic())
        return conn, client, False

    async def _run(self, host: Host, script: Script) -> RawOutput:
        out = RawOutput(*_splitters(script, self.opts))
        t0 = time.perf_counter()
        conn, client, reused = await self._session(host)
        out.connect_s = time.perf_counter() - t0
        out.extra["reused"] = reused
        t1 = time.perf_counter()
        cut = False
        try:
            async with asyncio.timeout(self.opts.command_timeout):
                try:
                    proc = await conn.create_process("/bin/sh -s", encoding=None)
                except (asyncssh.Error, OSError):
                    if not reused:
                        raise
                    # The host dropped a kept connection since the last round (sshd
                    # restarted, the node rebooted): one fresh connect, not a failure.
                    await self._drop(host.name)
                    t0 = time.perf_counter()
                    conn, client, reused = await self._session(host)
                    out.connect_s = time.perf_counter() - t0
                    out.extra["reused"] = False
                    t1 = time.perf_counter()
                    proc = await conn.create_process("/bin/sh -s", encoding=None)
                out.host_key = client.fingerprint
                await _exchange(proc.stdin, proc.stdout, proc.stderr, script, out, self.opts)
                await proc.wait_closed()
                out.exit_status = proc.exit_status
        except TimeoutError:
            out.error = Timeout(f"command did not finish in {self.opts.command_timeout:g} s")
        except OutputTooLarge as exc:
            out.error = exc
        except (asyncssh.Error, OSError) as exc:
            out.error = Unreachable(f"connection lost during the command: {exc}")
        except asyncio.CancelledError:
            cut = True  # the round's deadline or a stop: the channel is left mid-command
            raise
        finally:
            out.command_s = time.perf_counter() - t1
            out.host_key = out.host_key or client.fingerprint
            if self.keep is None:
                await _close(conn, abort=out.error is not None or cut)
            elif out.error is not None or cut:
                # A channel cut mid-command may leave the session busy: start afresh.
                await asyncio.shield(self._drop(host.name))
        return out


async def _close(conn: asyncssh.SSHClientConnection, abort: bool = False) -> None:
    conn.abort() if abort else conn.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await conn.wait_closed()


def _prefixes(chain: Chain) -> list[Chain]:
    return [chain[:i] for i in range(1, len(chain) + 1)]


__all__ = ["HostKeyMismatch", "KeepOptions", "LocalTransport", "RawOutput", "SSHTransport",
           "Transport", "TransportOptions"]
