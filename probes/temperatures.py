"""Temperature sensors: one row per sensor, in °C, with its high and critical limits.

Linux   ``sensors -j`` (lm-sensors >= 3.5), else a ``grep -H`` dump of sysfs::

            {"coretemp-isa-0000": {"Adapter": "ISA adapter",
                                   "Core 0": {"temp2_input": 31.0, "temp2_max": 80.0, ...}}}
            /sys/class/hwmon/hwmon0/name:coretemp
            /sys/class/hwmon/hwmon0/temp1_input:55000          (millidegrees)
            /sys/class/thermal/thermal_zone0/type:x86_pkg_temp
        the parser also reads ``sensors -u`` (raw mode)::
            k10temp-pci-00c3
            Adapter: PCI adapter
            temp1:
              temp1_input: 48.125
FreeBSD ``sysctl -q dev.cpu hw.acpi.thermal dev.aibs``, temperature lines only::
            dev.cpu.0.temperature: 43.0C          (coretemp/amdtemp; "52,0C" seen too)
            dev.cpu.0.coretemp.tjmax: 100.0C
            hw.acpi.thermal.tz0.temperature: 27.9C
            hw.acpi.thermal.tz0._CRT: 105.0C      (-1 where unset)
            dev.aibs.0.temp.0: 47.0C 60.0C 75.0C  (current, warning, critical)
OpenBSD ``sysctl hw.sensors``, temperature lines only::
            hw.sensors.acpitz0.temp0=27.80 degC (zone temperature)
            hw.sensors.sdtemp0.temp0=33.50 degC, OK
NetBSD  ``envstat`` (sysmon): values right-aligned under the header, unset limits blank::
                                  Current  CritMax  WarnMax  WarnMin  CritMin  Unit
            [acpitz0]
                   temperature:    27.800   95.000                             degC
            [itesio0]
                   System Temp:    41.000            70.000                    degC

Implausible values are stored as NULL, not dropped, so the sensor stays visible: drivers
report unconnected inputs and unset limits as sentinels (-273.15, +65261.8 on NVMe,
+127 on Super-I/O chips). The window is below.
Plain ``sensors`` output (units, ALARM flags, wrapped limit lines) is not parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    Table,
    Unavailable,
    col,
    only_part,
    partial,
    to_float,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Temperature:
    chip: str = col("VARCHAR", key=True, doc="sensor chip / device (coretemp-isa-0000, cpu0)")
    sensor: str = col("VARCHAR", key=True, doc="sensor label within the chip")
    celsius: float | None = col("FLOAT", unit="°C", default=None)
    high_celsius: float | None = col("FLOAT", unit="°C", default=None)
    crit_celsius: float | None = col("FLOAT", unit="°C", default=None)


# Readings outside this window are sensor sentinels, not temperatures (see docstring).
PLAUSIBLE_MIN, PLAUSIBLE_MAX = -60.0, 150.0
_SENTINELS = (127.0, -128.0)  # int8 "no reading" of Super-I/O and SMBus chips


def plausible(value: float | None) -> float | None:
    if value is None or not PLAUSIBLE_MIN < value < PLAUSIBLE_MAX or value in _SENTINELS:
        return None
    return value


def _unique(records: list[Temperature]) -> list[Temperature]:
    """Labels repeat (two ``foosensor`` on one chip); make the key unique, keep order."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in records:
        n = seen.get((r.chip, r.sensor), 0)
        seen[(r.chip, r.sensor)] = n + 1
        if n:
            r = Temperature(chip=r.chip, sensor=f"{r.sensor} #{n + 1}", celsius=r.celsius,
                            high_celsius=r.high_celsius, crit_celsius=r.crit_celsius)
        out.append(r)
    return out


def _temp(chip: str, sensor: str, cur: float | None, high: float | None = None,
          crit: float | None = None) -> Temperature:
    return Temperature(chip=chip, sensor=sensor, celsius=plausible(cur),
                       high_celsius=plausible(high), crit_celsius=plausible(crit))


# -- Linux --------------------------------------------------------------------------------

_SYSFS_LINE = re.compile(
    r"/sys/class/(hwmon)/(hwmon\d+)/(name|temp\d+_(?:input|label|max|crit))"
    r"|/sys/class/(thermal)/(thermal_zone\d+)/(type|temp)")
# Any other attribute of these trees (fan*, in*, *_alarm, cooling devices) is known and
# not ours: a wider dump (``grep -H . /sys/class/hwmon/hwmon*/*``) parses too.
_SYSFS_OTHER = re.compile(r"/sys/class/(?:hwmon|thermal)/[^/]+/[^/]+")
_TEMP_SUB = re.compile(r"(temp\d+)_(input|max|crit)")

