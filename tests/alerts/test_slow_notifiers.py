"""A notifier that is slow, or that leaves something running, costs only its own send:
one deadline for the whole send, nothing left behind, and never while the poll lock is
held (the next cron run must not be refused because a webhook drips)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from onion.alerts.notifiers import NotifyError, configure
from tests.alerts.test_notifiers import message


class Drip:
    """A TCP server on loopback that answers one byte at a time, slowly."""

    def __init__(self, answer: bytes, every: float = 0.3, read_first: bool = True) -> None:
        self.answer, self.every, self.read_first = answer, every, read_first
        self.sent = 0
        self.got_request = threading.Event()
        self.release = threading.Event()
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.srv.settimeout(30)
        try:
            conn, _ = self.srv.accept()
        except OSError:
            return
        with conn:
            if self.read_first:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                except OSError:
                    return
            self.got_request.set()
            for b in self.answer:
                if self.release.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([b]))
                except OSError:
                    return
                self.sent += 1

    def close(self) -> None:
        self.release.set()
        self.srv.close()
        self.thread.join(5)


def test_a_dripping_webhook_is_cut_at_one_deadline() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    drip = Drip(answer)
    try:
        hook = configure("hook", {"type": "webhook", "url": f"http://127.0.0.1:{drip.port}/"},
                         1.0)
        with pytest.raises(NotifyError, match="no whole answer within 1 s"):
            hook.send(message())
        # Per-read timeouts would have let every byte through, each within 1 s.
        assert drip.sent < len(answer)
    finally:
        drip.close()


def test_a_dripping_mail_server_is_cut_at_one_deadline() -> None:
    greeting = b"220 slow.example.org ESMTP\r\n"
    drip = Drip(greeting, read_first=False)
    try:
        mail = configure("mail", {"type": "smtp", "host": "127.0.0.1", "port": drip.port,
                                  "security": "none", "to": ["ops@example.org"]}, 1.0)
        with pytest.raises(NotifyError, match="not done within 1 s"):
            mail.send(message())
        assert drip.sent < len(greeting)
    finally:
        drip.close()


def test_a_command_that_leaves_a_child_succeeds_and_the_child_is_ended(tmp_path) -> None:
    pidfile = tmp_path / "child.pid"
    run = configure("run", {"type": "command", "timeout": 20.0,
                            "argv": ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; exit 0"]},
                    20.0)
    run.send(message())  # its exit status says it worked: no NotifyError
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the command's child {pid} is still running")


def test_the_poll_lock_is_free_while_notifications_are_sent(tmp_path: Path) -> None:
    drip = Drip(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", every=60)
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp_path / "o.duckdb"}"\n'
                   '[probes]\nenable = ["memory"]\n'
                   '[alerts]\nsend_timeout = 30.0\n'
                   '[[alerts.rules]]\nname = "always"\ntable = "memory"\ncondition = "true"\n'
                   'notifiers = ["hook"]\n'
                   f'[notifiers.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:{drip.port}/"\n')
    argv = [sys.executable, "-m", "onion.cli", "poll", "--config", str(cfg)]
    first = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        assert drip.got_request.wait(60), "the first poll never sent its alert"
        # The first poll is now stuck in its send; a second poll must get the lock.
        second = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert first.poll() is None  # still sending: the lock was not what it held
    finally:
        drip.close()
        first.wait(60)
