"""The outbox: every message is stored before it is sent, and stays until a notifier
took it. A notifier that fails (server down, HTTP 500, timeout) gets the message again
on the next runs, oldest first, for ``[alerts] retry_for``; then it is marked
``expired``, still kept. Delivery is at least once: a run killed between sending and
recording sends that message again.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import duckdb

from onion.alerts.messages import Message
from onion.alerts.notifiers import Notifier, NotifyError

log = logging.getLogger("onion.alerts")
MAX_SENDS_PER_RUN = 50          # per notifier; the rest wait for the next run
_ids = itertools.count()


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    notifier: str
    created_at: dt.datetime
    message: Message


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    ok: bool
    error: str | None
    at: dt.datetime


def enqueue(con: duckdb.DuckDBPyConnection, notifier: str, message: Message,
            now: dt.datetime) -> int:
    oid = time.time_ns() // 1000 * 1000 + next(_ids) % 1000
    con.execute("INSERT INTO alert_outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, "
                "NULL, NULL, NULL, NULL)",
                [oid, now, notifier, message.subject, message.text, message.short,
                 message.html, json.dumps(message.payload), len(message.alerts)])
    return oid


def due(con: duckdb.DuckDBPyConnection, now: dt.datetime, retry_for: dt.timedelta,
        send_timeout: float = 10.0) -> list[Pending]:
    """Messages to send now, claimed for this run; those older than ``retry_for`` are
    given up (kept, expired). Called under the poll lock: the sending happens after it
    is released, so a claim keeps the next run from sending the same message meanwhile."""
    con.execute("UPDATE alert_outbox SET status = 'expired', last_error = "
                "coalesce(last_error, '') || ' (gave up: [alerts] retry_for passed)' "
                "WHERE status = 'pending' AND created_at < ?", [now - retry_for])
    rows = con.execute("SELECT id, notifier, created_at, subject, text, short, html, payload "
                       "FROM alert_outbox WHERE status = 'pending' AND "
                       "(claimed_until IS NULL OR claimed_until < ?) ORDER BY id",
                       [now]).fetchall()
    if rows:
        per_notifier = max(Counter(r[1] for r in rows).values())
        # Long enough for this run to try every message it took, each within its deadline.
        until = now + dt.timedelta(seconds=send_timeout * min(per_notifier, MAX_SENDS_PER_RUN)
                                   + 60)
        con.execute("UPDATE alert_outbox SET claimed_until = ? WHERE list_contains(?, id)",
                    [until, [r[0] for r in rows]])
    return [Pending(r[0], r[1], r[2], Message(r[3], r[4], r[5], r[6], json.loads(r[7])))
            for r in rows]


def deliver(pending: Sequence[Pending], notifiers: Mapping[str, Notifier | str],
            clock: Callable[[], dt.datetime]) -> list[Attempt]:
    """Send in order; a notifier that fails is not asked again this run.

    ``notifiers`` maps a name to its notifier, or to why it cannot be built.
    """
    attempts: list[Attempt] = []
    failed: set[str] = set()
    sent: dict[str, int] = {}
    for p in pending:
        if p.notifier in failed or sent.get(p.notifier, 0) >= MAX_SENDS_PER_RUN:
            continue
        notifier = notifiers.get(p.notifier, f"no notifier named {p.notifier!r} is configured")
        if isinstance(notifier, str):
            attempts.append(Attempt(p.id, False, notifier, clock()))
            failed.add(p.notifier)
            continue
        try:
            notifier.send(p.message)
        except NotifyError as exc:
            error = str(exc)
        except Exception as exc:  # a plugin's bug must not cost the poll or the message
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = None
        if error is not None:
            log.warning("notifier %s failed (retried next run): %s", p.notifier, error)
            failed.add(p.notifier)
        sent[p.notifier] = sent.get(p.notifier, 0) + 1
        attempts.append(Attempt(p.id, error is None, error, clock()))
    return attempts


def record(con: duckdb.DuckDBPyConnection, attempts: Sequence[Attempt]) -> None:
    for a in attempts:
        con.execute("UPDATE alert_outbox SET attempts = attempts + 1, last_attempt = ?, "
                    "last_error = ?, claimed_until = NULL, "
                    "status = CASE WHEN ? THEN 'sent' ELSE status END, "
                    "sent_at = CASE WHEN ? THEN ? ELSE sent_at END WHERE id = ?",
                    [a.at, a.error, a.ok, a.ok, a.at, a.id])
