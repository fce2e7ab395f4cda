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

RECENT_POLLS = 10       # a host page's newest polls,
RECENT_FAILED = 10      # and its newest failed ones before them: why it failed, and when


Runs = tuple[dict[str, dict[str, int]], dict[str, int]]


def probe_runs(con: Con, rels: set[str], hosts: list[str]) -> Runs:
    """probe -> host -> newest run that gave it rows, and host -> its newest run: one
    pass over ``probe_results`` that FleetData objects of some of these hosts can share
    (their ``runs``)."""
    runs: dict[str, dict[str, int]] = {}
    any_run: dict[str, int] = {}
    if "probe_results" in rels and hosts:
        src = f"hot.{ident('probe_results')}" if "hot.probe_results" in rels \
            else ident("probe_results")
        for probe, host, good, last in con.execute(
                f"SELECT probe, host, max(run_id) FILTER (WHERE records > 0), "
                f"max(run_id) FROM {src} "
                "WHERE host IN (SELECT unnest($hosts)) GROUP BY probe, host",
                {"hosts": hosts}).fetchall():
            if good is not None:
                runs.setdefault(probe, {})[host] = int(good)
            any_run[host] = max(any_run.get(host, 0), int(last))
    return runs, any_run


class FleetData:
    def __init__(self, con: Con, rels: set[str], start: dt.datetime, end: dt.datetime,
                 hosts: Iterable[str], changes: changes_mod.Raw | None = None,
                 runs: Runs | None = None) -> None:
        self.con, self.rels, self.start, self.end = con, rels, start, end
        self.hosts = list(hosts)
        self.windows = series.windows(con, start, end, self.hosts) if "polls" in rels \
            else {h: series._window(h, start, end, None, None, None, None) for h in self.hosts}
        self.series = series.Batch(con, self.windows)
        self._newest: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        # probe_runs(): given when read for more hosts than these already.
        self._runs: dict[str, dict[str, int]] | None = runs[0] if runs else None
        self._any_run: dict[str, int] = runs[1] if runs else {}
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
            self._runs, self._any_run = probe_runs(self.con, self.rels, self.hosts)
        return self._runs

    def newest(self, table: str, order: str, columns: str = "*",
               runs: dict[str, int] | None = None) -> dict[str, list[dict[str, Any]]]:
        """host -> its rows of ``table`` from its newest run with rows (or ``runs``)."""
        cache_key = (table, order + columns + repr(sorted((runs or {}).items())))
        if cache_key in self._newest:
            return self._newest[cache_key]
        out: dict[str, list[dict[str, Any]]] = {}
        if table in self.rels:
            mine = set(self.hosts)   # the runs may be of more hosts (probe_runs)
            chosen = {h: r for h, r in (runs if runs is not None
                                        else self.runs().get(table, {})).items() if h in mine}
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
                cols = "host, ts, status, reason, connect_s, command_s, bytes_read"
                newest = "QUALIFY row_number() OVER (PARTITION BY host ORDER BY ts DESC)"
                # Two windows in one pass cost DuckDB ten times one each; the failed
                # polls are few.
                for r in dicts(self.con, f"""
                        SELECT * FROM (
                          SELECT {cols} FROM polls
                          WHERE ts >= $start AND host IN (SELECT unnest($hosts))
                          {newest} <= {RECENT_POLLS}
                          UNION
                          SELECT {cols} FROM polls
                          WHERE ts >= $start AND host IN (SELECT unnest($hosts))
                            AND status <> 'ok'
                          {newest} <= {RECENT_FAILED})
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
