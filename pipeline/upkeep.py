"""When a round runs the archive's maintenance: not after every round of a minute's cron,
but once the day has turned since the last one, or when the storage budget is near.

Archiving, retention and the sweep change only when a day closes (at midnight UTC, when
the hot rows of the day before become archivable and files pass their retention), so a
second maintenance on the same day finds nothing to do, at the price of a walk over the
archive folder and a dozen statements. The budget is the exception: the database grows
with every batch, so each round estimates the footprint and maintains once it nears
``[storage] max_size``.

The last maintenance is noted beside the database (``<db>.maintained``: its day and the
archive's bytes), which is what makes the estimate cheap: only maintenance writes or
drops archive files, so the archive's size is the note's, and the rest (database, WAL,
spool) is three ``stat`` calls and a small folder. A note that is missing, unreadable
or of another day means "maintain now".
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from onion.core.files import write_private

# Maintain once the estimate passes this share of the budget: maintenance trims to 90 %,
# which leaves a margin of rounds before the next one is needed.
NEAR_BUDGET = 0.95


@dataclass(frozen=True, slots=True)
class Note:
    day: dt.date
    archive_bytes: int


def note_path(db: Path) -> Path:
    return db.with_name(db.name + ".maintained")


def read_note(db: Path) -> Note | None:
    try:
        raw = json.loads(note_path(db).read_text(encoding="utf-8"))
        return Note(dt.date.fromisoformat(raw["day"]), int(raw["archive_bytes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_bytes(db: Path, spool: Path | None) -> int:
    """What changes between maintenances: the database, its WAL and the queue."""
    total = 0
    for p in (db, db.with_name(db.name + ".wal")):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    if spool is not None and spool.is_dir():
        total += sum(f.stat().st_size for f in spool.rglob("*") if f.is_file())
    return total


def due(db: Path, spool: Path | None, max_size: int | None, now: dt.datetime) -> bool:
    """Whether this round maintains: no note of today's, or the budget near."""
    note = read_note(db)
    if note is None or note.day != now.date():   # a clock stepped back counts too
        return True
    if max_size is None:
        return False
    return note.archive_bytes + live_bytes(db, spool) > NEAR_BUDGET * max_size


def noted(db: Path, spool: Path | None, size_after: int, now: dt.datetime) -> None:
    """Note a maintenance that ended with this footprint (database closed)."""
    archive = max(0, size_after - live_bytes(db, spool))
    write_private(note_path(db), json.dumps({"day": now.date().isoformat(),
                                             "archive_bytes": archive}) + "\n")


__all__ = ["NEAR_BUDGET", "Note", "due", "note_path", "noted", "read_note"]
