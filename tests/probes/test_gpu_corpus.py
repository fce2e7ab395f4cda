"""gpu: every recorded ``nvidia-smi --query-gpu`` csv capture and ``rocm-smi --json`` parses."""

from __future__ import annotations

import json

import pytest

from onion.probes.base import OS, ParseError
from onion.probes.gpu import AMD_METRIC_MARK, NVIDIA_UNAVAILABLE, PROBE, ROCM_MARK
from tests.conftest import corpus_params

# Recorded nvidia-smi outputs of other commands: not what the fragment runs.
NOT_HANDLED = {
    "nvidia-smi.out": "default table for people, not --query-gpu",
    "nvidia-smi-idle.out": "default table for people, not --query-gpu",
    "nvidia-smi-q.out": "nvidia-smi -q text report, not --query-gpu",
    "nvidia-smi-dmon.out": "dmon samples over time, not --query-gpu",
    "nvidia-smi-query-compute-apps-csv.out": "per-process table: a separate probe's job",
}


@pytest.mark.parametrize("path", corpus_params("*/nvidia-smi-query-gpu-csv*.out"))
def test_query_gpu_parses(path) -> None:
    gpus = PROBE.parse(OS.LINUX, {"query_gpu": path.read_text()})
    assert len(gpus) == 1
    gpu = gpus[0]
    assert gpu.uuid.startswith("GPU-")
    assert gpu.temperature_celsius is not None and 20 < gpu.temperature_celsius < 100
    if gpu.memory_total_bytes is not None:
        assert 0 <= gpu.memory_used_bytes <= gpu.memory_total_bytes
        assert gpu.memory_total_bytes % (1024 * 1024) == 0


MIG = "ubuntu-22.04-nvidia-h100-mig/nvidia-smi-query-gpu-csv.out"


@pytest.mark.parametrize("path", corpus_params(MIG))
def test_mig_gpu_has_no_gpu_wide_utilisation(path) -> None:
    (gpu,) = PROBE.parse(OS.LINUX, {"query_gpu": path.read_text()})
    assert gpu.mig_enabled is True
    assert gpu.utilization_pct is None and gpu.memory_utilization_pct is None
    assert gpu.memory_used_bytes == 11125 * 1024 * 1024


@pytest.mark.parametrize("name", sorted(NOT_HANDLED))
def test_other_nvidia_smi_outputs_are_refused(corpus, name) -> None:
    files = sorted(corpus.glob(f"*/{name}"))
    assert files, f"no corpus file {name}"
    for path in files:
        with pytest.raises(ParseError):
            PROBE.parse(OS.LINUX, {"query_gpu": path.read_text()})


# -- AMD: rocm-smi --json from ROCm 4.3 to 6.1 (telegraf's captures, values all strings) ----


def amd_host(mark: str, text: str):
    """The Linux part as an AMD host prints it: no nvidia-smi, then the ROCm tool's output."""
    return PROBE.parse(OS.LINUX, {"query_gpu": f"{NVIDIA_UNAVAILABLE}nvidia-smi not found\n"
                                               f"{mark}\n{text}"})


@pytest.mark.parametrize("path", corpus_params("linux-amd-rocm/rocm-smi-json__*.out"))
def test_rocm_smi_json_parses(path) -> None:
    cards = [k for k in json.loads(path.read_text()) if k.startswith("card")]
    gpus = amd_host(ROCM_MARK, path.read_text())
    assert not gpus.skipped
    assert [f"card{g.index}" for g in gpus] == cards  # a record for each card
    assert len({g.uuid for g in gpus}) == len(gpus)
    for gpu in gpus:
        assert gpu.uuid.startswith(("AMD-", "PCI-")) and gpu.pci_bus_id
        assert gpu.uuid == f"PCI-{gpu.pci_bus_id}" or len(gpu.uuid) == len("AMD-") + 16
        assert 20 < gpu.temperature_celsius < 100
        assert 0 <= gpu.utilization_pct <= 100
        assert 0 < gpu.memory_used_bytes <= gpu.memory_total_bytes
        assert 0 < gpu.power_draw_watts <= gpu.power_limit_watts <= 1000
        assert gpu.driver_version and gpu.mig_enabled is None


MI100 = "linux-amd-rocm/rocm-smi-json__mi100_rocm602.out"


@pytest.mark.parametrize("path", corpus_params(MI100))
def test_rocm_smi_unique_ids_and_values(path) -> None:
    gpus = amd_host(ROCM_MARK, path.read_text())
    first = gpus[0]
    # "0x4edfb117a17a07d" (card1) is zero-padded to 16 digits, as amd-smi prints it.
    assert [g.uuid for g in gpus][:2] == ["AMD-79ccd55167a2124a", "AMD-04edfb117a17a07d"]
    assert (first.name, first.pci_bus_id) == ("Arcturus GL-XL [Instinct MI100]", "0000:83:00.0")
    assert (first.temperature_celsius, first.memory_temperature_celsius) == (53.0, 53.0)
    assert (first.memory_used_bytes, first.memory_total_bytes) == (6750208, 34342961152)
    assert (first.power_draw_watts, first.power_limit_watts) == (36.0, 290.0)


# Recorded ROCm outputs the gpu probe does not run.
AMD_NOT_HANDLED = {
    "linux-amd-rx7900xt/rocm-smi-showproductname-showuse-showmeminfo-vram-json.out":
        "rocm-smi --json without --showbus/--showuniqueid: no id for the card",
    "linux-amd-rx7900xt/rocm-smi-showproductname-showuse-showmeminfo-vram-csv.out":
        "rocm-smi --csv, not --json",
    "linux-rocm-3.3/rocm-smi.out": "rocm-smi's table for people",
    "linux-amd-rocm7.2-r9700x2/amd-smi.out": "amd-smi's table for people, not --json",
}


@pytest.mark.parametrize("name", sorted(AMD_NOT_HANDLED))
def test_other_rocm_outputs_are_refused(corpus, name) -> None:
    text = (corpus / name).read_text()
    for mark in (ROCM_MARK, AMD_METRIC_MARK):
        with pytest.raises(ParseError):
            amd_host(mark, text)
