"""Mail through an SMTP relay: implicit TLS, STARTTLS or plain; optional login.

Certificates are verified (the system CAs, or ``ca_file`` for a site relay); STARTTLS
that the server does not offer is an error, never a silent fallback to plain text.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from onion.alerts.messages import Message
from onion.alerts.notifiers import Deadline, NotifyError, secret, settings
from onion.core.errors import ConfigError

_SECURITY = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(slots=True)
class SMTPSettings:
    host: str = "localhost"
    port: int = 0
    security: str = "starttls"
    username: str = ""
    password: str = ""
    password_file: str = ""
    ca_file: str = ""
    from_addr: str = ""
    to: list[str] = field(default_factory=list)
    timeout: float = 0.0


class SMTPNotifier:
    kind = "smtp"

    def __init__(self, name: str, s: SMTPSettings, timeout: float) -> None:
        self.name, self.s = name, s
        self.timeout = s.timeout or timeout
        self.port = s.port or _SECURITY[s.security]
        self.password = s.password

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], timeout: float) -> SMTPNotifier:
        where = f"[notifiers.{name}]"
        s = settings(SMTPSettings, table, where)
        if s.security not in _SECURITY:
            raise ConfigError(f"{where}: security must be starttls, tls or none")
        if not s.to:
            raise ConfigError(f"{where}: to = [...] is required")
        notifier = cls(name, s, timeout)
        notifier.password = secret(s.password, s.password_file, "password", where)
        return notifier

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.s.ca_file or None)

    def mail(self, message: Message) -> EmailMessage:
        m = EmailMessage()
        m["Subject"] = message.subject
        m["From"] = self.s.from_addr or f"onion@{socket.getfqdn()}"
        m["To"] = ", ".join(self.s.to)
        m["Date"] = formatdate(localtime=False)
        m["Message-ID"] = make_msgid(domain="onion")
        m.set_content(message.text)
        m.add_alternative(message.html, subtype="html")
        return m

    def send(self, message: Message) -> None:
        mail = self.mail(message)
        deadline = Deadline(self.timeout)  # one for the whole exchange, not per read
        try:
            if self.s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=self.timeout,
                                                      context=self._context())
            else:
                smtp = smtplib.SMTP(timeout=self.timeout)
            # Connected after the guard is set, so the greeting is bounded too; the host is
            # what the constructor would have recorded for TLS's server name.
            smtp._host = self.s.host
            deadline.guard(lambda: getattr(smtp, "sock", None))
            smtp.connect(self.s.host, self.port)
            with smtp:
                if self.s.security == "starttls":
                    smtp.starttls(context=self._context())
                if self.s.username:
                    smtp.login(self.s.username, self.password)
                refused = smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            if deadline.expired:
                raise NotifyError(f"mail via {self.s.host}:{self.port}: not done within "
                                  f"{self.timeout:g} s (the server is too slow)") from exc
            raise NotifyError(f"mail via {self.s.host}:{self.port}: "
                              f"{type(exc).__name__}: {exc}") from exc
        finally:
            deadline.cancel()
        if refused:
            raise NotifyError(f"mail via {self.s.host}: recipients refused: {refused}")
