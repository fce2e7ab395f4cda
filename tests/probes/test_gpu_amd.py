"""gpu on AMD: amd-smi and rocm-smi JSON, hosts with both vendors, the fragments in a shell.

The amd-smi fixtures (tests/fixtures/gpu/amd-smi*.json) are written by us from amd-smi's
source (amdsmi_cli, ROCm 6.0 to 7.x: the JSON layouts, keys and units it prints), not
captured on a host; the recorded rocm-smi outputs are the corpus's (test_gpu_corpus.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onion.probes.base import OS, ParseError, ProbeError, Unavailable
from onion.probes.gpu import (
    AMD_METRIC_MARK,
    AMD_STATIC_MARK,
    NVIDIA_UNAVAILABLE,
    PROBE,
    ROCM_MARK,
    SH,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "gpu"
MIB = 1024 * 1024
NO_NVIDIA = "nvidia-smi not found"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def linux(nvidia: str = "", *, nvidia_na: str | None = None, static: str | None = None,
          metric: str | None = None, rocm: str | None = None) -> str:
    """The Linux part's text as the fragment prints it: nvidia-smi's csv (or why not),
    then the ROCm tool's JSON after its marker lines."""
    out = [nvidia.rstrip("\n")] if nvidia else []
    if nvidia_na is not None:
        out.append(NVIDIA_UNAVAILABLE + nvidia_na)
    if static is not None or metric is not None:
        out += [AMD_STATIC_MARK, static or "", AMD_METRIC_MARK, metric or ""]
    if rocm is not None:
        out += [ROCM_MARK, rocm]
    return "\n".join(out) + "\n"


def parse(text: str):
    return PROBE.parse(OS.LINUX, {"query_gpu": text})


def amd_smi(static: str = "amd-smi-static.json", metric: str = "amd-smi-metric.json",
            nvidia: str = "", nvidia_na: str | None = NO_NVIDIA):
    return parse(linux(nvidia, nvidia_na=nvidia_na, static=fixture(static),
                       metric=fixture(metric)))


def rocm(cards: dict, system: dict | None = None):
    doc = {**cards, **({"system": system} if system else {})}
    return parse(linux(nvidia_na=NO_NVIDIA, rocm=json.dumps(doc)))


def test_amd_smi_gpus() -> None:
    first, second = amd_smi()
    assert first.index == 0 and first.uuid == "AMD-5d2f1a7c3b4e9a10"  # 16 hex digits
    assert (first.name, first.pci_bus_id, first.driver_version) == (
        "AMD Instinct MI210", "0000:c1:00.0", "6.8.5")
    assert (first.utilization_pct, first.memory_utilization_pct) == (87, 35)
    assert first.memory_used_bytes == 40960 * MIB and first.memory_total_bytes == 65520 * MIB
    assert (first.temperature_celsius, first.memory_temperature_celsius) == (48, 55)
    assert (first.power_draw_watts, first.power_limit_watts) == (231, 300)
    assert first.fan_speed_pct is None and first.mig_enabled is None and first.pstate is None
    # No asic_serial: the PCI bus id is the id. No edge sensor: the junction's temperature.
    assert second.uuid == "PCI-0000:c2:00.0"
    assert second.temperature_celsius == 39 and second.power_limit_watts is None


def test_amd_smi_25_wraps_its_list_and_a_zero_serial_is_no_id() -> None:
    (gpu,) = amd_smi("amd-smi25-static.json", "amd-smi25-metric.json")
    assert gpu.uuid == "PCI-0000:03:00.0"
    assert (gpu.name, gpu.fan_speed_pct, gpu.power_limit_watts) == (
        "AMD Radeon RX 7900 XT", 23.92, 315)


