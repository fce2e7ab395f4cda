"""Forwarding to a central Onion: a sink whose destination is another ``onion daemon``.

    [sinks.central]
    type = "onion"
    url = "https://central.example.org:8443"   # the central's [daemon] listen
    token_file = "~/.config/onion/central.token"  # this poller's token at the central
    tls_ca = ""                   # the central's CA or self-signed cert; empty: the system's
    max_queue_bytes = "1GiB"      # batches waiting for the central, at most
    max_queue_age = "7d"          # … and none older than this
    when_full = "drop_oldest"     # or "block": no new round while the queue is full
    timeout = "30s"               # one request
    backoff_min = "5s"            # after a failure, wait this long before the next try,
    backoff_max = "5m"            # doubling (with jitter) up to this; Retry-After is honoured

Each batch is POSTed to ``/api/v1/batches`` (:mod:`onion.storage.wire`, gzip JSON). The
central stores it once, whatever the number of tries, and says 200 for a batch it has.
Until then the batch waits in this poller's queue on disk (written, fsynced, renamed; a
marker per sink is the cursor), so neither the central nor this poller being down, or
killed mid-send, loses or doubles anything:

- 200: taken (stored now, or a duplicate of one it has);
- 429, 5xx, 408, a connection that fails or times out, 401/403 (a token to fix) and 404
  (a URL to fix): the batch waits; the next try after the backoff;
- any other 4xx (400, 413, 422): the central refuses this batch itself: it goes to the
  dead-letter folder (``<queue>/quarantine``) with the reason, and the next ones go on.

Batches dropped from the queue for room or age are recorded here (``storage_events``) and
sent to the central with the next batch as a gap ("3 rounds dropped 10:05–10:20").
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import os
import random
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onion.core import duration
from onion.core.errors import BatchRefused, ConfigError, SinkError
from onion.core.files import private_dir
from onion.core.units import parse_size
from onion.storage import wire
from onion.storage.batch import Batch
from onion.storage.queue import Limits, Queue
from onion.storage.schema import TableSpec
from onion.storage.sink import Health, SinkContext, Written, check_keys

PATH = "/api/v1/batches"
KNOWN = {"url", "token_file", "tls_ca", "max_queue_bytes", "max_queue_age", "when_full",
         "timeout", "backoff_min", "backoff_max", "poller"}
# Statuses after which the same batch is tried again later: the central (or the way to
# it) is not taking anything now, or the poller's settings need a fix; not the batch.
RETRY = {401, 403, 404, 408, 409, 425, 429}
RETRY_AFTER_MAX_S = 3600.0


@dataclass(slots=True)
class Backoff:
    """Failures in a row and when to try next; kept in a file, since each cron run (and
    each daemon round) builds its sinks afresh."""

    failures: int = 0
    not_before: float = 0.0        # epoch seconds
    last_error: str = ""

    @classmethod
    def load(cls, path: Path) -> Backoff:
        try:
            data = json.loads(path.read_text())
            return cls(int(data["failures"]), float(data["not_before"]),
                       str(data.get("last_error", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"failures": self.failures, "not_before": self.not_before,
                       "last_error": self.last_error[:500]}, f)
        os.replace(tmp, path)


def _seconds(table: Mapping[str, Any], key: str, default: str, where: str) -> float:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where} {key} must be a duration such as \"30s\", not {value!r}")
    seconds = duration.parse(value, f"{where} {key}").total_seconds()
    if seconds <= 0:
        raise ConfigError(f"{where} {key} must be above 0")
    return seconds


class OnionForwardSink:
    kind = "onion"
    classifies_failures = True   # only BatchRefused means "this batch"; see fanout
    # In a daemon the round only queues the batch for this sink (fsynced), and a task of
    # the daemon sends it: a slow or absent central never slows the rounds.
    deferred = False

    def __init__(self, name: str, url: str, token_file: Path, ca_file: str | None,
                 limits: Limits, timeout: float, backoff: tuple[float, float],
                 state_dir: Path, poller: str) -> None:
        self.name = name
        self.url = url
        self.token_file = token_file
        self.ca_file = ca_file
        self.queue_limits = limits
        self.timeout = timeout
        self.backoff_min, self.backoff_max = backoff
        self.state_path = state_dir / f"forward-{name}.json"
        self.poller = poller
        self.queue: Queue | None = None   # set by fanout: where this sink's gaps wait
        self._token: str | None = None
        self._ctx: ssl.SSLContext | None = None

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], context: SinkContext
                    ) -> OnionForwardSink:
        where = f"[sinks.{name}]"
        check_keys(table, KNOWN, where)
        url = table.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme != "https" or \
                not urlsplit(url).hostname:
            raise ConfigError(f"{where} url must be https://HOST:PORT of the central "
                              f"(batches never travel without TLS), not {url!r}")
        token = table.get("token_file")
        if not isinstance(token, str) or not token:
            raise ConfigError(f"{where} token_file is required (the central's "
                              "`onion central token NAME` writes one)")
        ca = table.get("tls_ca", "")
        if not isinstance(ca, str):
            raise ConfigError(f"{where} tls_ca must be a file name")
        size = table.get("max_queue_bytes", "1GiB")
        if not isinstance(size, str):
            raise ConfigError(f"{where} max_queue_bytes must be a size such as \"1GiB\"")
        when_full = table.get("when_full", "drop_oldest")
        if when_full not in ("drop_oldest", "block"):
            raise ConfigError(f"{where} when_full must be \"drop_oldest\" or \"block\", not "
                              f"{when_full!r}")
        limits = Limits(parse_size(size, f"{where} max_queue_bytes"),
                        _seconds(table, "max_queue_age", "7d", where), when_full)
        low = _seconds(table, "backoff_min", "5s", where)
        high = _seconds(table, "backoff_max", "5m", where)
        if high < low:
            raise ConfigError(f"{where} backoff_max must not be below backoff_min")
        poller = table.get("poller") or socket.gethostname()
        if not isinstance(poller, str):
            raise ConfigError(f"{where} poller must be a name")
        token_path = Path(token).expanduser()
        if not token_path.is_absolute():
            token_path = context.data_dir / token_path
        sink = cls(name, url, token_path, (str(Path(ca).expanduser()) if ca else None),
                   limits, _seconds(table, "timeout", "30s", where), (low, high),
                   context.data_dir, poller)
        sink.deferred = bool(context.extra.get("background"))
        return sink

    # -- the contract -------------------------------------------------------------------

    def open(self) -> None:
        state = Backoff.load(self.state_path)
        wait = state.not_before - time.time()
        if wait > 0:
            raise SinkError(f"central {self.url}: next try in {wait:.0f} s ({state.failures} "
                            f"failure(s) in a row; last: {state.last_error})")
        if self._token is None:
            try:
                token = self.token_file.read_text().strip()
            except OSError as exc:
                raise SinkError(f"token_file {self.token_file}: {exc.strerror}") from exc
            if not token:
                raise SinkError(f"token_file {self.token_file} is empty")
            self._token = token
        if self._ctx is None:
            try:
                self._ctx = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise SinkError(f"tls_ca {self.ca_file}: {exc}") from exc
            self._ctx.minimum_version = ssl.TLSVersion.TLSv1_2

    def ensure_schema(self, tables: Mapping[str, TableSpec]) -> None:
        """The central makes its own tables from each batch's specs."""

    def write(self, batch: Batch) -> Written:
        self.open()
        gaps = self.queue.gaps(self.name) if self.queue is not None else []
        meta = {**batch.meta, "poller": self.poller}
        body = wire.encode(Batch(batch.run_id, batch.tables, batch.data, batch.origin, meta,
                                 batch.origin_run_id), gaps)
        try:
            status, reply, retry_after = self._post(body, batch.batch_id)
        except SinkError as exc:
            self._failed(str(exc), None)
            raise
        if status == 200:
            self.state_path.unlink(missing_ok=True)
            if gaps and self.queue is not None:
                self.queue.gaps_sent(self.name, len(gaps))
            return Written.DUPLICATE if reply.get("duplicate") else Written.STORED
        message = f"central {self.url}: HTTP {status}: {reply.get('error') or 'no reason'}"
        if status in RETRY or status >= 500 or status < 400:
            self._failed(message, retry_after)
            raise SinkError(message)
        raise BatchRefused(message)

    def health(self) -> Health:
        state = Backoff.load(self.state_path)
        if state.failures:
            return Health(False, f"{state.failures} failure(s) in a row: {state.last_error}")
        return Health(True, self.url)

    def close(self) -> None:
        self._token = None

    # -- HTTP -----------------------------------------------------------------------------

    def _post(self, body: bytes, batch_id: str) -> tuple[int, dict[str, Any], float | None]:
        assert self._ctx is not None and self._token is not None
        parts = urlsplit(self.url)
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443,
                                           timeout=self.timeout, context=self._ctx)
        path = (parts.path.rstrip("/") or "") + PATH
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": wire.CONTENT_TYPE,
                   "Idempotency-Key": batch_id, "Accept": "application/json"}
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read(1 << 20)
        except ssl.SSLError as exc:
            raise SinkError(f"central {self.url}: TLS failed: {exc.reason or exc} (is tls_ca "
                            "the central's certificate or its CA?)") from exc
        except TimeoutError as exc:
            raise SinkError(f"central {self.url}: no answer in {self.timeout:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
            raise SinkError(f"central {self.url}: {reason}") from exc
        finally:
            conn.close()
        try:
            reply = json.loads(raw) if raw else {}
        except ValueError:
            reply = {}
        return resp.status, reply if isinstance(reply, dict) else {}, \
            _retry_after(resp.getheader("Retry-After"))

    def _failed(self, message: str, retry_after: float | None) -> None:
        state = Backoff.load(self.state_path)
        state.failures += 1
        # Exponential with full jitter in its upper half: pollers that lost the central
        # together do not all come back in the same second.
        delay = min(self.backoff_max, self.backoff_min * 2 ** min(state.failures - 1, 30))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX_S))
        state.not_before, state.last_error = time.time() + delay, message
        try:
            private_dir(self.state_path.parent)
            state.save(self.state_path)
        except OSError:
            pass  # without the file the next round simply tries again


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
