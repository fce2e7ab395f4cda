"""Formatting for people: sizes, rates, times in UTC, ages. Used as jinja2 filters.

In the language in use (:mod:`onion.core.i18n`): the words of durations and ages, and
numbers and times as :mod:`onion.core.formats` writes them (English: ISO 8601, a point,
no grouping; Swedish and German: CLDR's symbols and date patterns). Unit symbols (``%``,
``KiB``, ``°C``) are the same in every language, and every time is in UTC.
"""

from __future__ import annotations

import datetime as dt
import math

from onion.core.i18n import N_, _, formats


def human_bytes(n: float | None) -> str:
    """``3.5 GiB`` (IEC units; ``3,5 GiB`` in Swedish and German)."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "—"
    return formats().size(n)


def timestamp(value: dt.datetime | None, seconds: bool = False) -> str:
    """A time in UTC (a naive datetime is one): ``2026-12-01 17:50 UTC`` in English."""
    if value is None:
        return "—"
    return formats().datetime(value, seconds)


# A count of days, hours, minutes, seconds, as the language abbreviates it.
_DAYS, _HOURS, _MINUTES, _SECONDS = N_("{n} d"), N_("{n} h"), N_("{n} min"), N_("{n} s")


def duration(seconds: float | None) -> str:
    """``93784`` -> ``1 d 2 h``: two units are enough to read at a glance."""
    if seconds is None:
        return "—"
    s = int(abs(seconds))
    for size, unit, sub_size, sub_unit in ((86400, _DAYS, 3600, _HOURS),
                                           (3600, _HOURS, 60, _MINUTES),
                                           (60, _MINUTES, 1, _SECONDS)):
        if s >= size:
            rest = (s % size) // sub_size
            return _(unit).format(n=s // size) + (
                " " + _(sub_unit).format(n=rest) if rest else "")
    return _(_SECONDS).format(n=s)


def age(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return _("never")
    delta = (now - value).total_seconds()
    if delta < 0:
        return _("in the future (clock skew)")
    return _("just now") if delta < 1 else _("{duration} ago").format(duration=duration(delta))


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    """``1234.5`` with ``digits`` decimals and a unit symbol after it (``1 234,5 W`` in
    Swedish; a percentage as the language writes one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    f = formats()
    if unit == "%":
        return f.percent(value, digits)
    text = f.number(value, digits)
    return f"{text}{f.unit_space}{unit}" if unit else text


def epoch(value: dt.datetime | None) -> str:
    """A sort key for a naive UTC time (never the local zone); "" for none."""
    if value is None:
        return ""
    return f"{value.replace(tzinfo=dt.UTC).timestamp():.0f}"
