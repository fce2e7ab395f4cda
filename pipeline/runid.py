"""Run ids that always increase, whatever the clock does.

A run id is the round's start in microseconds since the epoch, which keeps ids readable
and sortable across pollers; but alerts judge the polls stored after the last one judged
(by id), so a clock stepped back (NTP, a VM restored) would leave every new poll unjudged
until the clock caught up. The last id is kept beside the database (written under the
poll lock); a new id is never below it + 1.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RunId:
    value: int
    clock_behind_s: float = 0.0      # how far the clock was behind the last run's id


def _path(db: Path) -> Path:
    return db.with_name(db.name + ".runid")


def _last(db: Path) -> int:
    try:
        return int(_path(db).read_text().strip() or 0)
    except (OSError, ValueError):
        pass
    if not db.exists():
        return 0
    # An older Onion kept no file: the database knows the last id (if it can be read now).
    import duckdb  # only then: a cron run imports it later, while its SSH round runs

    with contextlib.suppress(duckdb.Error):
        con = duckdb.connect(str(db), read_only=True)
        try:
            found = con.execute("SELECT max(run_id) FROM runs").fetchone()
            return int(found[0] or 0) if found else 0
        finally:
            con.close()
    return 0


def next_run_id(db: Path) -> RunId:
    """The next id; call it holding the poll lock (a daemon's threads also take turns:
    a central numbers the batches it receives while a round of its own runs)."""
    with _TURNS:
        now = time.time_ns() // 1000
        last = _last(db)
        value = max(now, last + 1)
        path = _path(db)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{value}\n")
        os.replace(tmp, path)
    return RunId(value, (last - now) / 1e6 if last >= now else 0.0)


_TURNS = threading.Lock()
