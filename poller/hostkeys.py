"""Host key policy: verify against known_hosts; ``accept-new`` only when asked.

asyncssh checks the server's key against the known_hosts we pass; for a key that is not
trusted there it asks :meth:`HostKeyChecker.decide`, which tells apart a host we have
never seen (unknown) from one whose recorded key differs (mismatch: never re-trusted
silently). With ``accept-new``, an unknown host's key is recorded once the connection
has proved the server holds it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncssh

from onion.core.errors import HostKeyMismatch, HostKeyUnknown, TransportError
from onion.core.files import private_dir


def known_hosts_entry(host: str, port: int, key: asyncssh.SSHKey) -> str:
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.export_public_key('openssh').decode().strip()}\n"


class HostKeyChecker:
    def __init__(self, files: Iterable[Path], policy: str = "strict",
                 accept_new_file: Path | None = None) -> None:
        if policy not in ("strict", "accept-new"):
            raise ValueError(f"host_key_policy must be 'strict' or 'accept-new', not {policy!r}")
        self.files = [Path(f).expanduser() for f in files]
        self.policy = policy
        self.accept_new_file = Path(accept_new_file).expanduser() if accept_new_file else None
        if self.accept_new_file and self.accept_new_file not in self.files:
            self.files.append(self.accept_new_file)
        self._lock = threading.Lock()
        self._text = "".join(f.read_text(errors="replace") + "\n"
                             for f in self.files if f.is_file())
        self._kh = asyncssh.import_known_hosts(self._text)

    def known_hosts(self) -> asyncssh.SSHKnownHosts:
        return self._kh

    def decide(self, name: str, host: str, addr: str, port: int,
               key: asyncssh.SSHKey) -> tuple[bool, TransportError | None]:
        trusted = self._kh.match(host, addr, port)[0]
        fp = key.get_fingerprint()
        where = host if port == 22 else f"[{host}]:{port}"
        if trusted:
            known = ", ".join(k.get_fingerprint() for k in trusted)
            return False, HostKeyMismatch(
                f"host key for {where} changed: server sent {fp}, known_hosts has {known}. "
                f"If the host was reinstalled, run `onion hosts --rekey {name}`")
        if self.policy == "accept-new" and self.accept_new_file is not None:
            return True, None
        files = ", ".join(str(f) for f in self.files) or "no known_hosts file"
        return False, HostKeyUnknown(
            f"host key for {where} ({fp}) is not in {files}. Verify it and add it "
            f"(ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts), or set "
            f'host_key_policy = "accept-new" in [ssh] to trust on first use')

    def confirm(self, client: Any) -> None:
        """After the handshake: record a key that accept-new let through."""
        if client.verdict is None and client.accepted is not None:
            self.record(*client.accepted)

    def record(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        assert self.accept_new_file is not None
        line = known_hosts_entry(host, port, key)
        with self._lock:
            private_dir(self.accept_new_file.parent)
            fd = os.open(self.accept_new_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(line)
            self._text += line
            self._kh = asyncssh.import_known_hosts(self._text)


def forget(path: Path, host: str, port: int | None = None) -> int:
    """Remove a host's lines from a known_hosts file (for a reimaged node); returns count."""
    path = Path(path).expanduser()
    if not path.is_file():
        return 0
    names = {host, f"[{host}]:{port or 22}"} if port and port != 22 else {host}
    kept, dropped = [], 0
    for line in path.read_text().splitlines(keepends=True):
        first = line.split(" ", 1)[0]
        if set(first.split(",")) & names:
            dropped += 1
        else:
            kept.append(line)
    path.write_text("".join(kept))
    return dropped
