"""A JSON POST of the message's payload, optionally signed.

With ``secret`` set, header ``X-Onion-Signature: sha256=<hex>`` carries the
HMAC-SHA256 of the exact body bytes with that secret (as GitHub signs its hooks); the
receiver recomputes it and compares with ``hmac.compare_digest``. Any answer but 2xx,
a redirect included, is a failure and the message is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from onion.alerts.messages import Message
from onion.alerts.notifiers import NotifyError, secret, settings
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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None  # a POST is not replayed elsewhere: the 3xx surfaces as an error


class WebhookNotifier:
    kind = "webhook"

    def __init__(self, name: str, s: WebhookSettings, timeout: float, key: str) -> None:
        self.name, self.s, self.key = name, s, key
        self.timeout = s.timeout or timeout
        handlers: list[Any] = [_NoRedirect()]
        if urlsplit(s.url).scheme == "https":
            ctx = ssl.create_default_context(cafile=s.ca_file or None)
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], timeout: float) -> WebhookNotifier:
        where = f"[notifiers.{name}]"
        s = settings(WebhookSettings, table, where)
        parts = urlsplit(s.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}: url must be an http:// or https:// URL, not {s.url!r}")
        return cls(name, s, timeout, secret(s.secret, s.secret_file, "secret", where))

    def request(self, message: Message) -> urllib.request.Request:
        body = json.dumps(message.payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "onion-poller",
                   **self.s.headers}
        if self.key:
            headers[SIGNATURE_HEADER] = sign(body, self.key)
        # from_config admits http and https only
        return urllib.request.Request(self.s.url, data=body, headers=headers,  # noqa: S310
                                      method="POST")

    def send(self, message: Message) -> None:
        host = urlsplit(self.s.url).netloc
        try:
            with self.opener.open(self.request(message), timeout=self.timeout) as resp:
                resp.read(65536)
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise NotifyError(f"webhook {host}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise NotifyError(f"webhook {host}: {exc}") from exc
        if not 200 <= status < 300:
            raise NotifyError(f"webhook {host}: HTTP {status}")
