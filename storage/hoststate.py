"""Each host's last status and its probes that are not ok, as ``onion hosts`` and the
daemon's ``/api/hosts`` show them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class HostState:
    status: str = "never polled"
    last_seen: dt.datetime | None = None
    last_ok: dt.datetime | None = None
    reason: str | None = None
    probes_not_ok: list[str] = field(default_factory=list)   # "probe: status (reason)"


def load(con: Any) -> dict[str, HostState]:
    """Every host the database knows; empty for a database with no poll yet."""
    out: dict[str, HostState] = {}
    known = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_name IN ('hosts', 'latest_probe_results')").fetchall()}
    if "hosts" in known:
        for host, status, seen, ok_at, reason in con.execute(
                "SELECT host, last_status, last_seen, last_ok, last_reason FROM hosts").fetchall():
            out[host] = HostState(status, seen, ok_at, reason)
    if "latest_probe_results" in known:
        for host, probe, status, reason in con.execute(
                "SELECT host, probe, status, reason FROM latest_probe_results "
                "WHERE status <> 'ok' ORDER BY host, probe").fetchall():
            out.setdefault(host, HostState()).probes_not_ok.append(
                f"{probe}: {status} ({reason})")
    return out
