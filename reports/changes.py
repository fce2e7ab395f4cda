"""What changed in the window, fleet-wide or on one host: reboots, kernel modules that
appeared or vanished, watched files that changed, file systems mounted or gone.

An item "appeared" when a host's poll lists it and that host's previous poll with data
for the table did not; it "vanished" in the first poll after the last one that listed
it. Polls where the probe gave nothing (failed, host down) are not polls "with data",
so an outage is not read as every module vanishing. All of it is one pass of window
functions in SQL, however many polls the window holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from onion.core.i18n import N_, _
from onion.core.natural import natural_key
from onion.core.sqltext import ident
from onion.reports.sql import Con, dicts, relations

LIMIT = 500
REBOOT_SLACK_S = 120     # boot_time computed from uptime wobbles by a second or two


def _host_clause(host: str | None, alias: str = "") -> str:
    return f" AND {alias}host = $host" if host is not None else ""


def _params(start: dt.datetime, host: str | None) -> dict[str, Any]:
    return {"start": start, **({"host": host} if host is not None else {})}


def set_changes(con: Con, table: str, item: str, start: dt.datetime,
                host: str | None = None) -> list[dict[str, Any]]:
    """Rows (host, item, change, ts), newest first: an item that appeared at a poll of
    its host, or vanished (at the first poll without it), against the host's poll before.

    A host's set of items hardly ever changes: a sum of the items' hashes and their count
    per poll, compared with the poll before, picks the few polls whose set changed (one
    grouping of the window's rows and a window over one row per poll); only those polls
    and the ones before them are read again, item by item.
    """
    hc, hm = _host_clause(host), _host_clause(host, "m.")
    t, it = ident(table), ident(item)
    sql = f"""
    WITH p AS (SELECT host, ts, sum(hash(CAST({it} AS VARCHAR))) AS h, count(*) AS c
               FROM {t} WHERE ts >= $start{hc} GROUP BY host, ts),
    q AS (SELECT host, ts, h, c, lag(ts) OVER w AS prev_ts, lag(h) OVER w AS ph,
                 lag(c) OVER w AS pc FROM p WINDOW w AS (PARTITION BY host ORDER BY ts)),
    ch AS (SELECT host, ts, prev_ts FROM q WHERE prev_ts IS NOT NULL AND (h <> ph OR c <> pc)),
    cur AS (SELECT ch.host, CAST(m.{it} AS VARCHAR) AS item, ch.ts FROM ch JOIN {t} m
            ON m.host = ch.host AND m.ts = ch.ts WHERE m.ts >= $start{hm}),
    prev AS (SELECT ch.host, CAST(m.{it} AS VARCHAR) AS item, ch.ts FROM ch JOIN {t} m
             ON m.host = ch.host AND m.ts = ch.prev_ts WHERE m.ts >= $start{hm})
    SELECT host, item, 'appeared' AS change, ts FROM (FROM cur EXCEPT FROM prev)
    UNION ALL
    SELECT host, item, 'vanished' AS change, ts FROM (FROM prev EXCEPT FROM cur)
    ORDER BY ts DESC, host, item"""
    return dicts(con, sql, _params(start, host))


def reboots(con: Con, start: dt.datetime, host: str | None = None) -> list[dict[str, Any]]:
    hc = _host_clause(host)
    sql = f"""
    WITH s AS (SELECT host, ts, boot_time, uptime_seconds,
                      lag(boot_time) OVER w AS prev_boot, lag(uptime_seconds) OVER w AS prev_up,
                      lag(ts) OVER w AS prev_ts
               FROM system WHERE ts >= $start{hc} WINDOW w AS (PARTITION BY host ORDER BY ts))
    SELECT host, ts, prev_ts, boot_time, prev_boot FROM s
    WHERE prev_ts IS NOT NULL AND (
      (boot_time IS NOT NULL AND prev_boot IS NOT NULL
       AND epoch(boot_time) - epoch(prev_boot) > {REBOOT_SLACK_S})
      OR (boot_time IS NULL AND uptime_seconds < prev_up))
    ORDER BY ts DESC, host"""
    return dicts(con, sql, _params(start, host))


def file_changes(con: Con, start: dt.datetime, host: str | None = None) -> list[dict[str, Any]]:
    """Changes of watched files, classified as the ``file_changes`` view does.

    The view computes its ``lag`` over all history; here the window's rows are read once,
    files whose state never changed are dropped by one grouped count, and only the rest
    are compared poll to poll (so the first poll of the window has no predecessor).
    """
    hc = _host_clause(host)
    state = "exists, sha256, size_bytes, mtime, mode, uid, gid"
    return dicts(con, f"""
    WITH f AS NOT MATERIALIZED (SELECT run_id, host, path, ts, {state} FROM files
                                WHERE ts >= $start{hc}),
    moving AS (SELECT host, path FROM f GROUP BY host, path
               HAVING count(DISTINCT ({state})) > 1),
    w AS (SELECT f.*, lag(ts) OVER p AS prev_ts, lag(exists) OVER p AS prev_exists,
                 lag(sha256) OVER p AS prev_sha256, lag(size_bytes) OVER p AS prev_size_bytes,
                 lag(mtime) OVER p AS prev_mtime, lag(mode) OVER p AS prev_mode,
                 lag(uid) OVER p AS prev_uid, lag(gid) OVER p AS prev_gid
          FROM f SEMI JOIN moving USING (host, path)
          WINDOW p AS (PARTITION BY host, path ORDER BY ts)),
    c AS (SELECT *, CASE
            WHEN NOT coalesce(prev_exists, false) AND exists THEN 'created'
            WHEN prev_exists AND NOT coalesce(exists, false) THEN 'deleted'
            WHEN sha256 IS DISTINCT FROM prev_sha256
              OR size_bytes IS DISTINCT FROM prev_size_bytes THEN 'content'
            WHEN mode IS DISTINCT FROM prev_mode OR uid IS DISTINCT FROM prev_uid
              OR gid IS DISTINCT FROM prev_gid THEN 'owner_or_mode'
            WHEN mtime IS DISTINCT FROM prev_mtime THEN 'touched' END AS change FROM w)
    SELECT host, path, ts, prev_ts, change, prev_size_bytes, size_bytes, prev_mode, mode,
           prev_sha256, sha256 FROM c
    WHERE prev_ts IS NOT NULL AND change IS NOT NULL ORDER BY ts DESC, host, path""",
                 _params(start, host))


@dataclass(slots=True)
class Group:
    """One change (an item, what happened to it) and every host it was seen on."""

    row: dict[str, Any]          # the newest of them, as shown
    hosts: list[str]             # natural order
    first: dt.datetime
    last: dt.datetime


@dataclass(slots=True)
class Section:
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    more: int = 0
    available: bool = True
    groups: list[Group] = field(default_factory=list)   # the rows by change, fleet-wide


# What makes two hosts' rows the same change, per section: reboots are each host's own.
GROUP_BY = {"modules": ("item", "change"), "filesystems": ("item", "change"),
            "files": ("path", "change")}


def _grouped(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[Group]:
    out: dict[tuple[Any, ...], Group] = {}
    for r in rows:  # newest first: the first row of a change is its newest
        k = tuple(r.get(f) for f in fields)
        g = out.get(k)
        if g is None:
            out[k] = Group(r, [r["host"]], r["ts"], r["ts"])
            continue
        if r["host"] not in g.hosts:
            g.hosts.append(r["host"])
        g.first = min(g.first, r["ts"])
    for g in out.values():
        g.hosts.sort(key=natural_key)
    return list(out.values())


def _section(title: str, rows: list[dict[str, Any]], hosts: set[str] | None,
             key: str = "") -> Section:
    if hosts is not None:
        rows = [r for r in rows if r["host"] in hosts]
    fields = GROUP_BY.get(key)
    groups = _grouped(rows, fields) if fields else [
        Group(r, [r["host"]], r["ts"], r["ts"]) for r in rows]
    return Section(title, rows[:LIMIT], max(0, len(rows) - LIMIT), groups=groups[:LIMIT])


Raw = dict[str, list[dict[str, Any]] | None]     # section -> rows; None: not collected

TITLES = {"reboots": (N_("Reboots"), N_("Reboots")),
          "modules": (N_("Kernel modules appeared or vanished"), N_("Kernel modules")),
          "files": (N_("Watched files changed"), N_("Watched files")),
          "filesystems": (N_("File systems mounted or gone"), N_("File systems"))}
# A row's ``change`` as people read it (the code stays in the page's classes).
CHANGES = {"appeared": N_("appeared"), "vanished": N_("vanished"), "created": N_("created"),
           "deleted": N_("deleted"), "content": N_("content"),
           "owner_or_mode": N_("owner or mode"), "touched": N_("touched")}


def change_text(code: str | None) -> str:
    """``owner_or_mode`` -> "owner or mode", in the language in use; a code this
    does not know is shown as it is."""
    text = CHANGES.get(code or "")
    return _(text) if text else code or ""


def raw(con: Con, start: dt.datetime, host: str | None = None,
        rels: set[str] | None = None) -> Raw:
    """Every change in the window (of one host, or all): one pass per section, which the
    changes page and every host page then share."""
    rels = relations(con) if rels is None else rels
    return {
        "reboots": reboots(con, start, host) if "system" in rels else None,
        "modules": set_changes(con, "modules", "name", start, host)
        if "modules" in rels else None,
        "files": file_changes(con, start, host) if "files" in rels else None,
        "filesystems": set_changes(con, "filesystems", "mount", start, host)
        if "filesystems" in rels else None,
    }


def sections(found: Raw, hosts: set[str] | None = None,
             host: str | None = None) -> dict[str, Section]:
    out: dict[str, Section] = {}
    for key, rows in found.items():
        title, short = (_(t) for t in TITLES[key])
        if rows is None:
            out[key] = Section(short, available=False)
            continue
        if host is not None:
            rows = [r for r in rows if r["host"] == host]
        out[key] = _section(title, rows, hosts, key)
    return out


def load(con: Con, start: dt.datetime, hosts: set[str] | None = None,
         host: str | None = None, rels: set[str] | None = None) -> dict[str, Section]:
    return sections(raw(con, start, host, rels), hosts)