LINUX_SH = """\
if command -v sensors >/dev/null 2>&1 && out=$(sensors -j 2>/dev/null) && [ -n "$out" ]; then
    printf '%s\\n' "$out"; exit 0
fi
out=$(grep -Hs . /sys/class/hwmon/hwmon*/name /sys/class/hwmon/hwmon*/temp*_input \\
    /sys/class/hwmon/hwmon*/temp*_label /sys/class/hwmon/hwmon*/temp*_max \\
    /sys/class/hwmon/hwmon*/temp*_crit /sys/class/thermal/thermal_zone*/type \\
    /sys/class/thermal/thermal_zone*/temp)
[ -n "$out" ] || _na "no temperature sensors (no lm-sensors, hwmon or thermal zone)"
printf '%s\\n' "$out"
"""


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"not a number for {what}: {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(f"not a finite number for {what}: {value!r}")
    return float(value)


def _from_features(chip: str, features: Mapping[str, Mapping[str, float]]) -> list[Temperature]:
    out = []
    for label, subs in features.items():
        found: dict[str, dict[str, float]] = {}
        for sub, value in subs.items():
            m = _TEMP_SUB.fullmatch(sub)
            if m:
                found.setdefault(m[1], {})[m[2]] = value
        for values in found.values():
            if "input" in values:
                out.append(_temp(chip, label, values["input"], values.get("max"),
                                 values.get("crit")))
    return out


def _parse_sensors_json(text: str, skipped: list[str]) -> list[Temperature]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"sensors -j printed invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ParseError("sensors -j: expected an object of chips")
    out = []
    for chip, features in data.items():
        if not isinstance(features, dict):
            raise ParseError(f"sensors -j: chip {chip!r} is not an object")
        numeric = {}
        for label, subs in features.items():
            if label == "Adapter":
                continue
            try:
                if not isinstance(subs, dict):
                    raise ParseError(f"sensors -j: feature {label!r} of {chip!r} is not an "
                                     "object")
                numeric[label] = {k: _number(v, f"{chip} {label} {k}") for k, v in subs.items()}
            except ParseError:
                # One feature the JSON holds oddly costs that sensor only.
                skipped.append(f"{chip} {label}: {json.dumps(subs, ensure_ascii=False)[:160]}")
        out.extend(_from_features(chip, numeric))
    return out


def _parse_sensors_u(text: str, skipped: list[str]) -> list[Temperature]:
    chips: dict[str, dict[str, dict[str, float]]] = {}
    chip = label = None
    adapter = False  # every chip block starts with its "Adapter:" line
    for line in text.splitlines():
        if not line.strip():
            if chip is not None and not adapter:
                raise ParseError(f"sensors -u: chip {chip!r} has no Adapter line")
            chip = label = None
        elif line.startswith((" ", "\t")):
            sub, sep, value = line.strip().partition(":")
            if not sep or chip is None or label is None:
                skipped.append(line)
                continue
            try:
                chips[chip][label][sub] = to_float(value.strip(), sub, line)
            except ParseError:
                skipped.append(line)  # costs that reading only
        elif chip is None:
            chip = line.strip()
            chips.setdefault(chip, {})
            adapter = False
        elif line.startswith("Adapter:") and not adapter:
            adapter = True
        elif line.rstrip().endswith(":") and adapter:
            label = line.rstrip()[:-1]
            chips[chip].setdefault(label, {})
        else:
            skipped.append(line)
            label = None  # its readings belong to no known feature
    if chip is not None and not adapter:
        raise ParseError(f"sensors -u: chip {chip!r} has no Adapter line")
    return [t for name, feats in chips.items() for t in _from_features(name, feats)]


def _parse_sysfs(text: str, skipped: list[str]) -> list[Temperature]:
    hwmon: dict[str, dict[str, str]] = {}
    zones: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line:
            continue
        path, sep, value = line.partition(":")
        m = _SYSFS_LINE.fullmatch(path)
        if sep and not m and _SYSFS_OTHER.fullmatch(path):
            continue
        if not sep or not m:
            skipped.append(line)
            continue
        if m[1]:
            hwmon.setdefault(m[2], {})[m[3]] = value
        else:
            zones.setdefault(m[5], {})[m[6]] = value

    def milli(text: str | None, what: str, path: str) -> float | None:
        return None if text is None else to_float(text, what, f"{path}:{text}") / 1000

    out = []
    for dev in sorted(hwmon, key=lambda d: int(d[5:])):
        files = hwmon[dev]
        chip = f"{files['name']}-{dev}" if "name" in files else dev
        inputs = sorted((k[:-6] for k in files if k.endswith("_input")), key=lambda t: int(t[4:]))
        for t in inputs:
            base = f"/sys/class/hwmon/{dev}/{t}"
            try:
                out.append(_temp(chip, files.get(f"{t}_label", t),
                                 milli(files[f"{t}_input"], t, f"{base}_input"),
                                 milli(files.get(f"{t}_max"), t, f"{base}_max"),
                                 milli(files.get(f"{t}_crit"), t, f"{base}_crit")))
            except ParseError as exc:
                skipped.append(exc.line or base)  # a garbled reading costs that sensor
    for zone in sorted(zones, key=lambda z: int(z[12:])):
        files = zones[zone]
        if "temp" in files:
            try:
                out.append(_temp(zone, files.get("type", "temp"),
                                 milli(files["temp"], zone, f"/sys/class/thermal/{zone}/temp")))
            except ParseError as exc:
                skipped.append(exc.line or zone)
    return out


