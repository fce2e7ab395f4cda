"""An asyncssh SSH server on loopback whose answer to Onion's script is a test's choice.

Like :mod:`tests.replay_server` it authenticates a key, reads the script from stdin and
takes the run's token from it; then a *behaviour* coroutine decides what the host does:
answer Linux sections with given texts, stall, drop the connection half-way, or answer
slowly. Every wait in a behaviour is bounded, so a server never outlives its test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncssh

from onion.probes.base import OS, Probe
from tests.replay_server import LoopbackSSHHost, Respond, sections

Behaviour = Respond
STALL_S = 120.0  # longer than any deadline a test sets; bounded all the same


class FaultHost(LoopbackSSHHost):
    """One SSH server in a thread with its own event loop, running ``behaviour``."""

    def __init__(self, behaviour: Behaviour, host_key: asyncssh.SSHKey, authorized_pub: str,
                 addr: str = "127.0.0.1", auth_delay: float = 0.0) -> None:
        self.behaviour = behaviour
        super().__init__(behaviour, host_key, authorized_pub, addr, auth_delay,
                         session_limit=STALL_S)


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