def test_amd_smi_6_0_one_gpu_bare_object_and_plain_numbers() -> None:
    # ROCm 6.0 printed one GPU without a list around it, numbers without units, and its
    # own key names (gfx_usage, mem_usage, current_power).
    static = {"gpu": 0, "asic": {"market_name": "AMD Instinct MI100",
                                 "asic_serial": "0x79ccd55167a2124a"},
              "bus": {"bdf": "0000:83:00.0"}}
    metric = {"gpu": 0, "usage": {"gfx_usage": 12, "mem_usage": 3, "mm_ip_usage": "N/A"},
              "power": {"current_power": 36, "power_limit": 290},
              "temperature": {"edge": 53, "hotspot": 55, "mem": 53},
              "mem_usage": {"total_vram": 32752, "used_vram": 6}}
    (gpu,) = parse(linux(nvidia_na=NO_NVIDIA, static=json.dumps(static),
                         metric=json.dumps(metric)))
    assert gpu.uuid == "AMD-79ccd55167a2124a"  # the same id rocm-smi gives that card
    assert (gpu.utilization_pct, gpu.memory_utilization_pct, gpu.power_draw_watts) == (12, 3, 36)
    assert gpu.memory_total_bytes == 32752 * MIB and gpu.temperature_celsius == 53


def test_a_warning_line_before_the_json_is_passed_over() -> None:
    warning = ("WARNING: User is missing the following required groups: render, video. "
               "Please add user to these groups.\n")
    gpus = parse(linux(nvidia_na=NO_NVIDIA, static=warning + fixture("amd-smi-static.json"),
                       metric=warning + fixture("amd-smi-metric.json")))
    assert len(gpus) == 2


def test_rocm_smi_and_amd_smi_give_a_card_the_same_uuid() -> None:
    (from_rocm,) = rocm({"card0": {"Unique ID": "0x4edfb117a17a07d", "PCI Bus": "0000:A3:00.0"}})
    static = [{"gpu": 0, "asic": {"asic_serial": "0x04EDFB117A17A07D"},
               "bus": {"bdf": "0000:a3:00.0"}}]
    (from_amd_smi,) = parse(linux(nvidia_na=NO_NVIDIA, static=json.dumps(static), metric=""))
    assert from_rocm.uuid == from_amd_smi.uuid == "AMD-04edfb117a17a07d"
    assert from_rocm.pci_bus_id == from_amd_smi.pci_bus_id == "0000:a3:00.0"


@pytest.mark.parametrize(("raw", "want"), [
    ("30.0", 30.0), ("30.0 W", 30.0), ("30 W", 30.0), ("N/A", None), ("", None),
    ("unknown", None), ("N/A (Secondary die)", None), (None, None),
])
def test_rocm_smi_values_with_units_and_placeholders(raw, want) -> None:
    card = {"Unique ID": "N/A", "PCI Bus": "0000:04:00.0"}
    if raw is not None:
        card["Average Graphics Package Power (W)"] = raw
    (gpu,) = rocm({"card0": card})
    assert gpu.power_draw_watts == want


def test_rocm_smi_percent_and_clock_strings() -> None:
    (gpu,) = rocm({"card0": {"PCI Bus": "0000:04:00.0", "GPU use (%)": "78%",
                             "Fan speed (%)": "13", "sclk clock speed:": "(1269Mhz)",
                             "Card series": "0x1002"}})
    assert (gpu.utilization_pct, gpu.fan_speed_pct, gpu.sm_clock_mhz) == (78, 13, 1269)
    assert gpu.name is None  # ROCm 4.3 prints a PCI id where the name should be


@pytest.mark.parametrize(("key", "value"), [("GPU use (%)", "12 furlongs"),
                                            ("VRAM Total Memory (B)", str(1 << 65)),
                                            ("Temperature (Sensor edge) (C)", "1e999")])
def test_a_bad_card_costs_that_card_only(key: str, value: str) -> None:
    table = rocm({"card0": {"PCI Bus": "0000:04:00.0", key: value},
                  "card1": {"PCI Bus": "0000:05:00.0", "GPU use (%)": "5"},
                  "card2": {"PCI Bus": "0000:06:00.0"}})
    assert [g.index for g in table] == [1, 2]
    assert len(table.skipped) == 1 and table.skipped[0].startswith("rocm-smi card0: ")


def test_a_unique_id_shared_by_partitions_is_no_id() -> None:
    same = "0x79ccd55167a2124a"
    gpus = rocm({"card0": {"Unique ID": same, "PCI Bus": "0000:05:00.0"},
                 "card1": {"Unique ID": same, "PCI Bus": "0000:05:00.1"}})
    assert [g.uuid for g in gpus] == ["PCI-0000:05:00.0", "PCI-0000:05:00.1"]


