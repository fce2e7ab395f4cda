"""SMS, chat and push through Apprise (``pip install onion-poller[apprise]``).

Each URL is an Apprise service URL (``twilio://…``, ``slack://…``, ``mailto://…``,
``json://host/path``). Apprise reports failure as a false result, not an exception;
the URLs hold credentials, so errors name them only in Apprise's privacy form.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onion.alerts.messages import Message
from onion.alerts.notifiers import NotifyError, settings
from onion.core.errors import ConfigError


@dataclass(slots=True)
class AppriseSettings:
    urls: list[str] = field(default_factory=list)
    short: bool = False
    timeout: float = 0.0


def _module() -> Any:
    try:
        import apprise
    except ImportError as exc:
        raise ConfigError("notifier type apprise needs the apprise package: "
                          "pip install 'onion-poller[apprise]'") from exc
    return apprise


class AppriseNotifier:
    kind = "apprise"

    def __init__(self, name: str, s: AppriseSettings, timeout: float) -> None:
        self.name, self.s = name, s
        self.timeout = s.timeout or timeout

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], timeout: float) -> AppriseNotifier:
        where = f"[notifiers.{name}]"
        s = settings(AppriseSettings, table, where)
        if not s.urls:
            raise ConfigError(f"{where}: urls = [...] is required")
        apprise = _module()
        for url in s.urls:
            if apprise.Apprise.instantiate(url) is None:
                raise ConfigError(f"{where}: Apprise does not understand URL #"
                                  f"{s.urls.index(url) + 1}")
        return cls(name, s, timeout)

    def send(self, message: Message) -> None:
        apprise = _module()
        # Each service also has Apprise's own socket timeouts (rto/cto, 4 s by default).
        obj = apprise.Apprise()
        for url in self.s.urls:
            obj.add(url)
        worst = message.payload.get("severity")
        kind = apprise.NotifyType.FAILURE if worst == "critical" else \
            apprise.NotifyType.WARNING if message.payload.get("firing") else \
            apprise.NotifyType.SUCCESS
        extra = {"timeout": self.timeout} \
            if "timeout" in inspect.signature(obj.notify).parameters else {}  # Apprise >= 2
        ok = obj.notify(title=message.subject, body=message.short if self.s.short
                        else message.text, notify_type=kind, **extra)
        if not ok:
            shown = ", ".join(s.url(privacy=True) for s in obj)
            raise NotifyError(f"apprise: not delivered to {shown}")
