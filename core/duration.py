"""Durations in the config: ``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"``, ``"2w"``."""

from __future__ import annotations

import datetime as dt
import re

from onion.core.errors import ConfigError
from onion.core.i18n import _

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse(text: str, where: str) -> dt.timedelta:
    """A duration; ``""`` and ``"0"`` are zero. Anything else unclear is a ConfigError."""
    s = text.strip().lower().replace(" ", "")
    if s in ("", "0"):
        return dt.timedelta(0)
    pos, seconds = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ConfigError(_("{where}: {text} is not a duration (examples: 90s, 15m, 1h30m, "
                            "7d)").format(where=where, text=repr(text)))
    return dt.timedelta(seconds=seconds)


def show(delta: dt.timedelta) -> str:
    """``1h05m``, ``3d02h``, ``45s``: two units at most, for people."""
    total = max(int(delta.total_seconds()), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"
