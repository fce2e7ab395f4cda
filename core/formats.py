"""Numbers, sizes and times for people, as a language writes them (CLDR, through Babel).

English, the source, is ISO 8601 and no grouping, on purpose: ``2026-12-01 17:50 UTC``,
``1234.5``, ``3.5 GiB``. That is the machine-like look sysadmins expect (a time to paste
into a query, a number to paste into a shell), and what the English tests read; the
pseudo-locale ``qps`` formats as English. English never imports Babel.

Other languages (``sv``, ``de``) take their symbols and patterns from CLDR, through Babel:
the decimal symbol, the group symbol (``1 234,5`` in Swedish, with U+00A0 between the
groups; ``1.234,5`` in German), the minus sign, the percent pattern (``42 %``, U+00A0),
the space CLDR puts between a number and a unit symbol (IEC units, ``KiB`` … ``EiB``, stay
as they are), and dates in the medium date pattern with the 24-hour time
(``1 dec. 2026 17:50 UTC``; ``01.12.2026, 17:50 UTC``). A time is always in UTC, and says
so, in every language.

Speed: the report formats tens of thousands of numbers a run, so Babel is asked once per
language, the first time that language formats anything (:func:`get`): its symbols become
``str.replace`` pairs and its date patterns ``str.format`` templates, and every value
after that is plain Python formatting. Nothing here calls Babel per value (but for a
grouping other than by threes or a date field that no language Onion ships has: Babel
formats those).

:func:`onion.core.i18n.formats` gives the formats of the language in use.
"""

from __future__ import annotations

import datetime as dt
import threading

NBSP = "\u00a0"
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
ISO_MINUTES = "%Y-%m-%d %H:%M UTC"
ISO_SECONDS = "%Y-%m-%d %H:%M:%S UTC"
# A chart's time-axis labels (strftime patterns): what each is in CLDR's terms.
_TICKS = {"%H:%M": ("Hm",), "%H:%M:%S": ("Hms",), "%m-%d": ("MMdd",),
          "%m-%d %H:%M": ("MMdd", "Hm")}

# Fields of a CLDR date pattern as str.format fields: 0 the datetime, 1 the month's
# abbreviated name, 2 its full name, 3 the year's last two digits.
_FIELDS = {("d", 1): "{0.day}", ("d", 2): "{0.day:02d}", ("M", 1): "{0.month}",
           ("M", 2): "{0.month:02d}", ("M", 3): "{1}", ("M", 4): "{2}",
           ("L", 1): "{0.month}", ("L", 2): "{0.month:02d}", ("y", 1): "{0.year}",
           ("y", 2): "{3:02d}", ("y", 4): "{0.year:04d}", ("H", 1): "{0.hour}",
           ("H", 2): "{0.hour:02d}", ("m", 1): "{0.minute}", ("m", 2): "{0.minute:02d}",
           ("s", 1): "{0.second}", ("s", 2): "{0.second:02d}"}

Moment = dt.datetime | float   # a naive datetime in UTC, an aware one, or epoch seconds


def _utc(value: Moment | dt.date | dt.time) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo is not None else value
    if isinstance(value, dt.date):   # a DATE column: its midnight, as strftime had it
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, dt.time):
        return dt.datetime.combine(dt.date(1900, 1, 1), value.replace(tzinfo=None))
    return dt.datetime.fromtimestamp(value, dt.UTC)


class Formats:
    """English (and ``qps``): ISO 8601 times, a decimal point, no grouping."""

    language = "en"
    iso = True          # times as ISO 8601 (the CLI then keeps its isoformat()+"Z")
    unit_space = " "    # between a number and its unit symbol

    def number(self, value: float, digits: int = 0) -> str:
        """``1234.5`` with ``digits`` decimals."""
        return f"{value:.{digits}f}"

    def decimal(self, text: str) -> str:
        """A number already formatted with a point (``"1234.5"``), in the language's way."""
        return text

    def percent(self, value: float, digits: int = 0) -> str:
        """``value`` in percent (``42.0`` → ``42 %``)."""
        return f"{value:.{digits}f} %"

    def size(self, n: float) -> str:
        """A byte count in IEC units: ``512 B``, ``3.5 GiB`` (``3,5 GiB``)."""
        value = float(n)
        for unit in BYTE_UNITS:
            if abs(value) < 1024 or unit == BYTE_UNITS[-1]:
                break
            value /= 1024
        return f"{self.number(value, 0 if unit == 'B' else 1)}{self.unit_space}{unit}"

    def datetime(self, value: Moment, seconds: bool = False) -> str:
        """A moment in UTC: ``2026-12-01 17:50 UTC`` (with ``seconds``: ``17:50:00``)."""
        return _utc(value).strftime(ISO_SECONDS if seconds else ISO_MINUTES)

    def clock(self, value: Moment, pattern: str) -> str:
        """A chart's time label: ``pattern`` one of ``%H:%M``, ``%H:%M:%S``, ``%m-%d``,
        ``%m-%d %H:%M`` (in English as it says; any other strftime pattern is used as it
        is in every language)."""
        return _utc(value).strftime(pattern)


