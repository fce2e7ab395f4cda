"""Alerts after each poll: evaluate, record, queue the messages, send them.

The database has one writer and nobody holds it longer than needed: one connection reads
the new polls, writes the states, events and queued messages in one transaction and
closes; the messages are sent with no connection open; a second short connection records
how each delivery went.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onion.alerts import config as alert_config
from onion.alerts import engine, messages, outbox, tables
from onion.alerts import rules as alert_rules
from onion.alerts.rules import Rule
from onion.alerts.state import FIRING, PENDING, RESOLVED, Event
from onion.core.clock import utcnow
from onion.storage import catalog
from onion.storage import duck as store

log = logging.getLogger("onion.alerts")


@dataclass(slots=True)
class Report:
    runs: list[int] = field(default_factory=list)
    events: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def group(events: list[Event], rules: dict[str, Rule],
          default: list[str]) -> dict[str, list[Event]]:
    """The told events of a run, by notifier: one message each, however many hosts."""
    out: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.notify:
            rule = rules.get(e.rule)
            for name in (rule.notifiers if rule and rule.notifiers else default):
                out[name].append(e)
    return dict(out)


def evaluate(cfg: Any, db_path: Path, now: dt.datetime) -> Report:
    """Evaluate, queue and send; raises on a broken database (see evaluate_after_poll)."""
    # DuckDB creates its WAL at the first write, not at connect: the whole evaluation
    # runs under the private umask so that file is 0600 too.
    with store.private_files():
        con = store.connect(db_path)
        try:
            judged = judge(cfg, con, now)
        finally:
            con.close()
    return judged.deliver(cfg, db_path)


@dataclass(slots=True)
class Judged:
    """What :func:`judge` found: its report, and the messages due to be sent."""

    report: Report
    pending: list[Any]

    def deliver(self, cfg: Any, db_path: Path,
                guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
                ) -> Report:
        """Send the due messages (no connection open meanwhile), then record how it went
        (inside ``guard``: the daemon's hold on its own database)."""
        report = self.report
        if not self.pending:
            return report
        try:
            configured: dict[str, Any] = alert_config.notifiers(cfg)
        except Exception as exc:  # a plugin that cannot be built: recorded like a failure
            configured = {name: f"{type(exc).__name__}: {exc}" for name in cfg.notifiers}
        built = {p.notifier: configured.get(p.notifier, f"no [notifiers.{p.notifier}] in "
                                            "the config any more") for p in self.pending}
        attempts = outbox.deliver(self.pending, built, utcnow)
        report.sent = sum(a.ok for a in attempts)
        report.failed = sum(not a.ok for a in attempts)
        with guard(), store.private_files():
            con = store.connect(db_path)
            try:
                outbox.record(con, attempts)
            finally:
                con.close()
        return report


def judge(cfg: Any, con: Any, now: dt.datetime) -> Judged:
    """Judge the polls stored since the last evaluation on an open connection: states,
    events and queued messages written in one transaction. Sending is left to
    :meth:`Judged.deliver`, once the connection is closed."""
    report = Report()
    # The rules alone: the config was checked whole when it was loaded, its notifiers
    # built (all notifier plugins found and imported: 16 ms more of every round).
    loaded = alert_rules.load(cfg.alerts)
    rules = {r.name: r for r in loaded}
    policy = alert_config.policy(cfg.alerts)
    tables.ensure(con)
    specs = catalog.table_specs(con)  # {} also when the table is not there (asked once)
    if specs or tables.exists(con, "table_specs"):
        states = tables.load_states(con)
        runs = engine.runs_to_evaluate(con, engine.MAX_RUNS_PER_EVALUATION)
        outcome = engine.evaluate_runs(con, loaded, states, runs, policy, specs)
        report.runs, report.events = outcome.runs, len(outcome.events)
        report.errors = [f"rule {r}: {e}" for r, e in outcome.errors.items()]
        for err in report.errors:
            log.warning("alert %s", err)
        con.execute("BEGIN TRANSACTION")
        try:
            tables.save_states(con, states.values(), rules)
            tables.add_events(con, outcome.events, now)
            for run_id in outcome.runs:
                # Only runs not in alert_runs are judged (engine.runs_to_evaluate), under the
                # one writer's lock: nothing to replace, and an upsert costs 3 ms more.
                con.execute("INSERT INTO alert_runs VALUES (?, ?, ?, ?, ?, ?)",
                            [run_id, now, len(loaded),
                             sum(e.run_id == run_id for e in outcome.events),
                             sum(e.run_id == run_id and e.notify for e in outcome.events),
                             "\n".join(report.errors) or None])
            for name, evs in group(outcome.events, rules, cfg.alerts.notifiers).items():
                msg = messages.render(evs, now, cfg.alerts.templates)
                outbox.enqueue(con, name, msg, now)
                report.queued += 1
            if cfg.alerts.history_days:
                con.execute("DELETE FROM alert_events WHERE ts < ?",
                            [now - dt.timedelta(days=cfg.alerts.history_days)])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return Judged(report, outbox.due(con, now, alert_config.retry_for(cfg.alerts),
                                     cfg.alerts.send_timeout))


def evaluate_after_poll(cfg: Any, db_path: Path, now: dt.datetime) -> Report:
    """The poll's hook: never raises. A failure is logged (stderr, for cron) and the
    polls not judged yet are judged by the next run."""
    if not cfg.alerts.enabled:
        return Report()
    try:
        return evaluate(cfg, db_path, now)
    except Exception as exc:  # alerts must never fail a poll whose data is stored
        return _failed(exc)


def judge_after_poll(cfg: Any, con: Any, now: dt.datetime) -> Judged:
    """The poll's hook on its open connection; never raises (see evaluate_after_poll).
    The caller closes the connection, then calls ``deliver`` on the result."""
    if not cfg.alerts.enabled:
        return Judged(Report(), [])
    try:
        with store.private_files():
            return judge(cfg, con, now)
    except Exception as exc:  # alerts must never fail a poll whose data is stored
        return Judged(_failed(exc), [])


def deliver_after_poll(cfg: Any, db_path: Path, judged: Judged,
                       guard: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
                       ) -> Report:
    """Send what :func:`judge_after_poll` queued; never raises."""
    try:
        return judged.deliver(cfg, db_path, guard)
    except Exception as exc:  # a message not sent stays queued for the next run
        return _failed(exc)


def _failed(exc: Exception) -> Report:
    log.warning("onion: alerts not evaluated this run (the next run catches up): %s: %s",
                type(exc).__name__, exc)
    return Report(errors=[f"{type(exc).__name__}: {exc}"])


REMOVED = "removed from inventory"


def retire_hosts(cfg: Any, con: Any, hosts: set[str], now: dt.datetime, run_id: int) -> int:
    """Resolve the alerts of hosts that left the inventory (the daemon, on reload): nothing
    will observe them again, so they must not stay firing. Each is recorded as an event;
    no message is sent. Returns how many were resolved."""
    if not hosts or not tables.exists(con):
        return 0
    states = tables.load_states(con)
    events: list[Event] = []
    for st in states.values():
        if st.host not in hosts or not (st.state in (FIRING, PENDING) or st.held):
            continue
        since = st.firing_since
        st.state, st.resolved_at, st.firing_since, st.pending_since = RESOLVED, now, None, None
        st.held, st.changes, st.summary = False, [], REMOVED
        events.append(Event(now, run_id, st.rule, st.host, st.item, "resolved", RESOLVED,
                            st.severity, st.value, REMOVED, False, since))
    if events:
        rules = {r.name: r for r in alert_config.check(cfg)}
        con.execute("BEGIN TRANSACTION")
        try:
            tables.save_states(con, states.values(), rules)
            tables.add_events(con, events, now)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return len(events)