def test_nvidia_and_amd_on_one_host() -> None:
    gpus = amd_smi(nvidia=fixture("nvidia-query-gpu.csv"), nvidia_na=None)
    assert [(g.index, g.uuid[:4]) for g in gpus] == [(0, "GPU-"), (0, "AMD-"), (1, "PCI-")]
    assert len({(g.index, g.uuid) for g in gpus}) == 3  # the key stays unique
    assert not gpus.skipped


def test_one_vendor_failing_keeps_the_others_gpus() -> None:
    gpus = amd_smi(nvidia_na="nvidia-smi failed: NVIDIA-SMI has failed because it couldn't "
                             "communicate with the NVIDIA driver.")
    assert len(gpus) == 2 and gpus.skipped == [
        "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the "
        "NVIDIA driver."]
    gpus = parse(linux(fixture("nvidia-query-gpu.csv"), static="{broken", metric=""))
    assert [g.name for g in gpus] == ["NVIDIA L4"] and "broken JSON" in gpus.skipped[0]
    gpus = parse(linux(fixture("nvidia-query-gpu.csv"), static="", metric=""))
    assert [g.name for g in gpus] == ["NVIDIA L4"] and gpus.skipped == [
        "amd-smi printed nothing"]


def test_no_nvidia_smi_or_no_nvidia_gpu_is_not_worth_a_note_on_an_amd_host() -> None:
    # CUDA tools on an AMD host: nvidia-smi is there and finds no NVIDIA GPU (exit 6).
    for reason in (NO_NVIDIA, "nvidia-smi failed: No devices were found"):
        gpus = amd_smi(nvidia_na=reason)
        assert len(gpus) == 2 and not gpus.skipped


def test_both_failing_is_the_rocm_tools_error() -> None:
    with pytest.raises(Unavailable, match="rocm-smi printed nothing"):
        parse(linux(nvidia_na=NO_NVIDIA, rocm=""))
    with pytest.raises(ParseError, match="rocm-smi"):
        parse(linux(nvidia_na=NO_NVIDIA, rocm="ERROR: No DRM devices available. Exiting"))


def test_nvidia_only_host_is_read_as_before() -> None:
    text = fixture("nvidia-query-gpu.csv")
    assert parse(text) == PROBE.parse(OS.FREEBSD, {"query_gpu": text})
    with pytest.raises(Unavailable, match="No devices were found"):
        parse("No devices were found\n")
    with pytest.raises(ParseError):
        parse("index, name\n0, T4\n")
    with pytest.raises(Unavailable):
        PROBE.parse(OS.LINUX, {})


@pytest.mark.parametrize("text", ["Error: no JSON here\n", "[1, 2]", '{"gpu": 70000}',
                                  '[{"gpu": 0}, {"gpu": 0}]', "[NaN]", "[" * 5000])
def test_amd_smi_output_of_another_shape_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse(linux(nvidia_na=NO_NVIDIA, static=text, metric=""))


# -- the fragments, run by a real sh against stand-in tools --------------------------------

