"""GPUs, one row per GPU: NVIDIA from ``nvidia-smi --query-gpu`` (Linux and FreeBSD), AMD
from ``amd-smi`` (ROCm 6+) or else ``rocm-smi --json`` (Linux). A host with both lists both.

NVIDIA: the fragment always asks for a header (``--format=csv,nounits``) so the parser maps
columns by name, not position; it also reads ``--format=csv`` (units in the values) and
header-less output in our own field order::

    index, uuid, name, ..., memory.used [MiB], ..., power.draw [W], ...   (csv,nounits)
    0, GPU-5f0c…, NVIDIA H100 80GB HBM3, ..., 19818, ..., 631.95, ...
    0, GPU-5f0c…, NVIDIA H100 80GB HBM3, ..., 19818 MiB, ..., 631.95 W, ... (csv)

``[N/A]``, ``N/A``, ``[Not Supported]``, ``[Unknown Error]`` and every other bracketed
placeholder become NULL. With MIG enabled the GPU-wide utilisation reads ``[N/A]``.
Per-process GPU memory is the ``gpu_processes`` probe's table.

AMD: on Linux the same part goes on, after nvidia-smi, with ``amd-smi static`` and
``amd-smi metric`` (``--json``: a list of GPUs, ``{"gpu_data": [...]}`` since amd-smi 25,
one bare object for one GPU on ROCm 6.0; values are numbers, ``{"value": 30, "unit": "W"}``
or ``"N/A"``), else one ``rocm-smi ... --json`` (``{"card0": {"GPU use (%)": "0", ...},
"system": {...}}``, every value a string), each after a marker line::

    index, uuid, name, ...                     (nvidia-smi's csv, or nothing)
    --- nvidia-smi unavailable: nvidia-smi not found
    --- amd-smi static --json
    [{"gpu": 0, "asic": {...}, "bus": {"bdf": "0000:c1:00.0"}, ...}]
    --- amd-smi metric --json
    [{"gpu": 0, "usage": {"gfx_activity": {"value": 87, "unit": "%"}}, ...}]

Both ROCm tools read the same kernel sensors; what each column takes:

- ``index``: amd-smi's ``gpu`` / rocm-smi's ``cardN``: the vendor's own numbering, so an
  NVIDIA and an AMD GPU may share an index; ``uuid`` tells them apart.
- ``uuid``: ``AMD-<unique id>`` (the 64-bit ``unique_id`` of the card, as 16 hex digits:
  rocm-smi prints it as ``Unique ID``, amd-smi as ``asic_serial``, so both tools give the
  same id), else ``PCI-<bus id>`` (``PCI-0000:03:00.0``) where the card has none (most
  Radeon cards, some ROCm releases) or shares it with another listed device (the
  partitions of one MI300). Never a ``GPU-`` id, so no clash with NVIDIA's.
- ``temperature_celsius``: the *edge* sensor (what older Radeons have as their only one,
  and what reads like NVIDIA's ``temperature.gpu``); the *junction* (hotspot) sensor only
  where there is no edge sensor (MI200/MI300 report none). ``memory_temperature_celsius``:
  the memory (HBM) sensor.
- ``memory_utilization_pct``: memory-controller activity (rocm-smi ``GPU memory use (%)``
  or ``GPU Memory Read/Write Activity (%)``, amd-smi ``umc_activity``), as NVIDIA's
  ``utilization.memory``; not ``GPU Memory Allocated (VRAM%)``, which is a fill level.
- memory: rocm-smi gives bytes; amd-smi gives ``MB`` that are MiB rounded down (it divides
  by 1024*1024), stored as such.
- ``power_draw_watts``: average (or current) socket power; ``power_limit_watts``: the
  power cap (rocm-smi ``Max Graphics Package Power (W)``, amd-smi ``limit.socket_power``).

``N/A``, ``unknown``, empty values and missing keys become NULL; a value with a unit we do
not know, or out of its column's range, costs that GPU (the probe is then ``partial``),
never the other GPUs of the host.
"""

from __future__ import annotations

