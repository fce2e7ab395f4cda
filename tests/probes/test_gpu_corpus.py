"""gpu: every recorded ``nvidia-smi --query-gpu`` csv capture parses (units or not)."""

from __future__ import annotations

import pytest

from onion.probes.base import OS, ParseError
from onion.probes.gpu import PROBE
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
