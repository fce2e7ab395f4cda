"""Real OpenSSH sshd servers on loopback for the tests, and fault servers beside them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port(addr: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "onion-test", "-f", str(path)],
                   check=True)
    return path


@dataclass
class Sshd:
    addr: str
    port: int
    root: Path
    host_key: Path
    proc: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "sshd.log"

    def known_hosts_line(self) -> str:
        pub = (self.host_key.with_suffix(".pub")).read_text().split()
        return f"[{self.addr}]:{self.port} {pub[0]} {pub[1]}\n"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def sshd_config(listen: list[tuple[str, int]], host_key: Path, root: Path, auth: Path,
                home: Path, extra: str = "", log_level: str = "ERROR") -> str:
    """An sshd_config for loopback test hosts: keys only, room for hundreds of sessions,
    and a clean HOME (root's rc files are slow to source on these machines)."""
    addresses = "".join(f"ListenAddress {a}:{p}\n" for a, p in listen)
    return f"""\
{addresses}HostKey {host_key}
PidFile {root}/sshd.pid
AuthorizedKeysFile {auth}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel {log_level}
MaxStartups 1000:30:2000
MaxSessions 100
SetEnv HOME={home}
{extra}
"""


def start_sshd(root: Path, addr: str, authorized: list[Path], home: Path,
               extra: str = "", log_level: str = "ERROR") -> Sshd:
    root.mkdir(parents=True, exist_ok=True)
    host_key = keygen(root / "host_ed25519")
    auth = root / "authorized_keys"
    auth.write_text("".join(p.with_suffix(".pub").read_text() for p in authorized))
    auth.chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation dir sshd insists on
    for _ in range(5):
        port = free_port(addr)
        cfg = root / "sshd_config"
        cfg.write_text(sshd_config([(addr, port)], host_key, root, auth, home, extra,
                                   log_level))
        server = Sshd(addr, port, root, host_key)
        server.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)],
                                       stdout=subprocess.DEVNULL,
                                       stderr=open(server.log, "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                break
            try:
                with socket.create_connection((addr, port), timeout=0.5):
                    return server
            except OSError:
                time.sleep(0.05)
        server.stop()
    raise RuntimeError(f"sshd did not start on {addr}: {server.log.read_text()[-2000:]}")


class SilentServer:
    """Accepts TCP connections and never says a word (a hung sshd, a firewall oddity)."""

    def __init__(self, addr: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(50)
        self.addr, self.port = self.sock.getsockname()
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def home_dir(root: Path) -> Path:
    """A clean HOME for the sessions: no slow rc files, as on a fresh cluster node."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o755)
    return home
