"""The state machine of one rule × host × item, as a pure function of what a poll saw.

::

    inactive ──condition──▶ pending ──held `for` and `polls`──▶ firing ──clear──▶ resolved
       ▲                       │                                  │ repeat: told again
       └──── condition false ──┘                                  └ flapping: held, told once

A change into firing or (told) resolved is counted; ``flap_changes`` of them within
``flap_window`` hold the alert: one "flapping" message, then silence until it has been
stable a whole window, when one message tells where it settled. Durations are measured
on the samples' own timestamps, so replaying history gives what live rounds gave.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from onion.alerts.rules import Rule

INACTIVE, PENDING, FIRING, RESOLVED = "inactive", "pending", "firing", "resolved"


@dataclass(frozen=True, slots=True)
class Policy:
    flap_window: dt.timedelta = dt.timedelta(hours=1)
    flap_changes: int = 6


@dataclass(frozen=True, slots=True)
class Observation:
    """What one poll said about one rule × host × item."""

    ts: dt.datetime
    run_id: int
    fired: bool                  # the condition is true
    cleared: bool                # the clear condition is true, or the item is gone
    value: str | None = None
    summary: str = ""
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AlertState:
    rule: str
    host: str
    item: str
    state: str = INACTIVE
    held: bool = False                        # flapping: changes are not told
    severity: str = "warning"
    value: str | None = None
    summary: str = ""
    pending_since: dt.datetime | None = None
    firing_since: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    last_run_id: int | None = None
    true_polls: int = 0
    last_notified: dt.datetime | None = None
    notifications: int = 0
    changes: list[dt.datetime] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.host, self.item)

    @property
    def idle(self) -> bool:
        """Nothing left to remember: the row can go."""
        return self.state in (INACTIVE, RESOLVED) and not self.held and not self.changes


@dataclass(frozen=True, slots=True)
class Event:
    """A transition; ``notify``: it goes into this run's messages."""

    ts: dt.datetime
    run_id: int
    rule: str
    host: str
    item: str
    event: str        # pending, cancelled, firing, resolved, repeat, flapping, settled
    state: str        # the state after it
    severity: str
    value: str | None
    summary: str
    notify: bool
    since: dt.datetime | None = None   # when it started firing
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> dt.timedelta | None:
        return self.ts - self.since if self.since else None


def advance(st: AlertState, obs: Observation, rule: Rule, policy: Policy) -> list[Event]:
    """Move one alert on by one poll's observation; returns what happened."""
    out: list[Event] = []
    ts = obs.ts

    def emit(kind: str, notify: bool) -> None:
        if notify:
            st.last_notified = ts
            st.notifications += 1
        out.append(Event(ts, obs.run_id, st.rule, st.host, st.item, kind, st.state,
                         rule.severity.value, st.value, st.summary, notify, st.firing_since,
                         dict(rule.labels)))

    def change(kind: str, told: bool) -> None:
        """A firing/resolved change: counted for flapping, told unless held."""
        st.changes = [c for c in st.changes if ts - c < policy.flap_window]
        if told:
            st.changes.append(ts)
        if told and not st.held and len(st.changes) >= policy.flap_changes:
            st.held = True
            emit(kind, False)
            emit("flapping", True)
            return
        emit(kind, told and not st.held)

    st.last_seen, st.last_run_id, st.severity = ts, obs.run_id, rule.severity.value
    if obs.fired or st.state == FIRING:
        st.value, st.summary = obs.value, obs.summary or st.summary
    if st.state in (INACTIVE, RESOLVED):
        if obs.fired:
            st.state, st.pending_since, st.true_polls = PENDING, ts, 0
    elif st.state == PENDING and not obs.fired:
        st.state, st.true_polls = INACTIVE, 0
        emit("cancelled", False)
    if st.state == PENDING:
        st.true_polls += 1
        assert st.pending_since is not None
        if ts - st.pending_since >= rule.hold and st.true_polls >= rule.polls:
            st.state, st.firing_since = FIRING, ts
            change("firing", True)
        elif st.true_polls == 1:
            emit("pending", False)
    elif st.state == FIRING:
        if obs.cleared or (rule.event and not obs.fired):
            st.state, st.resolved_at = RESOLVED, ts
            change("resolved", rule.tells_recovery)
            st.firing_since = None
        elif rule.event:                       # the same kind of event again: a new one
            st.firing_since = ts
            change("firing", True)
        elif rule.repeat and not st.held and st.last_notified \
                and ts - st.last_notified >= rule.repeat:
            emit("repeat", True)
    _settle(st, obs, policy, emit)
    return out


def _settle(st: AlertState, obs: Observation, policy: Policy, emit: Any) -> None:
    """A held alert stable for a whole window is released with one message."""
    recent = [c for c in st.changes if obs.ts - c < policy.flap_window]
    st.changes = recent
    if st.held and not recent:
        st.held = False
        emit("settled", True)
