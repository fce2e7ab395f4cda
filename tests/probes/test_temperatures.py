"""temperatures: focused cases and fuzz tests of each parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.probes.base import OS, ParseError, ProbeError
from onion.probes.temperatures import PROBE


def test_decimal_comma_and_unset_acpi_limit() -> None:
    text = "hw.acpi.thermal.tz0.temperature: 27,9C\nhw.acpi.thermal.tz0._CRT: -1\n"
    (t,) = PROBE.parse(OS.FREEBSD, {"sysctl": text})
    assert (t.chip, t.celsius, t.crit_celsius) == ("tz0", 27.9, None)


@pytest.mark.parametrize(("value", "expected"), [
    (-273.15, None), (65261.85, None), (127.0, None), (-1.0, -1.0), (0.0, 0.0), (99.5, 99.5)])
def test_plausibility_window(value: float, expected: float | None) -> None:
    text = json.dumps({"chip-0": {"Adapter": "x", "t": {"temp1_input": value}}})
    (t,) = PROBE.parse(OS.LINUX, {"sensors": text})
    assert t.celsius == expected


def test_duplicate_labels_get_unique_keys() -> None:
    text = ("/sys/class/hwmon/hwmon4/temp1_input:55000\n/sys/class/hwmon/hwmon4/temp1_label:x\n"
            "/sys/class/hwmon/hwmon4/temp2_input:54000\n/sys/class/hwmon/hwmon4/temp2_label:x\n")
    assert [t.sensor for t in PROBE.parse(OS.LINUX, {"sensors": text})] == ["x", "x #2"]


@pytest.mark.parametrize("text", ['{"c": {"f": {"temp1_input": "hot"}}}', "[1, 2]", "{"])
def test_bad_json_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        PROBE.parse(OS.LINUX, {"sensors": text})


def test_openbsd_unknown_value_and_status() -> None:
    text = "hw.sensors.km0.temp0=unknown\nhw.sensors.sdtemp0.temp0=33.50 degC, WARNING\n"
    temps = PROBE.parse(OS.OPENBSD, {"sysctl": text})
    assert [(t.chip, t.celsius) for t in temps] == [("km0", None), ("sdtemp0", 33.5)]


@pytest.mark.parametrize(("os", "part"), [(OS.LINUX, "sensors"), (OS.FREEBSD, "sysctl"),
                                          (OS.OPENBSD, "sysctl")])
@given(text=st.text())
def test_fuzz(os: OS, part: str, text: str) -> None:
    for body in (text, "/sys/class/hwmon/hwmon0/" + text, "{" + text, "dev.cpu.0." + text,
                 "hw.sensors.cpu0." + text):
        try:
            PROBE.parse(os, {part: body})
        except ProbeError:
            pass
