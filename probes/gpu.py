"""NVIDIA GPUs, one row per GPU, from ``nvidia-smi --query-gpu`` (Linux and FreeBSD).

The fragment always asks for a header (``--format=csv,nounits``) so the parser maps
columns by name, not position; it also reads ``--format=csv`` (units in the values) and
header-less output in our own field order::

    index, uuid, name, ..., memory.used [MiB], ..., power.draw [W], ...   (csv,nounits)
    0, GPU-5f0c…, NVIDIA H100 80GB HBM3, ..., 19818, ..., 631.95, ...
    0, GPU-5f0c…, NVIDIA H100 80GB HBM3, ..., 19818 MiB, ..., 631.95 W, ... (csv)

``[N/A]``, ``N/A``, ``[Not Supported]``, ``[Unknown Error]`` and every other bracketed
placeholder become NULL. With MIG enabled the GPU-wide utilisation reads ``[N/A]``.
Per-process GPU memory (``--query-compute-apps``) would be a second table; a probe fills
one table, so it is left for a separate ``gpu_processes`` probe.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass

from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    Unavailable,
    col,
    only_part,
    to_float,
    to_int,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gpu:
    index: int = col("USMALLINT", key=True, doc="nvidia-smi GPU index")
    uuid: str = col("VARCHAR", key=True)
    name: str | None = col("VARCHAR", default=None)
    pci_bus_id: str | None = col("VARCHAR", default=None)
    driver_version: str | None = col("VARCHAR", default=None)
    pstate: str | None = col("VARCHAR", default=None,
                               doc="performance state, P0 (max) to P12 (min)")
    mig_enabled: bool | None = col("BOOLEAN", default=None,
                                   doc="MIG mode (current); NULL where unsupported")
    utilization_pct: float | None = col("FLOAT", unit="%", default=None)
    memory_utilization_pct: float | None = col("FLOAT", unit="%", default=None)
    memory_used_bytes: int | None = col("UBIGINT", unit="B", default=None)
    memory_total_bytes: int | None = col("UBIGINT", unit="B", default=None)
    temperature_celsius: float | None = col("FLOAT", unit="°C", default=None)
    memory_temperature_celsius: float | None = col("FLOAT", unit="°C", default=None)
    power_draw_watts: float | None = col("FLOAT", unit="W", default=None)
    power_limit_watts: float | None = col("FLOAT", unit="W", default=None)
    fan_speed_pct: float | None = col("FLOAT", unit="%", default=None)
    sm_clock_mhz: int | None = col("UINTEGER", unit="MHz", default=None)
    ecc_errors_uncorrected: int | None = col(
        "UBIGINT", counter=True, default=None,
        doc="volatile uncorrected ECC errors (since driver load)")


# Query field -> (record field, kind). The order is also the header-less column order.
_FIELDS: dict[str, tuple[str, str]] = {
    "index": ("index", "int"),
    "uuid": ("uuid", "str"),
    "name": ("name", "str"),
    "pci.bus_id": ("pci_bus_id", "str"),
    "driver_version": ("driver_version", "str"),
    "pstate": ("pstate", "str"),
    "mig.mode.current": ("mig_enabled", "mig"),
    "utilization.gpu": ("utilization_pct", "float"),
    "utilization.memory": ("memory_utilization_pct", "float"),
    "memory.used": ("memory_used_bytes", "mib"),
    "memory.total": ("memory_total_bytes", "mib"),
    "temperature.gpu": ("temperature_celsius", "float"),
    "temperature.memory": ("memory_temperature_celsius", "float"),
    "power.draw": ("power_draw_watts", "float"),
    "power.limit": ("power_limit_watts", "float"),
    "fan.speed": ("fan_speed_pct", "float"),
    "clocks.current.sm": ("sm_clock_mhz", "int"),
    "ecc.errors.uncorrected.volatile.total": ("ecc_errors_uncorrected", "int"),
}
# Fields every driver since the R3xx days knows; asked again if the full query is refused
# ("not a valid field") by an old driver that lacks mig.mode or temperature.memory.
_BASIC = ("index", "uuid", "name", "pci.bus_id", "driver_version", "pstate", "utilization.gpu",
          "utilization.memory", "memory.used", "memory.total", "temperature.gpu", "power.draw",
          "power.limit", "fan.speed", "clocks.current.sm")

_MIB = 1024 * 1024
# Messages nvidia-smi prints instead of a table when it cannot talk to the driver.
_FAILURES = ("NVIDIA-SMI has failed", "No devices were found", "Failed to initialize NVML",
             "Unable to determine the device handle", "couldn't communicate with the NVIDIA driver")


def _query(fields: tuple[str, ...] | list[str]) -> str:
    return f"nvidia-smi --query-gpu={','.join(fields)} --format=csv,nounits 2>&1"


# exit 9 / "NVIDIA-SMI has failed ..." (no driver loaded) and exit 6 ("No devices were
# found") become _na with nvidia-smi's own first line, so the reason reaches the user.
SH = f"""\
command -v nvidia-smi >/dev/null 2>&1 || _na "nvidia-smi not found"
if out=$({_query(list(_FIELDS))}); then printf '%s\\n' "$out"; exit 0; fi
case $out in *"not a valid field"*)
    if out=$({_query(_BASIC)}); then printf '%s\\n' "$out"; exit 0; fi;;
