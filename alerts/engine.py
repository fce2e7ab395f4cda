"""Evaluating rules over stored polls, live (after each poll) and in replay.

Both walk the polls in order and feed every rule's rows of one poll to the state
machine (:func:`poller.alerts.state.advance`), so ``onion alerts test`` shows what the
live rounds did. Live evaluation remembers the last poll it judged (``alert_runs``) and
catches up on polls stored meanwhile (a batch that waited in the spool), oldest first.
"""

from __future__ import annotations

import datetime as dt
import functools
import keyword
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from onion.alerts import messages
from onion.alerts.builtin import BUILTIN
from onion.alerts.rules import Rule
from onion.alerts.state import (
    FIRING,
    INACTIVE,
    AlertState,
    Event,
    Observation,
    Policy,
    advance,
)
from onion.core.sqltext import ident

MAX_RUNS_PER_EVALUATION = 1000   # a longer backlog is caught up over the next runs
# How far back a rule that compares with the previous poll looks (`$since` in rule SQL):
# reading history from the start on every run would cost more each day. A host unseen for
# longer starts afresh (its host_down alert has told that story).
LOOKBACK = dt.timedelta(days=2)
_P = "__onion_"                  # prefix of the columns the engine adds to a rule's rows


def item_columns(rule: Rule, specs: Mapping[str, Any]) -> tuple[str, ...]:
    """The columns naming an item: the rule's, else the table's key columns."""
    if rule.items is not None:
        return rule.items
    base = rule.table.removeprefix("latest_").removesuffix("_rates")
    spec = specs.get(base)
    return spec.key if spec else ()


def rule_sql(rule: Rule) -> str:
    src = f"({rule.source}) AS s" if rule.source else f"{ident(rule.table)} AS s"
    return (f"SELECT * FROM (SELECT s.*, ({rule.condition}) AS {_P}fired, "
            f"({rule.clear_sql}) AS {_P}cleared, ({rule.value or 'NULL'}) AS {_P}value "
            f"FROM {src} WHERE s.run_id = $run_id) "
            f"WHERE {_P}fired OR list_contains($hosts, host)")


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return str(v)


def observe(con: duckdb.DuckDBPyConnection, rule: Rule, items: Sequence[str], run_id: int,
            hosts: Sequence[str], since: dt.datetime | None = None,
            firing: Collection[tuple[str, str]] | None = None
            ) -> tuple[dict[tuple[str, str], Observation], set[str]]:
    """One poll's rows for a rule: those that fire, and every row of ``hosts``.

    Returns the observations by (host, item) and the hosts that had any row. ``firing``:
    the (host, item) pairs whose alert fires; a row neither firing nor among them gets no
    summary, which the state machine reads only then (most rows of most polls: a
    quarter of the alerts' CPU at 50 hosts). None: every row gets one.
    """
    sql = rule_sql(rule)
    params: dict[str, Any] = {"run_id": run_id, "hosts": list(hosts)}
    if "$since" in sql:  # DuckDB refuses a parameter the query does not name
        params["since"] = since or dt.datetime(1970, 1, 1)
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    found: dict[tuple[str, str], Observation] = {}
    seen: set[str] = set()
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        host = str(row["host"])
        seen.add(host)
        item = " / ".join(_text(row.get(c)) or "" for c in items)
        fired = row.pop(f"{_P}fired") is True
        cleared = row.pop(f"{_P}cleared") is True
        value = _text(row.pop(f"{_P}value"))
        old = found.get((host, item))
        if old is not None and (old.fired or not fired):
            continue  # two rows for one item (a repeated label): the worse one counts
        said = ""
        if fired or firing is None or (host, item) in firing:
            context = {**{k: float(f"{v:.6g}") if isinstance(v, float) else v
                          for k, v in row.items()}, "host": host, "item": item,
                       "value": value}
            said = summary(rule.summary, context)
        found[(host, item)] = Observation(ts=row["ts"], run_id=run_id, fired=fired,
                                          cleared=cleared, value=value, summary=said)
    return found, seen


# `{{ column }}` between plain text: what every built-in summary is, and most of a user's.
# Rendered here as jinja2 renders it (the value's str()) without importing jinja2, which
# is 40 ms of a cron run's CPU whenever anything fires. Names jinja2 reads otherwise
# (true, none, loop, self …) and every other template go to jinja2.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_JINJA_NAMES = {"true", "false", "none", "self", "loop", "caller", "varargs", "kwargs"}


@functools.lru_cache(maxsize=256)
def _plain(template: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The text pieces and the column names of a template that only names columns."""
    parts = _PLACEHOLDER.split(template)
    texts, names = tuple(parts[0::2]), tuple(parts[1::2])
    if any("{" in t or "}" in t for t in texts) or any(
            keyword.iskeyword(n) or n in _JINJA_NAMES for n in names):
        return None
    return texts, names


def summary(template: str, row: Mapping[str, Any]) -> str:
    """A rule's one-line summary over its row (see :func:`messages.summary`)."""
    plain = _plain(template) if template else None
    if plain is None or not all(n in row for n in plain[1]):
        return messages.summary(template, row)
    texts, names = plain
    out = [texts[0]]
    for name, text in zip(names, texts[1:], strict=True):
        out += [str(row[name]), text]
    return " ".join("".join(out).split())


@dataclass(slots=True)
class Outcome:
    events: list[Event] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)      # rule -> SQL error
    runs: list[int] = field(default_factory=list)