def _stub(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def run(sh: str, path: Path) -> tuple[int, str, str]:
    script = '_na() { printf "%s\\n" "$*" >&2; exit 69; }\n' + sh
    r = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                       env={"PATH": str(path), "LC_ALL": "C"}, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def run_linux(path: Path) -> tuple[int, str, str]:
    (part,) = PROBE.parts[OS.LINUX]
    return run(part.sh, path)


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sed", "cat"):  # what the fragments and stand-ins use besides the tools
        for d in ("/usr/bin", "/bin"):
            if os.path.exists(f"{d}/{tool}"):
                (bin_dir / tool).symlink_to(f"{d}/{tool}")
                break
    return bin_dir


def nvidia_stub(tools: Path) -> None:
    _stub(tools, "nvidia-smi", f"cat '{FIXTURES / 'nvidia-query-gpu.csv'}'\n")


def test_the_linux_fragment_on_an_nvidia_only_host_prints_what_it_did(tools: Path) -> None:
    nvidia_stub(tools)
    assert run_linux(tools) == run(SH, tools) == (0, fixture("nvidia-query-gpu.csv"), "")


def test_the_linux_fragment_with_amd_smi(tools: Path) -> None:
    _stub(tools, "amd-smi", f"""\
case "$1" in
  static) cat '{FIXTURES / "amd-smi-static.json"}';;
  metric) echo 'WARNING: User is missing the following required groups: render.'
          cat '{FIXTURES / "amd-smi-metric.json"}';;
esac
""")
    _stub(tools, "rocm-smi", "echo rocm-smi must not run; exit 1\n")
    rc, out, _ = run_linux(tools)
    assert rc == 0 and out.startswith(NVIDIA_UNAVAILABLE + NO_NVIDIA + "\n")
    assert "rocm-smi must not run" not in out  # amd-smi is there: rocm-smi is not asked
    assert [g.uuid for g in parse(out)] == ["AMD-5d2f1a7c3b4e9a10", "PCI-0000:c2:00.0"]
    nvidia_stub(tools)
    rc, out, _ = run_linux(tools)
    assert [g.uuid[:4] for g in parse(out)] == ["GPU-", "AMD-", "PCI-"]


def test_amd_smi_refusing_the_flags_is_asked_for_everything(tools: Path) -> None:
    # A release (or a VM) without --limit: argparse exits 2 with nothing on stdout.
    _stub(tools, "amd-smi", f"""\
case "$*" in
  *--limit*|*--fan*) echo "amd-smi: error: unrecognized arguments" >&2; exit 2;;
  static*) cat '{FIXTURES / "amd-smi-static.json"}';;
  metric*) cat '{FIXTURES / "amd-smi-metric.json"}';;
esac
""")
    rc, out, _ = run_linux(tools)
    assert rc == 0 and len(parse(out)) == 2


def test_the_linux_fragment_with_rocm_smi_and_with_no_tool(tools: Path) -> None:
    assert run_linux(tools) == (69, "", "nvidia-smi not found; no amd-smi or rocm-smi either\n")
    # Old rocm-smi exits 1 when one sensor of many fails: its output still counts.
    _stub(tools, "rocm-smi", 'echo \'{"card0": {"PCI Bus": "0000:04:00.0"}}\'; exit 1\n')
    rc, out, _ = run_linux(tools)
    assert rc == 0 and [g.uuid for g in parse(out)] == ["PCI-0000:04:00.0"]
    _stub(tools, "nvidia-smi", "echo 'No devices were found'; exit 6\n")
    rc, out, _ = run_linux(tools)
    assert rc == 0 and len(parse(out)) == 1 and not parse(out).skipped


# -- fuzz: the AMD parsers are total --------------------------------------------------------

SEEDS = [fixture(n) for n in ("amd-smi-static.json", "amd-smi-metric.json",
                              "amd-smi25-metric.json")]
NASTY = ["NaN", "-1", "18446744073709551616", "1e400", '"N/A"', '"30 W"', "null", "[]", "{}",
         '{"value": 1}', '{"value": "x", "unit": "parsec"}', "true", '"١٢٣"', "9" * 40]


@st.composite
def mutated_json(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=300))
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        head, sep, _ = lines[i].partition(": ")
        op = draw(st.sampled_from(["value", "drop", "cut"]))
        if op == "value" and sep:
            lines[i] = head + sep + draw(st.sampled_from(NASTY)) + ","
        elif op == "drop":
            del lines[i]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        if not lines:
            break
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(static=mutated_json(), metric=mutated_json(), rocm=st.text(max_size=300),
       nvidia=st.sampled_from(["", "No devices were found\n", fixture("nvidia-query-gpu.csv")]),
       nvidia_na=st.sampled_from([None, NO_NVIDIA, "nvidia-smi failed: x"]))
def test_fuzz_amd_sections(static: str, metric: str, rocm: str, nvidia: str,
                           nvidia_na: str | None) -> None:
    for text in (linux(nvidia, nvidia_na=nvidia_na, static=static, metric=metric),
                 linux(nvidia, nvidia_na=nvidia_na, rocm=rocm),
                 linux(nvidia, nvidia_na=nvidia_na, rocm=static)):
        try:
            PROBE.parse(OS.LINUX, {"query_gpu": text})
        except ProbeError:
            pass