def parse_linux(parts: Mapping[str, str]) -> Table:
    text = only_part(parts, "sensors")
    head = text.lstrip()
    if not head:
        raise Unavailable("no temperature sensors")
    skipped: list[str] = []
    if head.startswith("{"):
        records = _parse_sensors_json(text, skipped)
    elif head.startswith("/sys/"):
        records = _parse_sysfs(text, skipped)
    else:
        records = _parse_sensors_u(text, skipped)
    return partial(Temperature, _unique(records), skipped)


# -- BSD ------------------------------------------------------------------------------------

FREEBSD_SH = """\
out=$(sysctl -q dev.cpu hw.acpi.thermal dev.aibs 2>/dev/null | grep -E \\
    '^(dev\\.cpu\\.[0-9]+\\.(temperature|coretemp\\.tjmax)|hw\\.acpi\\.thermal\\.tz[0-9]+\\.(temperature|_CRT)|dev\\.aibs\\.[0-9]+\\.temp\\.[0-9]+):')
[ -n "$out" ] || _na "no temperature sysctl (load coretemp(4) or amdtemp(4))"
printf '%s\\n' "$out"
"""
OPENBSD_SH = """\
out=$(sysctl hw.sensors 2>/dev/null | grep '^hw\\.sensors\\.[^.]*\\.temp[0-9]*=')
[ -n "$out" ] || _na "no temperature sensors in hw.sensors"
printf '%s\\n' "$out"
"""

_FREEBSD = re.compile(
    r"dev\.cpu\.(\d+)\.(temperature|coretemp\.tjmax)"
    r"|hw\.acpi\.thermal\.(tz\d+)\.(temperature|_CRT)"
    r"|dev\.aibs\.(\d+)\.temp\.(\d+)")
# The rest of the trees the fragment asks for (frequencies, C-states, aibs volts and fans,
# %desc): known, not temperatures; only the fragment's grep usually hides them.
_FREEBSD_OTHER = re.compile(r"(?:dev\.cpu|hw\.acpi\.thermal|dev\.aibs)\.\S+")
_OPENBSD = re.compile(r"hw\.sensors\.([^.=]+)\.(temp\d+)=(?:unknown|(-?[\d.]+) degC)"
                      r"(?: \((.*)\))?(?:, (?:OK|WARNING|CRITICAL|UNKNOWN))?")


def _celsius(text: str, line: str) -> float | None:
    """``43.0C`` or ``52,0C``; ``-1`` (ACPI: unset) is None."""
    text = text.strip()
    if text == "-1":
        return None
    if not text.endswith("C"):
        raise ParseError("temperature without the C unit", line)
    return to_float(text[:-1], "temperature", line)


def parse_freebsd(parts: Mapping[str, str]) -> Table:
    cur: dict[tuple[str, str], float | None] = {}
    limits: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    skipped: list[str] = []  # a line not understood costs that reading only
    for line in only_part(parts, "sysctl").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(": ")
        m = _FREEBSD.fullmatch(name)
        if sep and not m and _FREEBSD_OTHER.fullmatch(name):
            continue
        if not sep or not m:
            skipped.append(line)
            continue
        try:
            _freebsd_line(m, value, line, cur, limits)
        except ParseError:
            skipped.append(line)
    return partial(Temperature, [
        _temp(chip, sensor, value, *limits.get((chip, sensor), (None, None)))
        for (chip, sensor), value in cur.items()], skipped)


def _freebsd_line(m: re.Match[str], value: str, line: str,
                  cur: dict[tuple[str, str], float | None],
                  limits: dict[tuple[str, str], tuple[float | None, float | None]]) -> None:
    """One temperature sysctl into the readings and limits."""
    if m[1] is not None:
        key = (f"cpu{m[1]}", "temperature")
        if m[2] == "temperature":
            cur[key] = _celsius(value, line)
        else:
            limits[key] = (None, _celsius(value, line))
    elif m[3] is not None:
        key = (m[3], "temperature")
        if m[4] == "temperature":
            cur[key] = _celsius(value, line)
        else:
            limits[key] = (None, _celsius(value, line))
    else:
        words = value.split()
        if len(words) != 3:
            raise ParseError("aibs temperature needs current, warning, critical", line)
        key = (f"aibs{m[5]}", f"temp{m[6]}")
        reading = _celsius(words[0], line)
        limits[key] = (_celsius(words[1], line), _celsius(words[2], line))
        cur[key] = reading


