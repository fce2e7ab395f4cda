"""What every host page reads, read once for all the hosts being rendered.

A host page used to cost a dozen queries, each scanning a table's window for one host
(42 s for 200 hosts × 7 days). Here each table is read once for the hosts asked: the
charts' series (:class:`series.Batch`), the newest rows of each table, the last polls,
the changes and the alerts; a host page is then put together from memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from onion.core.sqltext import ident
from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports import series
from onion.reports.sql import Con, dicts

RECENT_POLLS = 20


class FleetData:
    def __init__(self, con: Con, rels: set[str], start: dt.datetime, end: dt.datetime,
                 hosts: Iterable[str], changes: changes_mod.Raw | None = None) -> None:
        self.con, self.rels, self.start, self.end = con, rels, start, end
        self.hosts = list(hosts)
        self.windows = series.windows(con, start, end, self.hosts) if "polls" in rels \
            else {h: series._window(h, start, end, None, None, None, None) for h in self.hosts}
        self.series = series.Batch(con, self.windows)
        self._newest: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        self._runs: dict[str, dict[str, int]] | None = None
        self._any_run: dict[str, int] = {}
        self._polls: dict[str, list[dict[str, Any]]] | None = None
        self._changes = changes          # the fleet's, when the caller read them already
        self._alerts: alerts_mod.AlertData | None = None
        self._users: dict[str, list[dict[str, Any]]] | None = None

    def with_changes(self, changes: changes_mod.Raw | None) -> FleetData:
        """These reads, with the fleet's changes where the caller read them already."""
        if self._changes is None:
            self._changes = changes
        return self

    def src(self, table: str) -> str:
        return f"hot.{ident(table)}" if f"hot.{table}" in self.rels else ident(table)

    def runs(self) -> dict[str, dict[str, int]]:
        """probe -> host -> newest run that gave it rows (as ``latest_*`` says)."""
        if self._runs is None:
            self._runs = {}
            if "probe_results" in self.rels and self.hosts:
                for probe, host, good, last in self.con.execute(
                        f"SELECT probe, host, max(run_id) FILTER (WHERE records > 0), "
                        f"max(run_id) FROM {self.src('probe_results')} "
                        "WHERE host IN (SELECT unnest($hosts)) GROUP BY probe, host",
                        {"hosts": self.hosts}).fetchall():
                    if good is not None:
                        self._runs.setdefault(probe, {})[host] = int(good)
                    self._any_run[host] = max(self._any_run.get(host, 0), int(last))
        return self._runs

    def newest(self, table: str, order: str, columns: str = "*",
               runs: dict[str, int] | None = None) -> dict[str, list[dict[str, Any]]]:
        """host -> its rows of ``table`` from its newest run with rows (or ``runs``)."""
        cache_key = (table, order + columns + repr(sorted((runs or {}).items())))
        if cache_key in self._newest:
            return self._newest[cache_key]
        out: dict[str, list[dict[str, Any]]] = {}
        if table in self.rels:
            chosen = dict(runs if runs is not None else self.runs().get(table, {}))
            missing = [h for h in self.hosts if h not in chosen] if runs is None else []
            if missing:  # no probe_results with rows for them: their newest run there
                chosen.update({h: int(r) for h, r in self.con.execute(
                    f"SELECT host, max(run_id) FROM {self.src(table)} "
                    "WHERE host IN (SELECT unnest($hosts)) GROUP BY host",
                    {"hosts": missing}).fetchall() if r is not None})
            if chosen:
                # run_id grows with time: the lower bound lets DuckDB skip every row
                # group but the newest few.
                for r in dicts(self.con, f"""
                        SELECT {columns}, host AS "__host" FROM {self.src(table)}
                        JOIN (SELECT unnest($h) AS host, unnest($r) AS run_id) m
                        USING (host, run_id) WHERE run_id >= $low
                        ORDER BY host, {order}""",
                               {"h": list(chosen), "r": list(chosen.values()),
                                "low": min(chosen.values())}):
                    out.setdefault(r.pop("__host"), []).append(r)
        self._newest[cache_key] = out
        return out

    def probes(self) -> dict[str, list[dict[str, Any]]]:
        self.runs()
        return self.newest("probe_results", "status = 'ok', probe",
                           "probe, status, reason, records, ts", runs=self._any_run)

    def polls(self, host: str) -> list[dict[str, Any]]:
        if self._polls is None:
            self._polls = {}
            if "polls" in self.rels:
                for r in dicts(self.con, f"""
                        SELECT host, ts, status, reason, connect_s, command_s, bytes_read
                        FROM polls WHERE ts >= $start AND host IN (SELECT unnest($hosts))
                        QUALIFY row_number() OVER (PARTITION BY host ORDER BY ts DESC)
                                <= {RECENT_POLLS}
                        ORDER BY host, ts DESC""", {"start": self.start, "hosts": self.hosts}):
                    self._polls.setdefault(r.pop("host"), []).append(r)
        return self._polls.get(host, [])

    def changes(self, host: str) -> dict[str, changes_mod.Section]:
        if self._changes is None:
            one = self.hosts[0] if len(self.hosts) == 1 else None
            self._changes = changes_mod.raw(self.con, self.start, one, self.rels)
        return changes_mod.sections(self._changes, host=host)

    def alerts(self, host: str) -> alerts_mod.AlertData:
        if self._alerts is None:
            one = self.hosts[0] if len(self.hosts) == 1 else None
            self._alerts = alerts_mod.load(self.con, self.start, host=one, rels=self.rels,
                                           limit=None)
        return alerts_mod.for_host(self._alerts, host)

    def gpu_users(self) -> dict[str, list[dict[str, Any]]]:
        """host -> who holds which GPU at its newest poll that asked (none there: nobody,
        not the last users ever seen)."""
        if "gpu_usage_by_user" not in self.rels or "probe_results" not in self.rels:
            return {}
        if self._users is not None:
            return self._users
        runs = {h: int(r) for h, r in self.con.execute(
            f"SELECT host, max(run_id) FROM {self.src('probe_results')} "
            "WHERE probe = 'gpu_processes' AND status IN ('ok', 'partial') "
            "AND host IN (SELECT unnest($hosts)) GROUP BY host", {"hosts": self.hosts}).fetchall()
            if r is not None}
        self._users = self.newest("gpu_usage_by_user",
                                  'uuid, memory_bytes DESC NULLS LAST, "user"',
                                  runs=runs) if runs else {}
        return self._users
