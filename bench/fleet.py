"""A fleet of loopback SSH "hosts" for the benchmark: real OpenSSH sshd processes.

Each host is a distinct ``(127.77.x.y, port)`` endpoint. OpenSSH accepts at most 16
``ListenAddress`` sockets per sshd, so one sshd serves ``per_sshd`` endpoints (10 by
default) and the fleet starts ``ceil(n / per_sshd)`` of them. Every sshd has its own
generated host key, recorded in one ``known_hosts`` file for each of its endpoints; one
generated user key is authorized for root. Sessions get a clean ``HOME`` (``SetEnv``),
because root's own rc files would dominate the remote cost.

The remote CPU of a contender is what the sshd process trees burnt: each listener's
own CPU plus that of its reaped children (the per-connection sshd processes, which in
turn reaped the shells and commands of the session).
"""

from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.sshd import SSHD, free_port, home_dir, keygen, sshd_config  # noqa: E402

MAX_LISTEN = 16          # OpenSSH's limit of ListenAddress sockets per sshd
START_TRIES = 5          # attempts per sshd when a port was taken in between


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str            # alias used in ssh_config / the Ansible inventory
    addr: str
    port: int


@dataclass
class Listener:
    root: Path
    host_key: Path
    endpoints: list[Endpoint]
    proc: subprocess.Popen[bytes] | None = None
    ps: psutil.Process | None = None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Fleet:
    root: Path
    user_key: Path
    known_hosts: Path
    home: Path
    listeners: list[Listener] = field(default_factory=list)

    @property
    def endpoints(self) -> list[Endpoint]:
        return [e for lst in self.listeners for e in lst.endpoints]

    def remote_cpu_s(self) -> float:
        """CPU seconds burnt so far by every sshd tree (reaped children included)."""
        total = 0.0
        for lst in self.listeners:
            if lst.ps is None:
                continue
            with contextlib.suppress(psutil.Error):
                t = lst.ps.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    def live_sessions(self) -> int:
        n = 0
        for lst in self.listeners:
            if lst.ps is None:
                continue
            with contextlib.suppress(psutil.Error):
                n += len(lst.ps.children())
        return n

    def settle(self, timeout: float = 15.0) -> bool:
        """Wait (bounded) until every session process is gone and reaped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.live_sessions() == 0:
                time.sleep(0.2)   # let the last SIGCHLD be handled
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        for lst in self.listeners:
            with contextlib.suppress(Exception):
                lst.stop()


def _address(i: int) -> str:
    return f"127.77.{i // 250}.{i % 250 + 1}"


def _sshd_config(lst: Listener, auth: Path, home: Path) -> str:
    return sshd_config([(e.addr, e.port) for e in lst.endpoints], lst.host_key, lst.root,
                       auth, home)


def _reachable(e: Endpoint) -> bool:
    try:
        with socket.create_connection((e.addr, e.port), timeout=0.5):
            return True
    except OSError:
        return False


def _start(lst: Listener, auth: Path, home: Path, first: int) -> None:
    cfg = lst.root / "sshd_config"
    log = lst.root / "sshd.log"
    for _ in range(START_TRIES):
        lst.endpoints = [Endpoint(e.name, e.addr, free_port(e.addr)) for e in lst.endpoints]
        cfg.write_text(_sshd_config(lst, auth, home))
        with open(log, "ab") as err:
            lst.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)],
                                        stdout=subprocess.DEVNULL, stderr=err,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        pending = list(lst.endpoints)
        while pending and time.monotonic() < deadline and lst.proc.poll() is None:
            pending = [e for e in pending if not _reachable(e)]
            if pending:
                time.sleep(0.05)
        if not pending and lst.proc.poll() is None:
            lst.ps = psutil.Process(lst.proc.pid)
            return
        lst.stop()
    raise RuntimeError(f"sshd #{first} did not start: {log.read_text()[-2000:]}")


def start(root: Path, n: int, per_sshd: int = 10) -> Fleet:
    """Start sshd processes serving ``n`` endpoints under ``root``."""
    per = max(1, min(per_sshd, MAX_LISTEN))
    root.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)   # privilege separation dir sshd insists on
    user_key = keygen(root / "id_ed25519")
    auth = root / "authorized_keys"
    auth.write_text(user_key.with_suffix(".pub").read_text())
    auth.chmod(0o600)
    fleet = Fleet(root, user_key, root / "known_hosts", home_dir(root))
    try:
        for k in range(math.ceil(n / per)):
            sroot = root / f"sshd{k:03d}"
            sroot.mkdir()
            eps = [Endpoint(f"h{i + 1:03d}", _address(i), 0)
                   for i in range(k * per, min(n, (k + 1) * per))]
            lst = Listener(sroot, keygen(sroot / "host_ed25519"), eps)
            fleet.listeners.append(lst)
            _start(lst, auth, fleet.home, k)
        lines = []
        for lst in fleet.listeners:
            kind, blob = lst.host_key.with_suffix(".pub").read_text().split()[:2]
            lines += [f"[{e.addr}]:{e.port} {kind} {blob}\n" for e in lst.endpoints]
        fleet.known_hosts.write_text("".join(lines))
    except BaseException:
        fleet.stop()
        raise
    return fleet


def write_ssh_config(fleet: Fleet, endpoints: Sequence[Endpoint], path: Path) -> Path:
    """An OpenSSH client config with one ``Host`` alias per endpoint (for clush)."""
    out = []
    for e in endpoints:
        out.append(f"Host {e.name}\n  HostName {e.addr}\n  Port {e.port}\n")
    out.append(f"""Host *
  User root
  IdentityFile {fleet.user_key}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {fleet.known_hosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  ConnectTimeout 30
""")
    path.write_text("".join(out))
    return path
