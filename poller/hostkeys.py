"""Host key policy: verify against known_hosts; ``accept-new`` only when asked.

asyncssh checks the server's key against the known_hosts we pass; for a key that is not
trusted there it asks :meth:`HostKeyChecker.decide`, which tells apart a host we have
never seen (unknown) from one whose recorded key differs (mismatch: never re-trusted
silently). With ``accept-new``, an unknown host's key is recorded once the connection
has proved the server holds it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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


def patterns(host: str, port: int | None) -> set[str]:
    """How known_hosts names a host: ``host`` on port 22, ``[host]:port`` otherwise."""
    return {host} if port in (None, 22) else {f"[{host}]:{port}"}


def _hashed_match(entry: str, names: set[str]) -> bool:
    """``|1|salt|hash`` (HashKnownHosts): HMAC-SHA1 of the name with the salt."""
    try:
        _, _, salt, digest = entry.split("|")
        key, want = base64.b64decode(salt), base64.b64decode(digest)
    except (ValueError, binascii.Error):
        return False
    return any(hmac.compare_digest(hmac.new(key, n.encode(), hashlib.sha1).digest(), want)
               for n in names)


def _split(path: Path, names: set[str]) -> tuple[list[str], int]:
    """The lines of a known_hosts file that name none of ``names``, and how many do."""
    kept, dropped = [], 0
    for line in path.read_text().splitlines(keepends=True):
        first = line.split(None, 1)[0] if line.strip() and not line.startswith("#") else ""
        if first.startswith("@"):  # @cert-authority / @revoked markers: leave them be
            first = ""
        hit = _hashed_match(first, names) if first.startswith("|1|") else \
            bool(set(first.split(",")) & names)
        if hit:
            dropped += 1
        else:
            kept.append(line)
    return kept, dropped


def forget_count(path: Path, names: set[str]) -> int:
    """How many lines :func:`forget` would remove."""
    return _split(path, names)[1] if path.is_file() else 0


def forget(path: Path, names: set[str]) -> int:
    """Remove the lines of a known_hosts file naming any of ``names`` (plain or hashed),
    rewriting the file atomically with its mode; returns how many went."""
    path = Path(path).expanduser()
    if not path.is_file():
        return 0
    kept, dropped = _split(path, names)
    if dropped:
        tmp = path.with_name(f".{path.name}.onion-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, path.stat().st_mode & 0o777)
        with os.fdopen(fd, "w") as f:
            f.write("".join(kept))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return dropped
