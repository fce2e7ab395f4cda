"""Natural order for names people read: node2 before node10, 127.0.0.2 before 127.0.0.10.

A name is cut into runs of digits and the rest; digit runs compare as numbers, the rest
case-insensitively, then the name itself breaks ties (so the order is total).
"""

from __future__ import annotations

import re

_RUNS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold())
                  for p in _RUNS.split(name) if p)
    return parts, name