esac
_na "nvidia-smi failed: $(printf '%s\\n' "$out" | sed -n '/./{{p;q;}}')"
"""


def _value(raw: str, unit: str, kind: str, what: str, line: str) -> object:
    text = raw.strip()
    if unit and text.endswith(" " + unit):  # --format=csv repeats the unit in each value
        text = text[: -len(unit) - 1].rstrip()
    if not text or text == "N/A" or (text.startswith("[") and text.endswith("]")):
        return None
    if kind == "str":
        return text
    if kind == "mig":
        if text not in ("Enabled", "Disabled"):
            raise ParseError(f"not sure how to interpret MIG mode {text!r}", line)
        return text == "Enabled"
    if kind == "int":
        return to_int(text, what, line)
    number = to_float(text, what, line)
    if kind == "mib":
        if number < 0:
            raise ParseError(f"negative memory size for {what}", line)
        return round(number * _MIB)
    return number


def _header(line: str) -> list[tuple[str, str]]:
    """``memory.used [MiB]`` -> (``memory.used``, ``MiB``)."""
    out = []
    for cell in next(csv.reader([line], skipinitialspace=True)):
        name, _, unit = cell.strip().partition(" [")
        out.append((name, unit.rstrip("]") if unit else ""))
    return out


def parse_nvidia_smi(parts: Mapping[str, str]) -> list[Gpu]:
    text = only_part(parts, "query_gpu")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if any(msg in ln for msg in _FAILURES):
            raise Unavailable(ln.strip())
    if not lines:
        return []  # nvidia-smi ran and listed no GPU
    if lines[0].startswith(("index", "name", "uuid", "timestamp")):
        header, rows = _header(lines[0]), lines[1:]
    else:
        header, rows = [(f, "") for f in _FIELDS], lines
    names = [n for n, _ in header]
    if "uuid" not in names:
        raise ParseError("nvidia-smi output has no uuid column", lines[0])
    gpus = []
    for ordinal, line in enumerate(rows):
        cells = next(csv.reader([line], skipinitialspace=True))
        if len(cells) != len(header):
            raise ParseError(f"expected {len(header)} columns, got {len(cells)}", line)
        values: dict[str, object] = {}
        for (query, unit), cell in zip(header, cells, strict=True):
            if query in _FIELDS:
                field, kind = _FIELDS[query]
                values[field] = _value(cell, unit, kind, query, line)
        # nvidia-smi lists GPUs in index order; a capture without the index column
        # (not our query) gets its position.
        values.setdefault("index", ordinal)
        if values["index"] is None or values.get("uuid") is None:
            raise ParseError("GPU without index or uuid", line)
        gpus.append(Gpu(**values))  # type: ignore[arg-type]
    return gpus


_PARTS = (Part("query_gpu", sh=SH, guard=True),)

PROBE = Probe(
    name="gpu",
    record=Gpu,
    description="NVIDIA GPU utilisation, memory, temperature and power (nvidia-smi)",
    parts={OS.LINUX: _PARTS, OS.FREEBSD: _PARTS},
    parsers={OS.LINUX: parse_nvidia_smi, OS.FREEBSD: parse_nvidia_smi},
    unsupported={
        OS.MACOS: "NVIDIA ships no driver or nvidia-smi for macOS after 10.13",
        OS.OPENBSD: "OpenBSD has no NVIDIA driver and no nvidia-smi",
    },
)
