"""Where the desktop view's data comes from, and what each view loads (no Qt here).

A :class:`DaemonSource` asks a running daemon (its socket, or its URL and token) and runs
the report's queries through its API; a :class:`DatabaseSource` opens the DuckDB file
read-only, as ``onion sql`` and ``onion report`` do, for each load and closes it at once
(a reader would otherwise keep a poll or a daemon from writing). Neither ever writes.

Every ``load_*`` runs off the GUI thread and returns plain objects the models show.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from onion.core.clock import utcnow
from onion.core.errors import OnionError
from onion.daemon.client import Client
from onion.gui.i18n import _
from onion.gui.remote import ApiConnection
from onion.reports import alerts as alerts_mod
from onion.reports import changes as changes_mod
from onion.reports import fleet, hostpage
from onion.reports.sql import dicts, relations
from onion.storage import duck as store

# A host whose newest poll is older than this many intervals is stale: the poller that
# should be asking it is behind or gone.
STALE_INTERVALS = 3
DEFAULT_STALE = dt.timedelta(minutes=15)


class Source(Protocol):
    label: str
    is_daemon: bool

    def connection(self) -> contextlib.AbstractContextManager[Any]: ...

    def status(self) -> dict[str, Any] | None: ...

    def poll_now(self, limit: str | None = None) -> dict[str, Any]: ...

    def inventory(self) -> list[dict[str, Any]]: ...


@dataclass(slots=True)
class DatabaseSource:
    path: Path
    is_daemon: bool = False

    @property
    def label(self) -> str:
        return _("{path} (read-only)").format(path=self.path)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        with store.reading(self.path) as con:
            yield con

    def status(self) -> dict[str, Any] | None:
        return None

    def poll_now(self, limit: str | None = None) -> dict[str, Any]:
        raise OnionError(_("no daemon: `poll now` asks a running `onion daemon` "
                           "(this view reads the database file)"))

    def inventory(self) -> list[dict[str, Any]]:
        return []


@dataclass(slots=True)
class DaemonSource:
    client: Client
    is_daemon: bool = True

    @property
    def label(self) -> str:
        return _("daemon at {where}").format(where=self.client.where)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        yield ApiConnection(self.client)

    def status(self) -> dict[str, Any] | None:
        result: dict[str, Any] = self.client.get("/api/status")
        return result

    def poll_now(self, limit: str | None = None) -> dict[str, Any]:
        # A round may take as long as its slowest host: no client-side limit below that.
        body = {"limit": limit} if limit else {}
        result: dict[str, Any] = self.client.post("/api/poll", body, timeout=3600)
        return result

    def inventory(self) -> list[dict[str, Any]]:
        hosts: list[dict[str, Any]] = self.client.get("/api/hosts")["hosts"]
        return hosts


@dataclass(slots=True)
class FleetSnapshot:
    rows: list[fleet.FleetRow]
    now: dt.datetime
    start: dt.datetime
    stale_after: dt.timedelta
    polling: set[str] = field(default_factory=set)    # hosts in the round running now
    warning: str = ""                                  # the answer is incomplete, and why


def _rhythm(con: Any, rels: set[str]) -> dt.timedelta | None:
    """How late a poll may be, from how often rounds ran lately (cron's or a daemon's
    interval): the median gap between the last 50 runs' starts, times STALE_INTERVALS."""
    if "runs" not in rels:
        return None
    found = con.execute(
        "SELECT median(d) FROM (SELECT epoch(started_at) - epoch(lag(started_at) OVER "
        "(ORDER BY started_at)) AS d FROM (SELECT started_at FROM runs "
        "ORDER BY started_at DESC LIMIT 50))").fetchone()
    if not found or found[0] is None or found[0] <= 0:
        return None
    return dt.timedelta(seconds=max(60.0, STALE_INTERVALS * float(found[0])))


