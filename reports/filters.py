"""Formatting for people: sizes, rates, times in UTC, ages. Used as jinja2 filters."""

from __future__ import annotations

import datetime as dt
import math

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n: float | None) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "—"
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def timestamp(value: dt.datetime | None, seconds: bool = False) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """``93784`` -> ``1 d 2 h``: two units are enough to read at a glance."""
    if seconds is None:
        return "—"
    s = int(abs(seconds))
    for size, unit, sub_size, sub_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"),
                                           (60, "min", 1, "s")):
        if s >= size:
            rest = (s % size) // sub_size
            return f"{s // size} {unit}" + (f" {rest} {sub_unit}" if rest else "")
    return f"{s} s"


def age(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    delta = (now - value).total_seconds()
    if delta < 0:
        return "in the future (clock skew)"
    return "just now" if delta < 1 else f"{duration(delta)} ago"


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.{digits}f}"
    return f"{text} {unit}" if unit else text


def epoch(value: dt.datetime | None) -> str:
    """A sort key for a naive UTC time (never the local zone); "" for none."""
    if value is None:
        return ""
    return f"{value.replace(tzinfo=dt.UTC).timestamp():.0f}"
