"""When rounds start: at multiples of the interval on the clock (every minute at :00, with
``interval = "60s"``), each host a fixed fraction of the jitter into its round, so a
thousand nodes are not all asked at the same instant, and each host's samples stay
evenly spaced."""

from __future__ import annotations

import hashlib
import math


def next_slot(now: float, interval: float) -> float:
    """The first multiple of ``interval`` (seconds since the epoch) after ``now``."""
    return (math.floor(now / interval) + 1) * interval


def slots_missed(started: float, finished: float, interval: float) -> int:
    """Slots that came while a round ran: each is a round skipped (rounds never overlap)."""
    return max(0, math.floor(finished / interval) - math.floor(started / interval))


def jitter_of(name: str, jitter: float) -> float:
    """A host's offset into each round, in [0, jitter): the same every round."""
    if jitter <= 0:
        return 0.0
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * jitter
