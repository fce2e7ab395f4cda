"""temperatures: recorded sensors / sysfs / sysctl outputs."""

from __future__ import annotations

import pytest

from onion.probes.base import OS, ParseError
from onion.probes.temperatures import PROBE
from tests.conftest import corpus_params

HANDLED = [
    ("*/sensors-j.out", OS.LINUX, "sensors"),
    ("*/sensors-u.out", OS.LINUX, "sensors"),
    ("*/sys-class-hwmon.out", OS.LINUX, "sensors"),
    ("*/sys-class-thermal.out", OS.LINUX, "sensors"),
    ("freebsd-*/sysctl-dev.aibs.0.out", OS.FREEBSD, "sysctl"),
    ("freebsd-*/sysctl-dev.cpu.0.temperature.out", OS.FREEBSD, "sysctl"),
    ("freebsd-*/sysctl-hw.acpi.thermal.tz0.temperature.out", OS.FREEBSD, "sysctl"),
    ("freebsd-*/sysctl-temperatures.out", OS.FREEBSD, "sysctl"),
    ("openbsd*/sysctl-hw.sensors.out", OS.OPENBSD, "sysctl"),
]
# Files of commands the fragments do not run; the parser must refuse, not guess.
NOT_HANDLED = [
    ("*/sensors.out", OS.LINUX, "sensors",
     "plain sensors: units, ALARM flags and wrapped limit lines; we run sensors -j"),
    ("freebsd-*/sysctl-n-hw.acpi.thermal.tz0.out", OS.FREEBSD, "sysctl",
     "sysctl -n prints values without names: nothing says which is the temperature"),
]


@pytest.mark.parametrize(("pattern", "os", "part"), HANDLED, ids=[h[0] for h in HANDLED])
def test_handled(corpus, pattern, os, part) -> None:
    files = sorted(corpus.glob(pattern))
    assert files, f"no corpus file for {pattern}"
    for path in files:
        temps = PROBE.parse(os, {part: path.read_text()})
        assert temps, path
        keys = [(t.chip, t.sensor) for t in temps]
        assert len(keys) == len(set(keys))


@pytest.mark.parametrize(("pattern", "os", "part", "why"), NOT_HANDLED,
                         ids=[n[0] for n in NOT_HANDLED])
def test_not_handled(corpus, pattern, os, part, why) -> None:
    files = sorted(corpus.glob(pattern))
    assert files, f"no corpus file for {pattern}"
    for path in files:
        with pytest.raises(ParseError):
            PROBE.parse(os, {part: path.read_text()})


@pytest.mark.parametrize("path", corpus_params("*/sensors-j.out"))
def test_bogus_nvme_limits_are_null(path) -> None:
    temps = {(t.chip, t.sensor): t for t in PROBE.parse(OS.LINUX, {"sensors": path.read_text()})}
    nvme = temps[("nvme-pci-0200", "Sensor 1")]
    assert nvme.celsius == 34.85 and nvme.high_celsius is None  # +65261.85 sentinel
