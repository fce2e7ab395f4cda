"""Run a program with the alerts: environment variables, and the JSON payload on stdin.

No shell: ``argv`` is executed as given. Variables: ``ONION_SUBJECT``, ``ONION_COUNT``,
``ONION_FIRING``, ``ONION_RESOLVED``, ``ONION_SEVERITY`` (the highest), ``ONION_HOSTS``
and ``ONION_RULES`` (space-separated), ``ONION_TEXT`` (the short text); when the
message holds one alert (always with ``per_alert = true``) also ``ONION_RULE``,
``ONION_HOST``, ``ONION_ITEM``, ``ONION_EVENT``, ``ONION_STATE``, ``ONION_VALUE``,
``ONION_SUMMARY``, ``ONION_SINCE``. A non-zero exit or a timeout is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onion.alerts.messages import Message
from onion.alerts.notifiers import NotifyError, settings
from onion.core.errors import ConfigError


@dataclass(slots=True)
class CommandSettings:
    argv: list[str] = field(default_factory=list)
    per_alert: bool = False
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 0.0


def _clean(value: Any) -> str:
    return "" if value is None else str(value).replace("\0", "")


def environment(payload: Mapping[str, Any], short: str) -> dict[str, str]:
    alerts = payload.get("alerts", [])
    env = {
        "ONION_SUBJECT": payload.get("subject", ""), "ONION_COUNT": len(alerts),
        "ONION_FIRING": payload.get("firing", 0), "ONION_RESOLVED": payload.get("resolved", 0),
        "ONION_SEVERITY": payload.get("severity", ""),
        "ONION_HOSTS": " ".join(sorted({a["host"] for a in alerts})),
        "ONION_RULES": " ".join(sorted({a["rule"] for a in alerts})), "ONION_TEXT": short,
    }
    if len(alerts) == 1:
        a = alerts[0]
        for key in ("rule", "host", "item", "event", "state", "value", "summary", "since"):
            env[f"ONION_{key.upper()}"] = a.get(key)
    return {k: _clean(v) for k, v in env.items()}


class CommandNotifier:
    kind = "command"

    def __init__(self, name: str, s: CommandSettings, timeout: float) -> None:
        self.name, self.s = name, s
        self.timeout = s.timeout or timeout

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], timeout: float) -> CommandNotifier:
        s = settings(CommandSettings, table, f"[notifiers.{name}]")
        if not s.argv:
            raise ConfigError(f"[notifiers.{name}]: argv = [\"program\", …] is required")
        return cls(name, s, timeout)

    def _run(self, payload: dict[str, Any], short: str) -> None:
        """Run the command in a process group of its own: success is its exit status,
        and nothing it started outlives it (a child left holding stdout would otherwise
        keep the send open until the deadline, and linger after it)."""
        env = {**os.environ, **self.s.env, **environment(payload, short)}
        argv = [os.path.expanduser(self.s.argv[0]), *self.s.argv[1:]]
        # Files, not pipes: the command's exit is seen even while a child holds them.
        with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
            stdin.write(json.dumps(payload).encode())
            stdin.seek(0)
            try:
                proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                        stderr=stderr, env=env, start_new_session=True)
            except OSError as exc:
                raise NotifyError(f"{argv[0]}: {exc}") from exc
            try:
                code = proc.wait(self.timeout)
            except subprocess.TimeoutExpired as exc:
                raise NotifyError(f"{argv[0]}: no exit within {self.timeout:g} s") from exc
            finally:
                _end_group(proc)
            stderr.seek(0)
            err = stderr.read()[-300:].decode(errors="replace").strip()
        if code != 0:
            raise NotifyError(f"{argv[0]} exited {code}: {err}")

    def send(self, message: Message) -> None:
        if not self.s.per_alert:
            self._run(message.payload, message.short)
            return
        for alert in message.alerts:
            one = {**message.payload, "alerts": [alert],
                   "firing": int(alert["event"] in ("firing", "repeat")),
                   "resolved": int(alert["event"] == "resolved"), "severity": alert["severity"]}
            line = f"{alert['title']} {alert['rule']} {alert['host']} {alert['item']}".strip()
            self._run(one, line)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """End the command's process group: the command itself if the deadline passed, and
    whatever it left running."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
