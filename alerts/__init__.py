"""Alerts: rules over the stored polls, a state machine per rule × host × item, and
notifications grouped per run.

After each poll, on the run's open connection, :func:`poller.alerts.live.judge_after_poll`
judges every poll stored since the last evaluation (see :mod:`poller.alerts.engine`),
records what changed and queues one message per notifier; once the connection is closed,
:func:`poller.alerts.live.deliver_after_poll` sends the queue (:mod:`poller.alerts.outbox`).
A failure is logged and never fails the poll.

Tables (DuckDB, schema ``main``):

``alerts`` — current state, one row per rule × host × item still worth remembering
    rule, host, item (item key values joined by " / "; "" for a host-level rule),
    state (pending, firing, resolved, inactive), held (true while flapping), severity
    (info, warning, critical), value (text), summary, labels (JSON object),
    pending_since, firing_since, resolved_at, last_seen (sample times, UTC),
    last_run_id, true_polls (polls in a row the condition held), last_notified,
    notifications (how many times told), changes (recent firing/resolved times, for
    flap detection). Primary key (rule, host, item).

``alert_events`` — history, one row per transition
    ts (the sample's time), run_id, evaluated_at, rule, host, item, event (pending,
    cancelled, firing, resolved, repeat, flapping, settled), state (after it), severity,
    value, summary, labels (JSON), notify (went into a message), since (when it started
    firing), duration_s (how long it had been firing).

``alert_outbox`` — messages, kept after sending
    id, created_at, notifier, subject, text, short, html, payload (JSON, as webhooks get
    it), alerts (how many), status (pending, sent, expired), attempts, last_attempt,
    last_error, sent_at.

``alert_runs`` — which polls were judged
    run_id, evaluated_at, rules, events, notified, errors (rule SQL errors, or NULL).
"""

from __future__ import annotations
