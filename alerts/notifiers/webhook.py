"""A JSON POST of the message's payload, optionally signed.

With ``secret`` set, header ``X-Onion-Signature: sha256=<hex>`` carries the
HMAC-SHA256 of the exact body bytes with that secret (as GitHub signs its hooks); the
receiver recomputes it and compares with ``hmac.compare_digest``. Any answer but 2xx,
a redirect included, is a failure and the message is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from onion.alerts.messages import Message
from onion.alerts.notifiers import Deadline, NotifyError, secret, settings
from onion.core.errors import ConfigError

SIGNATURE_HEADER = "X-Onion-Signature"


def sign(body: bytes, key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@dataclass(slots=True)
class WebhookSettings:
    url: str = ""
    secret: str = ""
    secret_file: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    ca_file: str = ""
    timeout: float = 0.0


class WebhookNotifier:
    kind = "webhook"

    def __init__(self, name: str, s: WebhookSettings, timeout: float, key: str) -> None:
        self.name, self.s, self.key = name, s, key
        self.timeout = s.timeout or timeout
        self.context = ssl.create_default_context(cafile=s.ca_file or None) \
            if urlsplit(s.url).scheme == "https" else None

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], timeout: float) -> WebhookNotifier:
        where = f"[notifiers.{name}]"
        s = settings(WebhookSettings, table, where)
        parts = urlsplit(s.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}: url must be an http:// or https:// URL, not {s.url!r}")
        return cls(name, s, timeout, secret(s.secret, s.secret_file, "secret", where))

    def body_and_headers(self, message: Message) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(message.payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "onion-poller",
                   **self.s.headers}
        if self.key:
            headers[SIGNATURE_HEADER] = sign(body, self.key)
        return body, headers

    def send(self, message: Message) -> None:
        """POST within one deadline for the whole exchange; no redirect is followed (a
        POST is not replayed elsewhere: a 3xx is a failure)."""
        url = urlsplit(self.s.url)
        host = url.netloc
        body, headers = self.body_and_headers(message)
        conn: http.client.HTTPConnection
        if self.context is not None:
            conn = http.client.HTTPSConnection(url.hostname or "", url.port,
                                               timeout=self.timeout, context=self.context)
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port,
                                              timeout=self.timeout)
        deadline = Deadline(self.timeout)
        try:
            conn.connect()
            deadline.guard(lambda: conn.sock)
            conn.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""),
                         body=body, headers=headers)
            resp = conn.getresponse()
            resp.read(65536)
            status, reason = resp.status, resp.reason
        except (http.client.HTTPException, OSError) as exc:
            if deadline.expired:
                raise NotifyError(f"webhook {host}: no whole answer within {self.timeout:g} s "
                                  "(the server is too slow)") from exc
            raise NotifyError(f"webhook {host}: {type(exc).__name__}: {exc}") from exc
        finally:
            deadline.cancel()
            conn.close()
        if not 200 <= status < 300:
            raise NotifyError(f"webhook {host}: HTTP {status} {reason}")
