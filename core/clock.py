"""Time as Onion stores it: naive UTC, whole seconds for samples."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Naive UTC: every timestamp Onion stores is UTC (TIMESTAMP columns)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