def parse_openbsd(parts: Mapping[str, str]) -> Table:
    out = []
    skipped = []  # a line not understood (a sensor of another kind) costs that line
    for line in only_part(parts, "sysctl").splitlines():
        if not line.strip():
            continue
        m = _OPENBSD.fullmatch(line.strip())
        try:
            if not m:
                raise ParseError("not sure how to interpret hw.sensors line", line)
            value = to_float(m[3], "temperature", line) if m[3] is not None else None
        except ParseError:
            skipped.append(line)
            continue
        out.append(_temp(m[1], m[4] or m[2], value))
    return partial(Temperature, _unique(out), skipped)


# -- NetBSD ---------------------------------------------------------------------------------

NETBSD_SH = """\
out=$(envstat) || _na "envstat failed: no sysmon device or driver (its stderr says)"
case $out in
*degC*) printf '%s\\n' "$out" ;;
*) _na "no temperature sensors in envstat" ;;
esac
"""
_ENVSTAT_HEAD = ["Current", "CritMax", "WarnMax", "WarnMin", "CritMin", "Unit"]


def parse_netbsd(parts: Mapping[str, str]) -> Table:
    """``envstat``: a header, then per device ``[name]`` and its sensors, every kind.

    Values are right-aligned under their header word and a limit that is not set is
    blank, so each number is placed by where it ends; the description is right-aligned
    before a ':' (see the module docstring). Only ``degC`` rows are kept; an invalid
    sensor prints ``N/A`` without a unit and is kept where its name says "temp".
    """
    lines = only_part(parts, "envstat").splitlines()
    head = next((ln for ln in lines if ln.strip()), "")
    if head.split() != _ENVSTAT_HEAD:
        raise ParseError("not sure how to interpret envstat without its header", head)
    ends = {word: head.index(word) + len(word) for word in _ENVSTAT_HEAD[:-1]}
    colon = ends["Current"] - 11  # ": %10.3f": the current value ends under "Current"
    column = {end: word for word, end in ends.items()}
    chip: str | None = None
    out: list[Temperature] = []
    skipped: list[str] = []
    for line in lines[lines.index(head) + 1:]:
        if not line.strip():
            continue
        if line.startswith("[") and line.rstrip().endswith("]"):
            chip = line.strip()[1:-1]
            continue
        if chip is None or len(line) <= colon or line[colon] != ":":
            skipped.append(line)
            continue
        sensor = line[:colon].strip()
        words = [(m[0], colon + 1 + m.end()) for m in re.finditer(r"\S+", line[colon + 1:])]
        if words == [("N/A", ends["Current"])]:
            if "temp" in sensor.lower():
                out.append(_temp(chip, sensor, None))
            continue
        if not words or words[-1][0] != "degC":
            continue  # a fan, a voltage, an indicator: known, not a temperature
        values: dict[str, float] = {}
        for word, end in words[:-1]:
            if end not in column:
                break
            try:
                values[column[end]] = to_float(word, column[end], line)
            except ParseError:
                break  # a garbled number costs its sensor
        else:
            if "Current" in values:
                out.append(_temp(chip, sensor, values["Current"], values.get("WarnMax"),
                                 values.get("CritMax")))
                continue
        skipped.append(line)
    table = Table.of(Temperature, _unique(out))
    table.skipped = skipped
    return table


PROBE = Probe(
    name="temperatures",
    record=Temperature,
    description="temperature sensors (lm-sensors / sysfs, sysctl)",
    parts={
        OS.LINUX: (Part("sensors", sh=LINUX_SH, guard=True,
                        doc="`sensors -j`, else `grep` of hwmon and thermal sysfs"),),
        OS.FREEBSD: (Part("sysctl", sh=FREEBSD_SH,
                          doc="`sysctl -q dev.cpu hw.acpi.thermal dev.aibs`"),),
        OS.OPENBSD: (Part("sysctl", sh=OPENBSD_SH, doc="`sysctl hw.sensors`"),),
        OS.NETBSD: (Part("envstat", sh=NETBSD_SH),),
    },
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_freebsd, OS.OPENBSD: parse_openbsd,
             OS.NETBSD: parse_netbsd},
    unsupported={OS.MACOS: "no temperature interface without root (powermetrics/SMC)"},
)