class Localised(Formats):
    """A language's numbers and dates from CLDR (Babel, read once here)."""

    iso = False

    def __init__(self, code: str) -> None:
        from babel import Locale
        from babel.numbers import parse_pattern
        from babel.units import format_unit

        self.language = code
        self.locale = loc = Locale.parse(code)
        symbols = loc.number_symbols   # Babel 2.14 on: per numbering system (latn)
        if "decimal" not in symbols:
            symbols = symbols[getattr(loc, "default_numbering_system", "latn")]
        self.point, self.group = symbols["decimal"], symbols["group"]
        self.minus = symbols["minusSign"]
        decimal = loc.decimal_formats[None]
        self._grouped = decimal.grouping == (3, 3)  # groups of three, as Python's ","
        self._integer = decimal.pattern.split(";")[0].split(".")[0]  # "#,##0"
        self._point_differs, self._minus_differs = self.point != ".", self.minus != "-"
        pct = parse_pattern(loc.percent_formats[None].pattern)
        sign = symbols["percentSign"]
        self._pct = (pct.prefix[0].replace("%", sign), pct.suffix[0].replace("%", sign))
        one = format_unit(1, "digital-kilobyte", length="short", locale=loc)   # "1 kB"
        space = one[1:one.find("k")] if one.startswith("1") and "k" in one else ""
        self.unit_space = space if space and not space.strip() else NBSP
        self._month = (None, *(loc.months["format"]["abbreviated"][m] for m in range(1, 13)))
        self._month_wide = (None, *(loc.months["format"]["wide"][m] for m in range(1, 13)))
        date = loc.date_formats["medium"].pattern
        joined = str(loc.datetime_formats["medium"])
        self._minutes = self._compile(joined.replace("{1}", date).replace(
            "{0}", loc.time_formats["short"].pattern), " UTC")
        self._seconds = self._compile(joined.replace("{1}", date).replace(
            "{0}", loc.time_formats["medium"].pattern), " UTC")
        skeletons = loc.datetime_skeletons
        short = str(loc.datetime_formats["short"])
        self._ticks: dict[str, tuple[str, str]] = {}
        for strftime, names in _TICKS.items():
            parts = [skeletons[n].pattern if n in skeletons else None for n in names]
            if None in parts:
                continue
            text = parts[0] if len(parts) == 1 else \
                short.replace("{1}", str(parts[0])).replace("{0}", str(parts[1]))
            self._ticks[strftime] = self._compile(text, "")

    def _compile(self, pattern: str, tail: str) -> tuple[str, str]:
        """(str.format template, "") for a CLDR pattern; ("", pattern) when a field is
        none of :data:`_FIELDS` (Babel formats that one, per value)."""
        from babel.dates import tokenize_pattern

        out = []
        for kind, value in tokenize_pattern(pattern):
            if kind == "chars":
                out.append(value.replace("{", "{{").replace("}", "}}"))
                continue
            field = _FIELDS.get(value)
            if field is None:
                return "", pattern + tail.replace("UTC", "'UTC'")
            out.append(field)
        return "".join(out) + tail, ""

    def _apply(self, compiled: tuple[str, str], t: dt.datetime) -> str:
        template, pattern = compiled
        if template:
            return template.format(t, self._month[t.month], self._month_wide[t.month],
                                   t.year % 100)
        from babel.dates import format_datetime

        return format_datetime(t, pattern, locale=self.locale)

    def number(self, value: float, digits: int = 0) -> str:
        if -999 < value < 999:   # most numbers a report shows: no group to write
            text = f"{value:.{digits}f}"
            if self._point_differs:
                text = text.replace(".", self.point)
        elif self._grouped:      # (str.replace: a third of str.translate's time)
            text = f"{value:,.{digits}f}".replace(",", "\0").replace(".", self.point) \
                .replace("\0", self.group)
        else:                    # no language that ships (#,##,##0 would): Babel per value
            from babel.numbers import format_decimal

            return format_decimal(value, self._integer + ("." + "0" * digits if digits else ""),
                                  locale=self.locale)
        return self.minus + text[1:] if self._minus_differs and text[:1] == "-" else text

    def decimal(self, text: str) -> str:
        negative = text.startswith("-")
        head, point, tail = (text[1:] if negative else text).partition(".")
        if len(head) > 3 and head.isdigit() and self._grouped:
            head = f"{int(head):,}".replace(",", self.group)
        out = f"{head}{self.point}{tail}" if point else head
        return self.minus + out if negative else out

    def percent(self, value: float, digits: int = 0) -> str:
        prefix, suffix = self._pct
        return f"{prefix}{self.number(value, digits)}{suffix}"

    def datetime(self, value: Moment, seconds: bool = False) -> str:
        return self._apply(self._seconds if seconds else self._minutes, _utc(value))

    def clock(self, value: Moment, pattern: str) -> str:
        compiled = self._ticks.get(pattern)
        t = _utc(value)
        return t.strftime(pattern) if compiled is None else self._apply(compiled, t)


ENGLISH = Formats()
_cache: dict[str, Formats] = {"en": ENGLISH, "qps": ENGLISH}
_lock = threading.Lock()


def get(code: str) -> Formats:
    """The formats of language ``code`` (``en``, ``sv``, ``de``; ``qps`` is English),
    made once; Babel is imported the first time a language other than English asks."""
    found = _cache.get(code)
    if found is None:
        with _lock:
            found = _cache.get(code)
            if found is None:
                found = _cache[code] = Localised(code)
    return found


__all__ = ["BYTE_UNITS", "ENGLISH", "NBSP", "Formats", "Localised", "Moment", "get"]