def evaluate_runs(con: duckdb.DuckDBPyConnection, rules: Sequence[Rule],
                  states: dict[tuple[str, str, str], AlertState], runs: Iterable[int],
                  policy: Policy, specs: Mapping[str, Any]) -> Outcome:
    """Advance ``states`` through these polls, in order (reads only)."""
    out = Outcome()
    # What a run observed: its hosts, and on a central the pollers it saw (their own
    # table: they are not hosts, but poller_stale judges them).
    observed_sql = "SELECT host, max(ts) FROM polls WHERE run_id = ? GROUP BY host"
    if POLLERS_TABLE in specs:
        observed_sql = (f"SELECT host, max(ts) FROM (SELECT host, ts FROM polls WHERE "
                        f"run_id = $1 UNION ALL SELECT host, ts FROM {POLLERS_TABLE} WHERE "
                        f"run_id = $1) GROUP BY host")
    for run_id in runs:
        out.runs.append(run_id)
        polled = dict(con.execute(observed_sql, [run_id]).fetchall())
        since = min(polled.values(), default=dt.datetime(1970, 1, 1)) - LOOKBACK
        for rule in rules:
            if rule.name in out.errors or _absent(rule, specs):
                continue  # told once per evaluation; a built-in with nothing to read
            mine = [st for st in states.values() if st.rule == rule.name]
            hosts = sorted({st.host for st in mine if st.host in polled})
            firing = {(st.host, st.item) for st in mine if st.state == FIRING}
            try:
                found, seen = observe(con, rule, item_columns(rule, specs), run_id, hosts,
                                      since, firing)
            except duckdb.CatalogException as exc:
                if not rule.builtin:
                    out.errors[rule.name] = f"{type(exc).__name__}: {exc}"
                continue  # a built-in over a probe that is not run here: nothing to judge
            except duckdb.Error as exc:
                out.errors[rule.name] = f"{type(exc).__name__}: {exc}"
                continue
            for (host, item), obs in sorted(found.items()):
                st = states.setdefault((rule.name, host, item),
                                       AlertState(rule.name, host, item))
                out.events.extend(advance(st, obs, rule, policy))
            for st in mine:
                if (st.host, st.item) in found or st.host not in polled:
                    continue
                if st.state == INACTIVE and not st.held and not st.changes:
                    continue
                if not rule.event and st.host not in seen:
                    continue  # no data from this host this time: nothing to judge
                # The item is gone (a disk unmounted) or the event did not recur.
                gone = Observation(ts=polled[st.host], run_id=run_id, fired=False,
                                   cleared=True, value=st.value, summary=st.summary)
                out.events.extend(advance(st, gone, rule, policy))
    return out


def _absent(rule: Rule, specs: Mapping[str, Any]) -> bool:
    """A built-in over its own table, which this database has not got (a central's
    ``pollers`` on a poller, ``gpu`` where that probe is off): DuckDB's catalog error,
    which the built-in is skipped on, costs more than the rule (7 ms of spelling hints).
    Every table a batch brings is in ``specs``, its view with it."""
    own = BUILTIN.get(rule.name, {}).get("table")
    return rule.builtin and bool(own) and rule.table == own and own not in specs


POLLERS_TABLE = "pollers"   # a central's view of its pollers (onion.daemon.central)
LATE_RUNS_US = 6 * 3600 * 1_000_000   # run ids are microseconds: six hours


def runs_to_evaluate(con: duckdb.DuckDBPyConnection, limit: int) -> list[int]:
    """Polls stored since the last evaluation; the newest one alone the first time."""
    last = con.execute("SELECT max(run_id) FROM alert_runs").fetchone()[0]  # type: ignore[index]
    if last is None:
        newest = con.execute("SELECT max(run_id) FROM polls").fetchone()[0]  # type: ignore[index]
        return [] if newest is None else [int(newest)]
    # Not only the ids above the last judged: a central stores batches from pollers while
    # a round of its own runs, so a round may be stored after a higher id was judged.
    # Any id of the last hours not judged yet is judged now.
    floor = int(last) - LATE_RUNS_US
    return [int(r[0]) for r in con.execute(
        "SELECT DISTINCT run_id FROM polls WHERE run_id > $floor AND run_id NOT IN "
        "(SELECT run_id FROM alert_runs WHERE run_id > $floor) ORDER BY run_id LIMIT $n",
        {"floor": floor, "n": limit}).fetchall()]


def replay(con: duckdb.DuckDBPyConnection, rule: Rule, since: dt.datetime, policy: Policy,
           specs: Mapping[str, Any]) -> Outcome:
    """What ``rule`` would have done over the polls since ``since``, from a clean state."""
    runs = [int(r[0]) for r in con.execute(
        "SELECT run_id FROM polls GROUP BY run_id HAVING max(ts) >= ? ORDER BY run_id",
        [since]).fetchall()]
    return evaluate_runs(con, [rule], {}, runs, policy, specs)