def load_fleet(source: Source, window: dt.timedelta) -> FleetSnapshot:
    now = utcnow()
    start = now - window
    stale_after = DEFAULT_STALE
    polling: set[str] = set()
    inventory: list[dict[str, Any]] = []
    if source.is_daemon:
        status = source.status() or {}
        if status.get("interval_s"):
            stale_after = dt.timedelta(seconds=STALE_INTERVALS * float(status["interval_s"]))
        inventory = source.inventory()
        polling = {h["host"] for h in inventory if h.get("polling")}
    with source.connection() as con:
        rels = relations(con)
        rows = fleet.load(con, start, rels=rels)
        if not source.is_daemon:
            stale_after = _rhythm(con, rels) or stale_after
        cut = getattr(con, "truncated", 0)
    warning = _("the daemon cut {n} answer(s) at its [daemon] query_max_rows: some hosts "
                "or values are missing (raise it for a fleet this size)").format(n=cut) \
        if cut else ""
    # Hosts the daemon polls that the database has never heard of: shown, not hidden.
    known = {r.name for r in rows}
    for h in inventory:
        if h["host"] not in known:
            row = fleet.FleetRow(h["host"], "", "never polled", None, None, None, None,
                                 list(h.get("groups") or []))
            row.rank = 0
            rows.append(row)
    return FleetSnapshot(rows, now, start, stale_after, polling, warning)


@dataclass(slots=True)
class HostSnapshot:
    name: str
    page: hostpage.HostPage | None
    filesystems: list[dict[str, Any]]
    network: list[dict[str, Any]]
    disks: list[dict[str, Any]]


def _newest_rates(con: Any, rels: set[str], view: str, host: str,
                  start: dt.datetime) -> list[dict[str, Any]]:
    """The host's newest per-second rates (each item's newest interval in the window)."""
    if view not in rels:
        return []
    return dicts(con, f"SELECT * EXCLUDE (run_id, host) FROM {view} "
                      "WHERE host = $host AND ts >= $start "
                      "QUALIFY ts = max(ts) OVER ()", {"host": host, "start": start})


def load_host(source: Source, name: str, window: dt.timedelta) -> HostSnapshot:
    now = utcnow()
    start = now - window
    with source.connection() as con:
        rels = relations(con)
        rows = fleet.load(con, start, hosts={name}, rels=rels)
        if not rows:
            return HostSnapshot(name, None, [], [], [])
        page = hostpage.load(con, rows[0], start, now, rels)
        fs = dicts(con, "SELECT mount, fstype, device, size_bytes, used_bytes, avail_bytes, "
                        "used_pct, inodes_used, inodes_total FROM latest_filesystems "
                        "WHERE host = $host ORDER BY used_pct DESC NULLS LAST, mount",
                   {"host": name}) if "latest_filesystems" in rels else []
        net = _newest_rates(con, rels, "network_rates", name, start)
        disks = _newest_rates(con, rels, "disk_io_rates", name, start)
    return HostSnapshot(name, page, fs, net, disks)


def load_alerts(source: Source, window: dt.timedelta) -> alerts_mod.AlertData:
    with source.connection() as con:
        return alerts_mod.load(con, utcnow() - window)


def load_changes(source: Source, window: dt.timedelta) -> dict[str, changes_mod.Section]:
    with source.connection() as con:
        return changes_mod.load(con, utcnow() - window)


def choose(cfg: Any, want: str = "auto") -> Source:
    """The daemon when one answers (``auto``) or is asked for (``daemon``), else the file."""
    if want != "database":
        client = Client.from_config(cfg, timeout=60)
        if want == "daemon" or client.alive():
            return DaemonSource(client)
    return DatabaseSource(Path(cfg.db_path))


__all__ = ["DaemonSource", "DatabaseSource", "FleetSnapshot", "HostSnapshot", "Source",
           "choose", "load_alerts", "load_changes", "load_fleet", "load_host"]
