"""Pollers forwarding to a central, for the forwarding tests: configs and a proxy."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.daemon.conftest import Lab, write_config
from tests.daemon.test_tcp import self_signed
from tests.sshd import free_port


def token_file(path: Path) -> Path:
    path.write_text("tok-" + os.urandom(20).hex() + "\n")
    path.chmod(0o600)
    return path


@dataclass
class CentralSetup:
    config: Path
    port: int
    cert: Path
    key: Path
    tokens: dict[str, Path]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def central(folder: Path, lab: Lab, pollers: list[str], stale_after: str = "1h",
            port: int | None = None, inventory: list[int] = (3,), extra: str = "") -> CentralSetup:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert, key = self_signed(folder)
    api_token = token_file(folder / "token")
    tokens = {p: token_file(folder / f"{p}.token") for p in pollers}
    port = port or free_port()
    inv = lab.inventory(folder / "hosts.ini", list(inventory))
    tables = "".join(f'[central.pollers.{p}]\ntoken_file = "{t}"\n' for p, t in tokens.items())
    config = write_config(folder, lab, inv, interval="2s", jitter="0s", rules="", extra=(
        f'listen = "127.0.0.1:{port}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f'token_file = "{api_token}"\nurl = "https://127.0.0.1:{port}"\ntls_ca = "{cert}"\n'
        f'role = "central"\n[central]\nstale_after = "{stale_after}"\n{extra}{tables}'))
    return CentralSetup(config, port, cert, key, tokens)


def poller(folder: Path, lab: Lab, c: CentralSetup, name: str, inventory: Path,
           shard: str = "", sink: str = "", interval: str = "2s", url: str = "") -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    daemon = f'shard = "{shard}"\n' if shard else ""
    return write_config(folder, lab, inventory, interval=interval, jitter="0s", rules="",
                        extra=daemon + f'''
[sinks.central]
type = "onion"
url = "{url or c.url}"
token_file = "{c.tokens[name]}"
tls_ca = "{c.cert}"
poller = "{name}"
timeout = "10s"
backoff_min = "1s"
backoff_max = "2s"
{sink}
''')


class DroppingProxy:
    """An HTTPS proxy to the central (TLS ended here with the central's own certificate);
    while ``drop`` is set, each request goes through and the central's answer is thrown
    away: the acknowledgement lost on the way back."""

    def __init__(self, target_port: int, cert: Path, key: Path) -> None:
        self.target = target_port
        self.cert = cert
        self.port = free_port()
        self.drop = threading.Event()
        self.dropped = 0
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(client,), daemon=True).start()

    def _one(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(30)
            client = self._tls.wrap_socket(raw, server_side=True)
            f = client.makefile("rb")
            while True:
                line = f.readline(65536)
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := f.readline(65536)) not in (b"\r\n", b"\n", b""):
                    k, _, v = h.decode().partition(":")
                    headers[k.strip()] = v.strip()
                body = f.read(int(headers.get("Content-Length", "0")))
                ctx = ssl.create_default_context(cafile=str(self.cert))
                up = http.client.HTTPSConnection("127.0.0.1", self.target, context=ctx,
                                                 timeout=30)
                up.request(method, path, body=body, headers={
                    k: v for k, v in headers.items() if k.lower() not in ("host",
                                                                          "content-length")})
                resp = up.getresponse()
                answer = resp.read()
                up.close()
                if self.drop.is_set():
                    self.dropped += 1
                    return          # the central has it; the poller never hears so
                head = f"HTTP/1.1 {resp.status} {resp.reason}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in resp.getheaders()
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"))
                client.sendall((head + f"Content-Length: {len(answer)}\r\n"
                                f"Connection: keep-alive\r\n\r\n").encode() + answer)
        except (OSError, ValueError, http.client.HTTPException):
            return
        finally:
            raw.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(5)
