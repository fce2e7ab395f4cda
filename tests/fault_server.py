"""An asyncssh SSH server on loopback whose answer to Onion's script is a test's choice.

Like :mod:`tests.replay_server` it authenticates a key, reads the script from stdin and
takes the run's token from it; then a *behaviour* coroutine decides what the host does:
answer Linux sections with given texts, stall, drop the connection half-way, or answer
slowly. Every wait in a behaviour is bounded, so a server never outlives its test.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping

import asyncssh

from poller.plan import UNAME_TO_CASE, section_name
from probes.base import OS, Probe
from tests.replay_server import fixture_parts

Behaviour = Callable[[asyncssh.SSHServerProcess, str], Awaitable[None]]
STALL_S = 120.0  # longer than any deadline a test sets; bounded all the same


def sections(os: OS, probes: Iterable[Probe], token: str,
             texts: Mapping[str, str] | None = None) -> list[str]:
    """The framed sections a host of ``os`` prints: ``texts[section]`` where given, else
    the probe's committed fixture. First the ``os`` line, last the ``done`` line."""
    m = f"@@onion:{token}"
    out = [f"\n{m} os {UNAME_TO_CASE[os]}\n"]
    for probe in probes:
        if not probe.supports(os):
            continue
        fixture = fixture_parts(os, probe) or {}
        for part in probe.parts[os]:
            name = section_name(probe, part)
            text = (texts or {}).get(name, fixture.get(part.name))
            if text is None:
                continue
            out.append(f"\n{m} begin {name}\n{text}\n{m} end {name} 0\n")
    out.append(f"\n{m} done\n")
    return out


class _Server(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHKey, auth_delay: float) -> None:
        self._authorized = authorized
        self._auth_delay = auth_delay

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self._auth_delay:
            await asyncio.sleep(self._auth_delay)  # a host that hangs in login (PAM, LDAP)
        return key.public_data == self._authorized.public_data


class FaultHost:
    """One SSH server in a thread with its own event loop, running ``behaviour``."""

    def __init__(self, behaviour: Behaviour, host_key: asyncssh.SSHKey, authorized_pub: str,
                 addr: str = "127.0.0.1", auth_delay: float = 0.0) -> None:
        self.addr = addr
        self.behaviour = behaviour
        self.sessions = 0
        self._host_key = host_key
        self._authorized = asyncssh.import_public_key(authorized_pub)
        self._auth_delay = auth_delay
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start")

    async def _session(self, process: asyncssh.SSHServerProcess) -> None:
        self.sessions += 1
        try:
            async with asyncio.timeout(STALL_S):
                script = await process.stdin.read()
                token = re.search(r"M='@@onion:([0-9a-f]+)'", script)
                if process.command != "/bin/sh -s" or token is None:
                    process.stderr.write("sh: unexpected command\n")
                    process.exit(2)
                    return
                await self.behaviour(process, token.group(1))
        except (TimeoutError, asyncssh.Error, OSError):
            pass
        finally:
            if not process.is_closing():
                process.exit(0)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncssh.create_server(
                lambda: _Server(self._authorized, self._auth_delay), self.addr, 0,
                server_host_keys=[self._host_key], process_factory=self._session,
                login_timeout=STALL_S)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def known_hosts_line(self) -> str:
        pub = self._host_key.export_public_key("openssh").decode().strip()
        return f"[{self.addr}]:{self.port} {pub}\n"

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# -- behaviours ---------------------------------------------------------------------------


def answer(probes: list[Probe], texts: Mapping[str, str] | None = None) -> Behaviour:
    """A healthy Linux host: every section at once, then exit 0."""
    async def run(process: asyncssh.SSHServerProcess, token: str) -> None:
        process.stdout.write("".join(sections(OS.LINUX, probes, token, texts)))
        process.exit(0)
    return run


def stall() -> Behaviour:
    """Accepts the command and never prints a byte."""
    async def run(process: asyncssh.SSHServerProcess, token: str) -> None:
        await asyncio.sleep(STALL_S)
    return run


def drop_midway(probes: list[Probe]) -> Behaviour:
    """Prints the first half of the sections, then the TCP connection goes away."""
    async def run(process: asyncssh.SSHServerProcess, token: str) -> None:
        parts = sections(OS.LINUX, probes, token)
        half = parts[: len(parts) // 2]
        # ...and half of the next section, so one section is cut in the middle.
        cut = parts[len(half)]
        process.stdout.write("".join(half) + cut[: len(cut) // 2])
        await process.stdout.drain()
        await asyncio.sleep(0.2)
        process.get_extra_info("connection").abort()
    return run


def slow(probes: list[Probe], per_section_s: float) -> Behaviour:
    """Each section takes ``per_section_s`` (a host where every command is slow)."""
    async def run(process: asyncssh.SSHServerProcess, token: str) -> None:
        parts = sections(OS.LINUX, probes, token)
        process.stdout.write(parts[0])
        for part in parts[1:]:
            await asyncio.sleep(per_section_s)
            process.stdout.write(part)
        process.exit(0)
    return run