import csv
import json
import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    ProbeError,
    Table,
    Unavailable,
    check_values,
    col,
    columns_of,
    only_part,
    partial,
    to_float,
    to_int,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Gpu:
    index: int = col("USMALLINT", key=True,
                     doc="the vendor tool's GPU index (nvidia-smi, amd-smi or rocm-smi)")
    uuid: str = col("VARCHAR", key=True,
                    doc="NVIDIA GPU-…; AMD AMD-<unique id> or PCI-<bus id>")
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
NVIDIA_FAILURES = ("NVIDIA-SMI has failed", "No devices were found", "Failed to initialize NVML",
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


def csv_values(cells: Sequence[str], header: Sequence[tuple[str, str]],
               fields: Mapping[str, tuple[str, str]], line: str) -> dict[str, Any]:
    """One nvidia-smi csv row as record fields: each known column (query name -> field,
    kind) converted by :func:`csv_value`; a row of another width is ParseError."""
    if len(cells) != len(header):
        raise ParseError(f"expected {len(header)} columns, got {len(cells)}", line)
    values: dict[str, Any] = {}
    for (query, unit), cell in zip(header, cells, strict=True):
        if query in fields:
            field, kind = fields[query]
            values[field] = csv_value(cell, unit, kind, query, line)
    return values


def csv_value(raw: str, unit: str, kind: str, what: str, line: str) -> object:
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


def csv_header(line: str) -> list[tuple[str, str]]:
    """``memory.used [MiB]`` -> (``memory.used``, ``MiB``)."""
    out = []
    for cell in next(csv.reader([line], skipinitialspace=True)):
        name, _, unit = cell.strip().partition(" [")
        out.append((name, unit.rstrip("]") if unit else ""))
    return out


def parse_nvidia_smi(parts: Mapping[str, str]) -> Table:
    text = only_part(parts, "query_gpu")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if any(msg in ln for msg in NVIDIA_FAILURES):
            raise Unavailable(ln.strip())
    if not lines:
        return partial(Gpu, [], [])  # nvidia-smi ran and listed no GPU
    if lines[0].startswith(("index", "name", "uuid", "timestamp")):
        header, rows = csv_header(lines[0]), lines[1:]
    else:
        header, rows = [(f, "") for f in _FIELDS], lines
    names = [n for n, _ in header]
    if "uuid" not in names:
        raise ParseError("nvidia-smi output has no uuid column", lines[0])
    gpus, skipped = [], []
    for ordinal, line in enumerate(rows):
        cells = next(csv.reader([line], skipinitialspace=True))
        try:
            values: dict[str, object] = csv_values(cells, header, _FIELDS, line)
            # nvidia-smi lists GPUs in index order; a capture without the index column
            # (not our query) gets its position.
            values.setdefault("index", ordinal)
            if values["index"] is None or values.get("uuid") is None:
                raise ParseError("GPU without index or uuid", line)
        except ParseError:
            skipped.append(line)  # a row cut short or a value not understood: that GPU
            continue
        gpus.append(Gpu(**values))  # type: ignore[arg-type]
    return partial(Gpu, gpus, skipped)


def _nvidia_rows(sections: Mapping[str, str]) -> tuple[list[Gpu], list[str]]:
    table = parse_nvidia_smi({"query_gpu": sections[""]})
    return list(table), table.skipped


# -- AMD: amd-smi (ROCm 6+), else rocm-smi ----------------------------------------------

# On Linux the one part runs nvidia-smi as above, then the ROCm tool, each vendor's output
# after a marker line. It stays one part, named as before: an NVIDIA-only host prints
# exactly what it printed before (and recorded outputs still replay); a host without
# either tool is unavailable with nvidia-smi's reason. The ROCm output is used whatever
# the exit status (old rocm-smi exits 1 when one sensor of many fails); amd-smi refuses
# flags its release or platform (a VM) lacks, and is then asked for everything.
NVIDIA_UNAVAILABLE = "--- nvidia-smi unavailable: "
AMD_STATIC_MARK = "--- amd-smi static --json"
AMD_METRIC_MARK = "--- amd-smi metric --json"
ROCM_MARK = "--- rocm-smi --json"
AMD_SMI_STATIC = ("s=$(amd-smi static --asic --bus --vram --driver --limit --json 2>/dev/null)\n"
                  '[ -n "$s" ] || s=$(amd-smi static --json 2>/dev/null)\n')
_AMD_SMI_METRIC = ("m=$(amd-smi metric --usage --power --temperature --fan --mem-usage --json "
                   "2>/dev/null)\n"
                   '[ -n "$m" ] || m=$(amd-smi metric --json 2>/dev/null)\n')
ROCM_SMI_FLAGS = ("--showid --showuniqueid --showbus --showproductname --showuse --showmemuse "
                  "--showmeminfo vram --showtemp --showpower --showmaxpower --showfan "
                  "--showdriverversion")


def nvidia_then_amd(nvidia: str, amd: str) -> str:
    """A fragment: ``nvidia`` (which may call _na) in a subshell whose _na prints a marker
    line instead, then ``amd`` (which sets $amd; none on FreeBSD), then both outputs; _na
    only when neither vendor's tool gave anything."""
    either = "; no amd-smi or rocm-smi either" if amd else ""
    return f"""\
_nv() (
_na() {{ printf '%s%s\\n' '{NVIDIA_UNAVAILABLE}' "$*"; exit 0; }}
{nvidia})
nv=$(_nv)
amd=
{amd}case $nv in '{NVIDIA_UNAVAILABLE}'*)
  [ -n "$amd" ] || _na "${{nv#'{NVIDIA_UNAVAILABLE}'}}{either}";;
esac
printf '%s\\n' "$nv"
[ -z "$amd" ] || printf '%s\\n' "$amd"
"""


# rocm-smi is deprecated once amd-smi is there (ROCm 6+): only one of them is read.
_AMD = (
    "if command -v amd-smi >/dev/null 2>&1; then\n"
    + textwrap.indent(AMD_SMI_STATIC + _AMD_SMI_METRIC, "  ")
    + f"  amd=$(printf '%s\\n' '{AMD_STATIC_MARK}' \"$s\" '{AMD_METRIC_MARK}' \"$m\")\n"
    "elif command -v rocm-smi >/dev/null 2>&1; then\n"
    f"  amd=$(printf '%s\\n' '{ROCM_MARK}'; rocm-smi {ROCM_SMI_FLAGS} --json 2>/dev/null)\n"
    "fi\n")
LINUX_SH = nvidia_then_amd(SH, _AMD)


def split_sections(text: str, marks: tuple[str, ...]) -> dict[str, str]:
    """The text before the first marker line (key ""), and after each marker line; the
    reason of a ``--- nvidia-smi unavailable: …`` line under that key."""
    out: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        if line.startswith(NVIDIA_UNAVAILABLE):
            current = NVIDIA_UNAVAILABLE
            out[current] = [line[len(NVIDIA_UNAVAILABLE):]]
        elif line.rstrip() in marks:
            current = line.rstrip()
            out[current] = []
        else:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def nvidia_failure(sections: Mapping[str, str]) -> str | None:
    """Why nvidia-smi gave nothing, where that is worth a note beside another vendor's
    rows: not for a host without it, nor for one without an NVIDIA GPU (CUDA tools on an
    AMD host print "No devices were found")."""
    reason = sections.get(NVIDIA_UNAVAILABLE, "").strip()
    if not reason or reason == "nvidia-smi not found" or "No devices were found" in reason:
        return None
    return reason  # "nvidia-smi failed: …"


_NA_TEXT = {"", "n/a", "na", "none", "unknown", "unsupported", "not supported"}
_HEX_ID = re.compile(r"0x[0-9a-fA-F]+")
_NUMBER = re.compile(r"\(?\s*([-+]?\d{1,30}(?:\.\d{1,30})?)\s*([A-Za-z%°/]*)\s*\)?")
_BYTES = {"B": 1, "KB": 1 << 10, "KiB": 1 << 10, "MB": 1 << 20, "MiB": 1 << 20,
          "GB": 1 << 30, "GiB": 1 << 30}
_PCT = {"%": 1}
_CELSIUS = {"C": 1, "°C": 1}
_WATTS = {"W": 1}
_MHZ = {"MHz": 1, "Mhz": 1}
_MAX_U64 = (1 << 64) - 1


def _reject_constant(name: str) -> None:
    raise ParseError(f"not a finite number in JSON: {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def json_doc(text: str, tool: str) -> Any:
    """The JSON document a ROCm tool printed, after any lines before it (amd-smi prints
    "WARNING: User is missing the following required groups" to stdout first)."""
    lines = text.splitlines(keepends=True)
    start = 0
    for line in lines:
        if line.lstrip().startswith(("{", "[")):
            start += len(line) - len(line.lstrip())
            break
        start += len(line)
    else:
        first = next((ln.strip() for ln in lines if ln.strip()), "")
        raise ParseError(f"{tool} printed no JSON", first or None)
    try:
        doc, _ = _DECODER.raw_decode(text, start)
    except RecursionError:
        raise ParseError(f"{tool} JSON nested too deep") from None
    except ValueError as exc:  # JSONDecodeError
        raise ParseError(f"{tool} printed broken JSON: {exc}") from None
    return doc


def amd_smi_entries(text: str, tool: str) -> dict[int, Mapping[str, Any]]:
    """amd-smi's per-GPU objects by GPU index, whichever shape its release prints."""
    doc = json_doc(text, tool)
    if isinstance(doc, dict) and "gpu_data" in doc:
        doc = doc["gpu_data"]
    elif isinstance(doc, dict) and "gpu" in doc:  # ROCm 6.0: one GPU, no list around it
        doc = [doc]
    if isinstance(doc, dict) and "error" in doc:
        raise Unavailable(f"{tool}: {doc['error']}")
    if not isinstance(doc, list):
        raise ParseError(f"{tool}: expected a list of GPUs, got {type(doc).__name__}")
    out: dict[int, Mapping[str, Any]] = {}
    for entry in doc:
        if not isinstance(entry, dict):
            raise ParseError(f"{tool}: a GPU entry is {type(entry).__name__}, not an object")
        index = entry.get("gpu")
        if type(index) is not int or not 0 <= index <= 0xFFFF:
            raise ParseError(f"{tool}: GPU entry without a valid gpu index: {index!r}")
        if index in out:
            raise ParseError(f"{tool}: GPU {index} listed twice")
        out[index] = entry
    return out


def dig(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]…``, or None where a step is missing or not an object."""
    for step in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(step)
    return obj


def amd_text(raw: Any) -> str | None:
    """A text value, or None for ROCm's placeholders (``N/A``, ``unknown``)."""
    if isinstance(raw, dict) and "value" in raw:
        raw = raw["value"]
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    return None if text.lower() in _NA_TEXT or text.lower().startswith("n/a") else text


def amd_number(raw: Any, what: str, units: Mapping[str, int], default: str) -> float | None:
    """A number in ``units[default]`` from ``30``, ``"30.0"``, ``"30.0 W"``, ``"(300Mhz)"``
    or ``{"value": 30, "unit": "W"}``; None for a placeholder; ParseError for anything
    else (an unknown unit is not guessed at)."""
    unit = default
    if isinstance(raw, dict):
        if "value" not in raw:
            raise ParseError(f"{what}: an object without a value: {raw!r}"[:200])
        unit = str(raw.get("unit") or default).strip()
        raw = raw["value"]
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ParseError(f"{what}: {raw!r} is not a number")
    if isinstance(raw, int | float):
        if isinstance(raw, int) and abs(raw) > _MAX_U64:  # JSON ints have no bound
            raise ParseError(f"{what}: {raw} is out of any range")
        number = raw
    else:
        text = str(raw).strip()
        if text.lower() in _NA_TEXT or text.lower().startswith("n/a"):
            return None
        m = _NUMBER.fullmatch(text)
        if m is None:
            raise ParseError(f"not a number for {what}", text)
        number = float(m[1]) if "." in m[1] else int(m[1])
        unit = m[2] or unit
    if unit not in units:
        raise ParseError(f"{what}: unit {unit!r} is not one of {sorted(units)}")
    if isinstance(number, float) and not math.isfinite(number):
        raise ParseError(f"{what}: {number!r} is not a finite number")
    return number * units[unit]


def amd_bytes(raw: Any, what: str, default: str) -> int | None:
    number = amd_number(raw, what, _BYTES, default)
    if number is None:
        return None
    if not 0 <= number <= _MAX_U64:
        raise ParseError(f"{what}: {number!r} bytes is not a memory size")
    return round(number)


def _amd_float(raw: Any, what: str, units: Mapping[str, int], default: str) -> float | None:
    number = amd_number(raw, what, units, default)
    return None if number is None else float(number)


def _unique_id(raw: Any) -> str | None:
    """The card's 64-bit unique id as 16 hex digits (rocm-smi ``0x4edfb117a17a07d``,
    amd-smi ``0x04EDFB117A17A07D``); None where there is none."""
    text = amd_text(raw)
    if text is None:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None  # not an id a tool prints: no id rather than a made-up one
    return f"{value:016x}" if 0 < value <= _MAX_U64 else None


def _bus_id(raw: Any) -> str | None:
    text = amd_text(raw)
    return text.lower() if text else None


def amd_ids(cards: Mapping[int, tuple[Any, Any]]) -> dict[int, str]:
    """GPU index -> ``uuid`` column, from (unique id, PCI bus id) as the tool printed them.
    A unique id that several listed devices share (partitions of one GPU) is no id."""
    uids = {i: _unique_id(u) for i, (u, _) in cards.items()}
    seen: dict[str, int] = {}
    for uid in uids.values():
        if uid:
            seen[uid] = seen.get(uid, 0) + 1
    out = {}
    for i, (_, bus) in cards.items():
        uid, pci = uids[i], _bus_id(bus)
        if uid and seen[uid] == 1:
            out[i] = f"AMD-{uid}"
        elif pci:
            out[i] = f"PCI-{pci}"
    return out


def amd_name(*candidates: Any) -> str | None:
    """The first of these that is a name, not a placeholder or a hex PCI id."""
    for raw in candidates:
        text = amd_text(raw)
        if text and not _HEX_ID.fullmatch(text):  # ROCm 4.3 prints "0x1002" for a name
            return text
    return None


_GPU_COLUMNS = columns_of(Gpu)


def _checked(gpu: Gpu) -> Gpu:
    """A GPU whose values all fit their columns, else ParseError (that GPU's loss)."""
    for column in _GPU_COLUMNS:
        check_values(column, [getattr(gpu, column.name)])
    return gpu


def _rocm_card(index: int, uuid: str, card: Mapping[str, Any], driver: str | None) -> Gpu:
    what = f"card{index}"

    def pct(*keys: str) -> float | None:
        return next((v for k in keys if (v := _amd_float(card.get(k), f"{what} {k}", _PCT,
                                                          "%")) is not None), None)

    def temp(key: str) -> float | None:
        return _amd_float(card.get(key), f"{what} {key}", _CELSIUS, "C")

    def watts(*keys: str) -> float | None:
        return next((v for k in keys if (v := _amd_float(card.get(k), f"{what} {k}", _WATTS,
                                                          "W")) is not None), None)

    sclk = amd_number(card.get("sclk clock speed:"), f"{what} sclk", _MHZ, "MHz")
    edge = temp("Temperature (Sensor edge) (C)")
    return _checked(Gpu(
        index=index, uuid=uuid,
        name=amd_name(card.get("Device Name"), card.get("Card Series"), card.get("Card series")),
        pci_bus_id=_bus_id(card.get("PCI Bus")),
        driver_version=driver,
        utilization_pct=pct("GPU use (%)"),
        memory_utilization_pct=pct("GPU memory use (%)", "GPU Memory Read/Write Activity (%)"),
        memory_used_bytes=amd_bytes(card.get("VRAM Total Used Memory (B)"),
                                     f"{what} VRAM used", "B"),
        memory_total_bytes=amd_bytes(card.get("VRAM Total Memory (B)"),
                                      f"{what} VRAM total", "B"),
        temperature_celsius=edge if edge is not None else temp(
            "Temperature (Sensor junction) (C)"),
        memory_temperature_celsius=temp("Temperature (Sensor memory) (C)"),
        power_draw_watts=watts("Average Graphics Package Power (W)",
                               "Current Socket Graphics Package Power (W)"),
        power_limit_watts=watts("Max Graphics Package Power (W)"),
        fan_speed_pct=pct("Fan speed (%)"),
        sm_clock_mhz=None if sclk is None else round(sclk),
    ))


_CARD = re.compile(r"card(\d{1,5})")


def parse_rocm_smi(text: str) -> tuple[list[Gpu], list[str]]:
    """GPUs of one ``rocm-smi --json``, and what could not be read (one line per card)."""
    doc = json_doc(text, "rocm-smi")
    if not isinstance(doc, dict):
        raise ParseError(f"rocm-smi: expected an object of cards, got {type(doc).__name__}")
    cards: dict[int, Mapping[str, Any]] = {}
    for key, card in doc.items():
        m = _CARD.fullmatch(key)
        if m and isinstance(card, dict) and int(m[1]) <= 0xFFFF:
            cards[int(m[1])] = card
    driver = amd_text(dig(doc, "system", "Driver version"))
    ids = amd_ids({i: (c.get("Unique ID"), c.get("PCI Bus")) for i, c in cards.items()})
    gpus, skipped = [], []
    for index, card in sorted(cards.items()):
        if index not in ids:
            skipped.append(f"rocm-smi card{index}: neither a Unique ID nor a PCI Bus")
            continue
        try:
            gpus.append(_rocm_card(index, ids[index], card, driver))
        except ParseError as exc:
            skipped.append(f"rocm-smi card{index}: {exc}")
    return gpus, skipped


def _amd_smi_gpu(index: int, uuid: str, static: Mapping[str, Any],
                 metric: Mapping[str, Any]) -> Gpu:
    what = f"amd-smi gpu {index}"

    def first(*paths: tuple[str, ...]) -> Any:
        for path in paths:
            value = dig(metric, *path)
            if amd_text(value) is not None:
                return value
        return None

    def pct(*paths: tuple[str, ...]) -> float | None:
        return _amd_float(first(*paths), f"{what} {paths[0][-1]}", _PCT, "%")

    def temp(key: str) -> float | None:
        return _amd_float(dig(metric, "temperature", key), f"{what} {key}", _CELSIUS, "C")

    edge = temp("edge")
    return _checked(Gpu(
        index=index, uuid=uuid,
        name=amd_name(dig(static, "asic", "market_name")),
        pci_bus_id=_bus_id(dig(static, "bus", "bdf")),
        driver_version=amd_text(dig(static, "driver", "version")),
        # ROCm 6.0 names them gfx_usage / mem_usage / current_power.
        utilization_pct=pct(("usage", "gfx_activity"), ("usage", "gfx_usage")),
        memory_utilization_pct=pct(("usage", "umc_activity"), ("usage", "mem_usage")),
        memory_used_bytes=amd_bytes(dig(metric, "mem_usage", "used_vram"),
                                     f"{what} used_vram", "MB"),
        memory_total_bytes=amd_bytes(dig(metric, "mem_usage", "total_vram"),
                                      f"{what} total_vram", "MB"),
        temperature_celsius=edge if edge is not None else temp("hotspot"),
        memory_temperature_celsius=temp("mem"),
        power_draw_watts=_amd_float(first(("power", "socket_power"), ("power", "current_power")),
                                    f"{what} socket_power", _WATTS, "W"),
        power_limit_watts=_amd_float(dig(static, "limit", "socket_power"),
                                     f"{what} power cap", _WATTS, "W"),
        fan_speed_pct=pct(("fan", "usage"),),
    ))


def parse_amd_smi(static_text: str, metric_text: str) -> tuple[list[Gpu], list[str]]:
    """GPUs of ``amd-smi static`` and ``amd-smi metric``, and what could not be read."""
    static = amd_smi_entries(static_text, "amd-smi static") if static_text.strip() else {}
    metric = amd_smi_entries(metric_text, "amd-smi metric") if metric_text.strip() else {}
    ids = amd_ids({i: (dig(s, "asic", "asic_serial"), dig(s, "bus", "bdf"))
                   for i, s in static.items()})
    gpus, skipped = [], []
    for index in sorted(static.keys() | metric.keys()):
        if index not in ids:
            skipped.append(f"amd-smi gpu {index}: no asic_serial or bus bdf in amd-smi static")
            continue
        try:
            gpus.append(_amd_smi_gpu(index, ids[index], static.get(index, {}),
                                     metric.get(index, {})))
        except ParseError as exc:
            skipped.append(f"amd-smi gpu {index}: {exc}")
    return gpus, skipped


_MARKS = (AMD_STATIC_MARK, AMD_METRIC_MARK, ROCM_MARK)


def parse_amd(sections: Mapping[str, str]) -> tuple[list[Gpu], list[str]]:
    """AMD GPUs from whichever ROCm tool ran (amd-smi first)."""
    if AMD_STATIC_MARK in sections or AMD_METRIC_MARK in sections:
        static, metric = sections.get(AMD_STATIC_MARK, ""), sections.get(AMD_METRIC_MARK, "")
        if not static.strip() and not metric.strip():
            raise Unavailable("amd-smi printed nothing")
        return parse_amd_smi(static, metric)
    if ROCM_MARK in sections:
        if not sections[ROCM_MARK].strip():
            raise Unavailable("rocm-smi printed nothing")
        return parse_rocm_smi(sections[ROCM_MARK])
    return [], []


def both_vendors(sections: Mapping[str, str],
                 nvidia: Callable[[Mapping[str, str]], tuple[list[Any], list[str]]],
                 amd: Callable[[Mapping[str, str]], tuple[list[Any], list[str]]],
                 amd_marks: Sequence[str], empty_nvidia_is_none: bool = False
                 ) -> tuple[list[Any], list[str]]:
    """Each vendor's rows and the lines left out (``nvidia``, ``amd``: sections -> both),
    for the gpu and gpu_processes probes. One vendor's failure costs its own rows only:
    the other's are kept, with the failure as a line left out (the probe is ``partial``);
    both failing is the probe's failure."""
    rows: list[Any] = []
    failures: list[ProbeError] = []
    skipped: list[str] = []
    succeeded = False  # a vendor's tool gave an answer (maybe no GPU, maybe bad cards)
    if NVIDIA_UNAVAILABLE in sections:
        failures.append(Unavailable(sections[NVIDIA_UNAVAILABLE].strip() or "no nvidia-smi"))
        if (note := nvidia_failure(sections)) is not None:
            skipped.append(note)
    elif sections.get("", "").strip() or not empty_nvidia_is_none:
        try:
            got, left = nvidia(sections)
            rows += got
            skipped += left
            succeeded = True
        except ProbeError as exc:
            failures.append(exc)
            if "No devices were found" not in str(exc):  # CUDA tools on an AMD host
                skipped.append(f"nvidia-smi: {exc}")
    if any(m in sections for m in amd_marks):
        try:
            got, left = amd(sections)
            rows += got
            skipped += left
            succeeded = True
        except ProbeError as exc:
            failures.append(exc)
            skipped.append(str(exc))
    if not succeeded:
        raise failures[-1] if failures else Unavailable("no GPU tool answered")
    return rows, skipped


def parse_linux(parts: Mapping[str, str]) -> Sequence[Gpu]:
    """NVIDIA and AMD GPUs. One vendor's failure costs its own GPUs only: the other's are
    kept and the probe is ``partial``, with the failure as the line left out."""
    sections = split_sections(only_part(parts, "query_gpu"), _MARKS)
    if len(sections) == 1:
        return parse_nvidia_smi(parts)  # no ROCm tool: exactly the NVIDIA-only behaviour
    gpus, skipped = both_vendors(sections, _nvidia_rows, parse_amd, _MARKS,
                                 empty_nvidia_is_none=True)
    table = Table.of(Gpu, gpus)
    table.skipped = skipped
    return table


_NVIDIA = Part("query_gpu", sh=SH, guard=True)

PROBE = Probe(
    name="gpu",
    record=Gpu,
    description="GPU utilisation, memory, temperature and power (nvidia-smi, amd-smi, "
                "rocm-smi)",
    parts={OS.LINUX: (Part("query_gpu", sh=LINUX_SH, guard=True),),
           OS.FREEBSD: (_NVIDIA,)},
    parsers={OS.LINUX: parse_linux, OS.FREEBSD: parse_nvidia_smi},
    unsupported={
        OS.MACOS: "NVIDIA ships no driver or nvidia-smi for macOS after 10.13, and ROCm "
                  "has no macOS release",
        OS.OPENBSD: "OpenBSD has no NVIDIA driver and no nvidia-smi, and no ROCm",
        OS.NETBSD: "NetBSD has no NVIDIA driver and no nvidia-smi, and no ROCm",
    },
)
