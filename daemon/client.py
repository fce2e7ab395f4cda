"""A client of the daemon's API: ``onion ctl`` and ``onion report`` use it, and so can
any script. The standard library only (http.client), so that a command using it starts
in the time Python itself takes: no aiohttp, DuckDB or asyncssh is imported.

Where the daemon is: ``[daemon] url`` (HTTPS, with the token of ``token_file`` and the
CA of ``tls_ca``), else the Unix socket (``[daemon] socket``, by default beside the
database).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from onion.core.config import Config
from onion.core.errors import OnionError


class DaemonError(OnionError):
    """The daemon answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DaemonUnreachable(DaemonError):
    """No daemon listens where the config says."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(slots=True)
class Client:
    socket_path: Path | None = None
    url: str | None = None
    token: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_config(cls, cfg: Config, timeout: float = 30.0) -> Client:
        d = cfg.daemon
        if d.url:
            token_path = Path(d.token_file).expanduser()
            try:
                token = token_path.read_text().strip()
            except OSError as exc:
                raise DaemonError(f"[daemon] token_file {token_path}: {exc.strerror}") from exc
            return cls(url=d.url, token=token, ca_file=d.tls_ca or None, timeout=timeout)
        return cls(socket_path=cfg.socket_path, timeout=timeout)

    @property
    def where(self) -> str:
        return self.url or f"unix:{self.socket_path}"

    def _connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        t = timeout if timeout is not None else self.timeout
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme != "https":
                raise DaemonError(f"{self.url}: only https:// (the API is never plain TCP)")
            ctx = ssl.create_default_context(cafile=self.ca_file)
            return http.client.HTTPSConnection(parts.hostname or "", parts.port or 443,
                                               timeout=t, context=ctx)
        assert self.socket_path is not None
        return _UnixConnection(str(self.socket_path), t)

    def _send(self, method: str, path: str, body: Any = None,
              timeout: float | None = None) -> tuple[http.client.HTTPConnection,
                                                     http.client.HTTPResponse]:
        conn = self._connection(timeout)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, body=data, headers=headers)
            return conn, conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            conn.close()
            raise DaemonUnreachable(f"no onion daemon at {self.where} ({exc.strerror}): "
                                    "start one with `onion daemon`") from exc
        except ssl.SSLError as exc:
            conn.close()
            raise DaemonError(f"{self.where}: TLS failed: {exc.reason or exc} (is [daemon] "
                              "tls_ca the daemon's certificate or its CA?)") from exc
        except TimeoutError as exc:
            conn.close()
            raise DaemonError(f"{self.where}: no answer in {conn.timeout:g} s") from exc
        except OSError as exc:
            conn.close()
            raise DaemonUnreachable(f"cannot reach the onion daemon at {self.where}: "
                                    f"{exc.strerror or exc}") from exc

    def request(self, method: str, path: str, body: Any = None,
                timeout: float | None = None) -> Any:
        conn, resp = self._send(method, path, body, timeout)
        try:
            raw = resp.read()
        finally:
            conn.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if resp.status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise DaemonError(message or f"HTTP {resp.status} {resp.reason}", resp.status)
        return data

    def get(self, path: str, **params: Any) -> Any:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self.request("GET", f"{path}?{query}" if query else path)

    def post(self, path: str, body: Any = None, timeout: float | None = None) -> Any:
        return self.request("POST", path, body if body is not None else {}, timeout)

    def text(self, path: str) -> str:
        conn, resp = self._send("GET", path)
        try:
            raw = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise DaemonError(f"HTTP {resp.status} {resp.reason}", resp.status)
        return raw.decode()

    def events(self, path: str = "/api/alerts/stream") -> Iterator[tuple[str, Any]]:
        """Server-sent events as (event, data) until the daemon ends the stream."""
        # No read timeout: a quiet stream is normal (the daemon sends a comment every 15 s).
        conn, resp = self._send("GET", path, timeout=None)
        try:
            if resp.status >= 400:
                raise DaemonError(f"HTTP {resp.status} {resp.reason}", resp.status)
            event, data = "message", []
            for raw in resp:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if data:
                        text = "\n".join(data)
                        try:
                            yield event, json.loads(text)
                        except ValueError:
                            yield event, text
                        if event == "bye":
                            return
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
        finally:
            conn.close()

    def alive(self) -> bool:
        """Whether a daemon answers here (for commands that prefer to go through it)."""
        try:
            self.request("GET", "/healthz", timeout=2.0)
        except DaemonError:
            return False
        return True


__all__ = ["Client", "DaemonError", "DaemonUnreachable"]
