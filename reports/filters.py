"""Formatting for people: sizes, rates, times in UTC, ages. Used as jinja2 filters.

In the language in use (:mod:`onion.core.i18n`): the words of durations and ages, and
the decimal separator. Unit symbols (``%``, ``KiB``, ``°C``) and times (ISO 8601, UTC)
are the same in every language.
"""

from __future__ import annotations

import datetime as dt
import math

from onion.core.i18n import N_, _, decimal

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(n: float | None) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "—"
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{decimal(f'{value:.1f}')} {unit}"
        value /= 1024
    return str(n)


def timestamp(value: dt.datetime | None, seconds: bool = False) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


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
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = decimal(f"{value:.{digits}f}")
    return f"{text} {unit}" if unit else text


def epoch(value: dt.datetime | None) -> str:
    """A sort key for a naive UTC time (never the local zone); "" for none."""
    if value is None:
        return ""
    return f"{value.replace(tzinfo=dt.UTC).timestamp():.0f}"
