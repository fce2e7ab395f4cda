"""A central's pollers on the fleet page: when each last sent, whether it is stale, and
the rounds each one dropped ("poller hpc1: 3 rounds dropped 10:05–10:20, queue full")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from onion.core.natural import natural_key

_ROUND = re.compile(r"round (\d+) ")
_WHY = re.compile(r"dropped: (.*)$")


@dataclass(slots=True)
class Gap:
    rounds: int
    first: dt.datetime
    last: dt.datetime
    reasons: list[str]


@dataclass(slots=True)
class Poller:
    name: str
    shard: str | None
    last_batch_at: dt.datetime | None
    batches: int
    rows: int
    stale: bool
    gaps: list[Gap] = field(default_factory=list)


def load(con: Any, start: dt.datetime, rels: set[str]) -> list[Poller]:
    """Every poller that sent to this database (a central's); none elsewhere."""
    if "received_batches" not in rels:
        return []
    stale: dict[str, bool] = {}
    if "pollers" in rels:
        stale = {h: bool(s) for h, s in con.execute(
            "SELECT host, arg_max(age_s > stale_after_s, ts) FROM pollers GROUP BY host"
        ).fetchall()}
    out = {}
    for name, last, n, rows, shard in con.execute(
            "SELECT origin, max(received_at), count(*), sum(rows), "
            "arg_max(shard, received_at) FROM received_batches GROUP BY origin").fetchall():
        out[name] = Poller(name, shard, last, int(n), int(rows or 0), stale.get(name, False))
    for name, is_stale in stale.items():
        out.setdefault(name, Poller(name, None, None, 0, 0, is_stale))
    gaps: dict[str, list[tuple[dt.datetime, str]]] = {}
    if "storage_events" in rels:
        for name, detail in con.execute(
                "SELECT table_name, detail FROM storage_events WHERE action = 'poller_gap' "
                "AND ts >= ? ORDER BY detail", [start]).fetchall():
            m = _ROUND.search(detail or "")
            if m is None:
                continue
            when = dt.datetime.fromtimestamp(int(m[1]) / 1e6, dt.UTC).replace(tzinfo=None)
            why = _WHY.search(detail)
            gaps.setdefault(name, []).append((when, why[1] if why else ""))
    for name, items in gaps.items():
        p = out.setdefault(name, Poller(name, None, None, 0, 0, False))
        items.sort()
        reasons = sorted({w for _, w in items if w})
        p.gaps.append(Gap(len(items), items[0][0], items[-1][0], reasons))
    return sorted(out.values(), key=lambda p: (not p.stale, natural_key(p.name)))
