"""The API over TCP: TLS always, a bearer token on every path but /healthz; the socket
0600 beside it; ctl over HTTPS; a token never shown."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from onion.core import config as config_mod
from onion.core.errors import ConfigError
from tests.alerts.test_notifiers import _cert
from tests.daemon.conftest import needs_sshd, write_config
from tests.sshd import free_port

pytestmark = needs_sshd


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = _cert(folder)  # the notifier tests' self-signed 127.0.0.1 certificate
    key.chmod(0o600)
    return cert, key


def _get(port: int, path: str, cafile: Path, token: str | None) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    return resp.status, body


def test_tcp_needs_tls_and_the_token(lab, tmp_path, start_daemon):
    folder = tmp_path / "d"
    folder.mkdir(mode=0o700)
    cert, key = self_signed(folder)
    token = "t0k3n-" + os.urandom(16).hex()
    token_file = folder / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    port = free_port()
    inv = lab.inventory(tmp_path / "hosts.ini", [0])
    config = write_config(folder, lab, inv, extra=(
        f'listen = "127.0.0.1:{port}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f'token_file = "{token_file}"\nurl = "https://127.0.0.1:{port}"\ntls_ca = "{cert}"'))
    d = start_daemon(config, tmp_path / "daemon.log")  # its client: HTTPS with the token
    d.wait_rounds(1)
    assert _get(port, "/healthz", cert, None)[0] == 200
    for given in (None, "wrong", token[:-1]):
        status, body = _get(port, "/api/status", cert, given)
        assert status == 401 and "bearer token" in body["error"]
    status, body = _get(port, "/api/status", cert, token)
    assert status == 200 and body["hosts"] == 1
    # No plain HTTP on the TLS port.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert b'"ok"' not in s.recv(4096)
    # A certificate nobody trusts is refused by the client.
    other, _ = self_signed(tmp_path)
    with pytest.raises(ssl.SSLError):
        _get(port, "/healthz", other, None)
    # ctl over HTTPS, with the token from token_file.
    out = subprocess.run([sys.executable, "-m", "onion.cli", "ctl", "--config", str(config),
                          "status", "--format", "json"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert token not in out.stdout
    # The socket is there too, 0600, and needs no token (its mode is the check).
    assert d.cfg.socket_path.stat().st_mode & 0o777 == 0o600
    assert d.stop() == 0
    assert token not in (tmp_path / "daemon.log").read_text()


def test_tcp_refused_without_tls_or_with_a_readable_token(lab, tmp_path):
    inv = lab.inventory(tmp_path / "hosts.ini", [0])
    config = write_config(tmp_path / "d", lab, inv, extra='listen = "127.0.0.1:9"')
    with pytest.raises(ConfigError, match="needs tls_cert, tls_key and token_file"):
        config_mod.load(config)
    folder = tmp_path / "e"
    folder.mkdir(mode=0o700)
    cert, key = self_signed(folder)
    loose = folder / "token"
    loose.write_text("x" * 40)
    loose.chmod(0o644)
    config = write_config(folder, lab, inv, extra=(
        f'listen = "127.0.0.1:{free_port()}"\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        f'token_file = "{loose}"'))
    out = subprocess.run([sys.executable, "-m", "onion.cli", "daemon", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "readable by others" in out.stderr
