"""A real `onion daemon` subprocess against real sshd hosts on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from onion.core import config as config_mod
from onion.daemon.client import Client
from tests.sshd import SSHD, home_dir, keygen, start_sshd

needs_sshd = pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH sshd is not installed")

# Every rule fires on an ok poll: each host has an alert to follow, resolve or retire.
ALWAYS_RULE = """
[[alerts.rules]]
name = "polled"
table = "polls"
condition = "status = 'ok'"
summary = "{{ host }} answered"
severity = "info"
"""


@dataclass
class Lab:
    root: Path
    key: Path
    servers: list
    known: Path

    def inventory(self, path: Path, indexes: list[int]) -> Path:
        lines = ["[nodes]"]
        for i in indexes:
            s = self.servers[i]
            lines.append(f"node{i} ansible_host={s.addr} ansible_port={s.port} "
                         f"ansible_user=root ansible_ssh_private_key_file={self.key}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def logins(self, i: int) -> int:
        return self.servers[i].log.read_text().count("Accepted publickey")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    if not Path(SSHD).exists():
        pytest.skip("OpenSSH sshd is not installed")
    root = tmp_path_factory.mktemp("dlab")
    key = keygen(root / "id_user")
    home = home_dir(root)
    # INFO: sshd logs one "Accepted publickey" line per connection.
    servers = [start_sshd(root / f"s{i}", f"127.0.1.{i + 1}", [key], home, log_level="INFO")
               for i in range(4)]
    known = root / "known_hosts"
    known.write_text("".join(s.known_hosts_line() for s in servers))
    yield Lab(root, key, servers, known)
    for s in servers:
        s.stop()


def write_config(folder: Path, lab: Lab, inventory: Path, interval: str = "2s",
                 jitter: str = "0.5s", extra: str = "", rules: str = ALWAYS_RULE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    cfg = folder / "onion.toml"
    cfg.write_text(f"""\
inventory = "{inventory}"
[poller]
connect_timeout = 5.0
command_timeout = 30.0
[ssh]
known_hosts = ["{lab.known}"]
config = []
agent = false
accept_new_file = "{folder / 'accepted'}"
[storage]
db = "{folder / 'data' / 'onion.duckdb'}"
[daemon]
interval = "{interval}"
jitter = "{jitter}"
stop_timeout = 3.0
{extra}
{rules}
""")
    return cfg


class DaemonProc:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.cfg = config_mod.load(config)
        self.client = Client.from_config(self.cfg, timeout=60)
        env = {**os.environ, "ONION_CONFIG": str(config)}
        env.pop("ONION_DB", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "onion.cli", "daemon", "-v", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=open(log, "ab"), env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited {self.proc.returncode}: "
                                     f"{log.read_text()[-3000:]}")
            if self.client.alive():
                return
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"the daemon did not answer: {log.read_text()[-3000:]}")

    def status(self) -> dict:
        return self.client.get("/api/status")

    def wait_rounds(self, n: int, timeout: float = 60.0) -> dict:
        """Until ``n`` rounds have run since the start; the status then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status()
            if s["rounds"]["rounds"] >= n:
                return s
            time.sleep(0.2)
        raise AssertionError(f"fewer than {n} rounds in {timeout} s: "
                             f"{self.log.read_text()[-3000:]}")

    def query(self, sql: str) -> list:
        return self.client.post("/api/query", {"sql": sql})["rows"]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("the daemon did not stop on SIGTERM") from None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def start_daemon():
    started: list[DaemonProc] = []

    def start(config: Path, log: Path) -> DaemonProc:
        d = DaemonProc(config, log)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()
