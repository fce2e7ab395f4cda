"""An SSH server (asyncssh's server API, on loopback) that answers Onion's script as a
FreeBSD, OpenBSD or macOS host would, by replaying recorded output per section.

It reads the script from stdin like ``/bin/sh -s`` does, takes the run's token from it,
and prints, in the script's framing, each section the script would run on that OS with
the text of a committed fixture for that probe and part.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path

import asyncssh

from onion.poller.plan import UNAME_TO_CASE, section_name
from onion.probes.base import OS, Probe

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_parts(os: OS, probe: Probe) -> dict[str, str] | None:
    """Part texts of the first committed fixture case of this probe on this OS."""
    for folder in sorted(FIXTURES.glob(f"{os.value}-*"), reverse=True):
        cases: dict[str, dict[str, str]] = {}
        for out in sorted(folder.glob(f"{probe.name}--*.out")):
            _, case, part = out.stem.split("--")
            cases.setdefault(case, {})[part] = out.read_text()
        wanted = {p.name for p in probe.parts[os]}
        for texts in cases.values():
            if set(texts) <= wanted:
                return texts
    return None


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


def replay(os: OS, probes: Iterable[Probe], token: str) -> bytes:
    return "".join(sections(os, probes, token)).encode()


class KeyServer(asyncssh.SSHServer):
    """Accepts one public key; ``auth_delay`` makes a login that hangs (PAM, LDAP)."""

    def __init__(self, authorized: asyncssh.SSHKey, auth_delay: float = 0.0) -> None:
        self._authorized = authorized
        self._auth_delay = auth_delay

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self._auth_delay:
            await asyncio.sleep(self._auth_delay)
        return key.public_data == self._authorized.public_data


Respond = Callable[[asyncssh.SSHServerProcess, str], Awaitable[None]]


class LoopbackSSHHost:
    """An SSH server in a thread with its own event loop. Each session must be
    ``/bin/sh -s`` with Onion's script on stdin; ``respond(process, token)`` answers it."""

    def __init__(self, respond: Respond, host_key: asyncssh.SSHKey, authorized_pub: str,
                 addr: str = "127.0.0.1", auth_delay: float = 0.0,
                 session_limit: float = 120.0) -> None:
        self.addr = addr
        self.respond = respond
        self.commands: list[str] = []
        self._host_key = host_key
        self._authorized = asyncssh.import_public_key(authorized_pub)
        self._auth_delay = auth_delay
        self._limit = session_limit  # every wait is bounded: no server outlives its test
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback SSH server did not start")

    @property
    def sessions(self) -> int:
        return len(self.commands)

    async def _session(self, process: asyncssh.SSHServerProcess) -> None:
        self.commands.append(process.command or "")
        try:
            async with asyncio.timeout(self._limit):
                script = await process.stdin.read()
                token = re.search(r"M='@@onion:([0-9a-f]+)'", script)
                if process.command != "/bin/sh -s" or token is None:
                    process.stderr.write("sh: unexpected command\n")
                    process.exit(2)
                    return
                await self.respond(process, token.group(1))
        except (TimeoutError, asyncssh.Error, OSError):
            pass
        finally:
            if not process.is_closing():
                process.exit(0)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncssh.create_server(
                lambda: KeyServer(self._authorized, self._auth_delay), self.addr, 0,
                server_host_keys=[self._host_key], process_factory=self._session,
                login_timeout=self._limit)
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
        self._thread.join(5)


class ReplayHost(LoopbackSSHHost):
    """A host of ``os`` answering every section with its committed fixture."""

    def __init__(self, os: OS, probes: list[Probe], host_key: asyncssh.SSHKey,
                 authorized_pub: str, addr: str = "127.0.0.1") -> None:
        self.os, self.probes = os, probes

        async def respond(process: asyncssh.SSHServerProcess, token: str) -> None:
            process.stdout.write(replay(os, probes, token).decode())

        super().__init__(respond, host_key, authorized_pub, addr)
