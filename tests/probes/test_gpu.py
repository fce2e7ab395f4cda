"""gpu: focused cases and a fuzz test of the nvidia-smi csv parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onion.probes.base import OS, ParseError, ProbeError, Unavailable
from onion.probes.gpu import PROBE

HEADER = "index, uuid, name, memory.used [MiB], power.draw [W], fan.speed [%]"


def parse(text: str):
    return PROBE.parse(OS.LINUX, {"query_gpu": text})


def test_units_in_values_and_placeholders() -> None:
    (gpu,) = parse(HEADER + "\n0, GPU-a, Tesla T4, 1235 MiB, 27.50 W, [Not Supported]\n")
    assert gpu.memory_used_bytes == 1235 * 1024 * 1024
    assert gpu.power_draw_watts == 27.5
    assert gpu.fan_speed_pct is None


@pytest.mark.parametrize("value", ["[N/A]", "N/A", "[Unknown Error]", "[GPU requires reset]"])
def test_placeholders_are_null(value: str) -> None:
    (gpu,) = parse(HEADER + f"\n0, GPU-a, T4, 10, {value}, 30\n")
    assert gpu.power_draw_watts is None


def test_headerless_output_uses_the_fragment_order() -> None:
    row = "1, GPU-b, A100, 0000:01:00.0, 550.1, P0, Enabled, [N/A], [N/A], 10, 20, 30, 31, " \
          "50.5, 400.00, [N/A], 1410, 0"
    (gpu,) = parse(row)
    assert (gpu.index, gpu.uuid, gpu.mig_enabled, gpu.sm_clock_mhz) == (1, "GPU-b", True, 1410)


@pytest.mark.parametrize("text", [
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n",
    "No devices were found\n",
])
def test_driver_failures_are_unavailable(text: str) -> None:
    with pytest.raises(Unavailable, match=text.split()[0]):
        parse(text)


def test_wrong_column_count_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse(HEADER + "\n0, GPU-a, T4\n")


def test_no_part_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        PROBE.parse(OS.LINUX, {})


@given(st.text())
def test_fuzz(text: str) -> None:
    for body in (text, HEADER + "\n" + text):
        try:
            parse(body)
        except ProbeError:
            pass
