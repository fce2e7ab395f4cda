"""Processes on GPUs, one row per process and GPU: who holds how much GPU memory.

One part per host (as in the ``gpu`` probe): nvidia-smi, on Linux then the ROCm tool, then
``ps`` for the owners of the pids listed, each after a marker line::

    pid, gpu_uuid, gpu_bus_id, gpu_name, used_gpu_memory [MiB], process_name
    21180, GPU-5f0c…, 00000000:00:09.0, NVIDIA H100 80GB HBM3, 2296, /root/tools/memhog
    --- nvidia-smi -q -d PIDS,MEMORY
    GPU 00000000:00:09.0
        FB Memory Usage
            Total                             : 81559 MiB
        Processes
            GPU instance ID                   : 2
            Compute instance ID               : 0
            Process ID                        : 21180
    --- amd-smi static --json
    [{"gpu": 0, "asic": {"asic_serial": "0x5D2F1A7C3B4E9A10", ...}, ...}]
    --- amd-smi process --json
    [{"gpu": 0, "process_list": [{"process_info": {"pid": 48213, ...}}]}]
    --- ps
      PID   UID USER
    21180  1001 alice

NVIDIA (Linux and FreeBSD): ``nvidia-smi --query-compute-apps`` as csv, read by its header
like the ``gpu`` probe's csv (so the wider ``timestamp, gpu_name, …, used_gpu_memory [MiB]``
capture reads too); only where it lists a process, ``nvidia-smi -q -d PIDS,MEMORY`` adds
each GPU's memory size and, with MIG, each process's GPU and compute instance (the csv has
neither), matched by bus id and pid.

AMD (Linux): ``amd-smi process --json`` (per GPU: pid, name, ``vram_mem``) with ``amd-smi
static`` for the GPU ids, else ``rocm-smi --showpids --json``, which gives each process's
VRAM summed over its GPUs (``"PID4711": "python3, 1, 1073741824, 0, 0"``: name, GPU count,
VRAM bytes, SDMA, CU occupancy; the name lower-cased by rocm-smi), and ``rocm-smi
--showpidgpus`` (text: it has no JSON) which GPUs those are. A process on several GPUs
then has a row per GPU with its memory NULL: rocm-smi does not split it.

``uuid`` is the ``gpu`` table's id of that GPU (``GPU-…``, ``AMD-…``, ``PCI-…``), so the
two join on (run_id, host, uuid). The owner (``uid``, ``user``) is read by ``ps`` in the
same fragment, at the same moment: the ``processes`` table has it too, but that probe may
be disabled, keeps only the top processes past its raw window, and a view over two
probes' tables could not be created in a database that lacks one of them (DuckDB binds a
view when it is created, and a failed CREATE VIEW aborts the batch's transaction).

No tool at all: Unavailable; a tool that lists no process: zero rows, ok. nvidia-smi shows
every user's processes; amd-smi and rocm-smi read them from the kernel's per-process
files, so an unprivileged SSH user sees its own only (root or CAP_SYS_PTRACE sees all).
"""

from __future__ import annotations

import csv
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from onion.probes.base import (
    OS,
    ParseError,
    Part,
    Probe,
    Table,
    Unavailable,
    check_values,
    col,
    columns_of,
    only_part,
    to_int,
)
from onion.probes.gpu import (
    AMD_SMI_STATIC,
    AMD_STATIC_MARK,
    NVIDIA_FAILURES,
    ROCM_MARK,
    amd_bytes,
    amd_ids,
    amd_name,
    amd_number,
    amd_smi_entries,
    amd_text,
    both_vendors,
    csv_header,
    csv_values,
    dig,
    json_doc,
    nvidia_then_amd,
    split_sections,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuProcess:
    uuid: str = col("VARCHAR", key=True, doc="the GPU, as gpu.uuid")
    pid: int = col("UINTEGER", key=True)
    gpu_instance_id: int | None = col("UINTEGER", key=True, default=None,
                                      doc="NVIDIA MIG GPU instance; NULL without MIG")
    compute_instance_id: int | None = col("UINTEGER", key=True, default=None,
                                          doc="NVIDIA MIG compute instance; NULL without MIG")
    used_memory_bytes: int | None = col(
        "UBIGINT", unit="B", default=None,
        doc="GPU memory the process holds on this GPU; NULL where the tool does not say")
    process_name: str | None = col("VARCHAR", default=None)
    uid: int | None = col("UINTEGER", default=None, doc="owner (effective uid), from ps")
    user: str | None = col("VARCHAR", default=None,
                           doc="owner's name, from ps; NULL where ps truncated it")
    gpu_name: str | None = col("VARCHAR", default=None)
    gpu_memory_total_bytes: int | None = col("UBIGINT", unit="B", default=None)


_MIB = 1024 * 1024
_QUERY = "pid,gpu_uuid,gpu_bus_id,gpu_name,used_memory,process_name"
Q_MARK = "--- nvidia-smi -q -d PIDS,MEMORY"
PS_MARK = "--- ps"
AMD_PROCESS_MARK = "--- amd-smi process --json"
PIDGPUS_MARK = "--- rocm-smi --showpidgpus"
_MARKS = (Q_MARK, PS_MARK, AMD_STATIC_MARK, AMD_PROCESS_MARK, ROCM_MARK, PIDGPUS_MARK)

# exit 6 ("No devices were found") and a missing driver become _na with nvidia-smi's first
# line, as in the gpu probe. -q runs only where a process is listed.
_NVIDIA = f"""\
command -v nvidia-smi >/dev/null 2>&1 || _na "nvidia-smi not found"
out=$(nvidia-smi --query-compute-apps={_QUERY} --format=csv,nounits 2>&1) ||
    _na "nvidia-smi failed: $(printf '%s\\n' "$out" | sed -n '/./{{p;q;}}')"
printf '%s\\n' "$out"
case $(printf '%s\\n' "$out" | awk -F, 'NR > 1 && $1 ~ /^ *[0-9]+ *$/ {{print "y"; exit}}') in
  y) echo '{Q_MARK}'; nvidia-smi -q -d PIDS,MEMORY 2>/dev/null;;
esac
exit 0
"""
# The pids of all three tools' outputs (csv's first column, amd-smi's "pid": N, rocm-smi's
# "PIDN"), for one ps.
_PIDS = r"""pids=$({ printf '%s\n' "$nv" | awk -F, '/^--- /{exit} NR > 1 && $1 ~ /^ *[0-9]+ *$/ {
    gsub(/ /, "", $1); print $1}'
  printf '%s\n' "$amd" | tr ',{}' '\n\n\n' | sed -n 's/^ *"pid": *\([0-9][0-9]*\) *$/\1/p
s/.*"PID\([0-9][0-9]*\)".*/\1/p'; } | sort -u | tr '\n' ',')
pids=${pids%,}
"""
# rocm-smi --showpidgpus has no JSON: its text, only where --showpids listed a process.
_AMD = (
    "if command -v amd-smi >/dev/null 2>&1; then\n"
    + textwrap.indent(AMD_SMI_STATIC, "  ")
    + "  p=$(amd-smi process --json 2>/dev/null)\n"
    f"  amd=$(printf '%s\\n' '{AMD_STATIC_MARK}' \"$s\" '{AMD_PROCESS_MARK}' \"$p\")\n"
    "elif command -v rocm-smi >/dev/null 2>&1; then\n"
    "  r=$(rocm-smi --showpids --showuniqueid --showbus --showproductname --showmeminfo vram"
    " --json 2>/dev/null)\n"
    "  g=\n"
    "  case $r in *'\"PID'*) g=$(rocm-smi --showpidgpus 2>/dev/null);; esac\n"
    f"  amd=$(printf '%s\\n' '{ROCM_MARK}' \"$r\" '{PIDGPUS_MARK}' \"$g\")\n"
    "fi\n")
# procps widens the user column to 32 (else a long name comes cut, with '+'); BSD ps does
# not cut names.
_PS = {OS.LINUX: "ps -o pid,uid,user:32", OS.FREEBSD: "ps -o pid,uid,user"}


def fragment(os: OS) -> str:
    """nvidia-smi (and on Linux the ROCm tool, as in the gpu probe), then ps for the pids."""
    head = nvidia_then_amd(_NVIDIA, _AMD if os is OS.LINUX else "")
    return head + _PIDS + f"""[ -n "$pids" ] || exit 0
echo '{PS_MARK}'
{_PS[os]} -p "$pids" 2>/dev/null
exit 0
"""


# -- helpers -----------------------------------------------------------------------------

_COLUMNS = columns_of(GpuProcess)


def _checked(row: GpuProcess) -> GpuProcess:
    """A row whose values all fit their columns, else ParseError (that row's loss)."""
    for column in _COLUMNS:
        check_values(column, [getattr(row, column.name)])
    return row


def _small_int(text: str) -> int | None:
    """A non-negative int of at most 20 digits, else None (int() of a 5000-digit string
    raises)."""
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) <= 20 else None


def _pid(raw: Any, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ParseError(f"{what}: pid {raw!r} is not a number")
    pid = raw if isinstance(raw, int) else to_int(raw.strip(), f"{what} pid")
    if not 0 < pid <= 0xFFFFFFFF:
        raise ParseError(f"{what}: pid {pid} is out of range")
    return pid


def parse_owners(text: str) -> dict[int, tuple[int | None, str | None]]:
    """``ps -o pid,uid,user`` -> pid: (uid, user); lines that are not a process are passed
    over (the header, a ps that refused -p)."""
    out: dict[int, tuple[int | None, str | None]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) != 3 or (pid := _small_int(words[0])) is None:
            continue
        uid = _small_int(words[1])
        out[pid] = (uid if uid is not None and uid <= 0xFFFFFFFF else None,
                    None if words[2].endswith("+") else words[2])  # '+': cut by procps
    return out


def _with_owners(rows: list[GpuProcess], owners: Mapping[int, tuple[int | None, str | None]]
                 ) -> list[GpuProcess]:
    return [replace(r, uid=owners[r.pid][0], user=owners[r.pid][1]) if r.pid in owners else r
            for r in rows]


# -- NVIDIA ------------------------------------------------------------------------------

# Header name -> (field, kind for csv_value); kind "mib" also reads "… MiB" values.
_CSV_FIELDS = {
    "pid": ("pid", "int"), "gpu_uuid": ("uuid", "str"), "gpu_bus_id": ("bus", "str"),
    "gpu_name": ("gpu_name", "str"), "used_gpu_memory": ("used_memory_bytes", "mib"),
    "used_memory": ("used_memory_bytes", "mib"), "process_name": ("process_name", "str"),
}
_NO_PROCESSES = re.compile(r"No running (compute )?processes found", re.IGNORECASE)


_Q_GPU = re.compile(r"GPU ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])")


@dataclass(slots=True)
class _QProcess:
    gi: int | None = None
    ci: int | None = None
    pid: int | None = None
    memory_mib: str | None = None


def _q_int(value: str) -> int | None:
    number = _small_int(value)
    return number if number is not None and number <= 0xFFFFFFFF else None


def parse_q_pids(text: str) -> tuple[dict[str, int], dict[str, list[_QProcess]]]:
    """``nvidia-smi -q -d PIDS,MEMORY``: each GPU's memory size (bytes) and processes, by
    bus id. Only the GPU's own ``FB Memory Usage`` (4 spaces in) counts, not a MIG
    device's ``Shared FB Memory Usage`` below it."""
    totals: dict[str, int] = {}
    procs: dict[str, list[_QProcess]] = {}
    bus = section = None
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(":")
        key = key.strip()
        if indent == 0:  # "GPU 00000000:00:09.0" starts a GPU; the log's header does not
            m = _Q_GPU.fullmatch(line.strip())
            bus = m[1].upper() if m else None
            section = None
            continue
        if bus is None:
            continue
        if indent == 4:
            section = key
            continue
        if section == "FB Memory Usage" and indent == 8 and key == "Total":
            words = value.split()
            size = _small_int(words[0]) if words else None
            if size is not None and (len(words) == 1 or words[1] == "MiB"):
                totals[bus] = size * _MIB
        elif section == "Processes":
            entries = procs.setdefault(bus, [])
            if key == "GPU instance ID" or (key == "Process ID" and (
                    not entries or entries[-1].pid is not None)):
                entries.append(_QProcess())
            if not entries:
                continue
            entry = entries[-1]
            if key == "GPU instance ID":
                entry.gi = _q_int(value)
            elif key == "Compute instance ID":
                entry.ci = _q_int(value)
            elif key == "Process ID":
                entry.pid = _q_int(value)
            elif key == "Used GPU Memory":
                entry.memory_mib = value.split()[0] if value.split() else None
    return totals, procs


def _mig(entries: list[_QProcess], pid: int, memory: int | None) -> tuple[int | None, ...]:
    """The (GPU, compute) instance of a csv row, where ``-q`` names exactly one."""
    same = [e for e in entries if e.pid == pid]
    if len(same) > 1 and memory is not None:
        same = [e for e in same if e.memory_mib is not None
                and _small_int(e.memory_mib) == memory // _MIB and memory % _MIB == 0]
    return (same[0].gi, same[0].ci) if len(same) == 1 else (None, None)


def parse_nvidia(sections: Mapping[str, str]) -> tuple[list[GpuProcess], list[str]]:
    lines = [ln for ln in sections[""].splitlines() if ln.strip()]
    for ln in lines:
        if any(msg in ln for msg in NVIDIA_FAILURES):
            raise Unavailable(ln.strip())
    lines = [ln for ln in lines if not _NO_PROCESSES.search(ln)]
    if not lines:
        return [], []  # older drivers print no header for no process
    header = csv_header(lines[0])
    names = [n for n, _ in header]
    if "pid" not in names or "gpu_uuid" not in names:
        raise ParseError("nvidia-smi compute-apps output has no pid or gpu_uuid column",
                         lines[0])
    totals, procs = parse_q_pids(sections.get(Q_MARK, ""))
    rows: list[GpuProcess] = []
    skipped: list[str] = []
    for line in lines[1:]:
        try:
            rows.append(_nvidia_row(line, header, totals, procs))
        except ParseError as exc:
            skipped.append(str(exc))
    return rows, skipped


def _nvidia_row(line: str, header: list[tuple[str, str]], totals: Mapping[str, int],
                procs: Mapping[str, list[_QProcess]]) -> GpuProcess:
    cells = next(csv.reader([line], skipinitialspace=True), [])
    names = [n for n, _ in header]
    if len(cells) > len(header) and names[-1] == "process_name":
        # nvidia-smi does not quote: a name with commas spills into more cells.
        cells = [*cells[: len(header) - 1], ",".join(cells[len(header) - 1:])]
    values = csv_values(cells, header, _CSV_FIELDS, line)
    if values.get("pid") is None or values.get("uuid") is None:
        raise ParseError("GPU process without pid or gpu_uuid", line)
    pid = _pid(values["pid"], "nvidia-smi")
    bus = values.pop("bus", None)
    bus = bus.upper() if isinstance(bus, str) else None
    gi, ci = _mig(procs.get(bus, []), pid, values.get("used_memory_bytes")) if bus else (
        None, None)
    return _checked(GpuProcess(
        uuid=values["uuid"], pid=pid, gpu_instance_id=gi, compute_instance_id=ci,
        used_memory_bytes=values.get("used_memory_bytes"),
        process_name=values.get("process_name"), gpu_name=values.get("gpu_name"),
        gpu_memory_total_bytes=totals.get(bus) if bus else None))


# -- AMD ---------------------------------------------------------------------------------

def parse_amd_smi(static_text: str, process_text: str) -> tuple[list[GpuProcess], list[str]]:
    processes = amd_smi_entries(process_text, "amd-smi process")
    static = amd_smi_entries(static_text, "amd-smi static") if static_text.strip() else {}
    ids = amd_ids({i: (dig(s, "asic", "asic_serial"), dig(s, "bus", "bdf"))
                   for i, s in static.items()})
    rows: list[GpuProcess] = []
    skipped: list[str] = []
    for index, entry in sorted(processes.items()):
        listed = entry.get("process_list") or []
        if not isinstance(listed, list):
            skipped.append(f"amd-smi process gpu {index}: process_list is not a list")
            continue
        for item in listed:
            info = item.get("process_info") if isinstance(item, dict) else None
            if not isinstance(info, dict):
                continue  # "No running processes detected", or N/A for one process
            what = f"amd-smi process gpu {index}"
            try:
                if index not in ids:
                    raise ParseError(f"{what}: no id for this GPU in amd-smi static")
                # ROCm 6.0 gives bare byte counts, later releases {"value": …, "unit": "B"}.
                rows.append(_checked(GpuProcess(
                    uuid=ids[index], pid=_pid(info.get("pid"), what),
                    used_memory_bytes=amd_bytes(dig(info, "memory_usage", "vram_mem"),
                                             f"{what} vram_mem", "B"),
                    process_name=amd_text(info.get("name")),
                    gpu_name=amd_text(dig(static.get(index), "asic", "market_name")),
                    gpu_memory_total_bytes=amd_bytes(dig(static.get(index), "vram", "size"),
                                                  f"{what} vram size", "MB"))))
            except ParseError as exc:
                skipped.append(str(exc))
    return rows, skipped


_PIDGPUS = re.compile(r"PID (\d{1,10}) is using (\d{1,5}) DRM device\(s\):?")
_CARD = re.compile(r"card(\d{1,5})")


def parse_pidgpus(text: str) -> dict[int, list[int]]:
    """``rocm-smi --showpidgpus``: pid -> the GPU indexes it uses (the line after)."""
    out: dict[int, list[int]] = {}
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        m = _PIDGPUS.fullmatch(line)
        if not m:
            continue
        count = int(m[2])
        following = lines[i + 1].split() if i + 1 < len(lines) and count else []
        if count and len(following) == count and all(
                w.isdecimal() and len(w) <= 5 for w in following):
            out[int(m[1])] = [int(w) for w in following]
        elif not count:
            out[int(m[1])] = []
    return out


def parse_rocm_smi(text: str, pidgpus_text: str) -> tuple[list[GpuProcess], list[str]]:
    doc = json_doc(text, "rocm-smi")
    if not isinstance(doc, dict):
        raise ParseError(f"rocm-smi: expected an object of cards, got {type(doc).__name__}")
    cards = {int(m[1]): c for k, c in doc.items()
             if (m := _CARD.fullmatch(k)) and isinstance(c, dict) and int(m[1]) <= 0xFFFF}
    ids = amd_ids({i: (c.get("Unique ID"), c.get("PCI Bus")) for i, c in cards.items()})
    pidgpus = parse_pidgpus(pidgpus_text)
    system = doc.get("system") if isinstance(doc.get("system"), dict) else {}
    rows: list[GpuProcess] = []
    skipped: list[str] = []
    for key, value in system.items():
        if not key.startswith("PID"):
            continue
        what = f"rocm-smi {key}"
        try:
            rows += _rocm_rows(what, _pid(key[3:], what), value, cards, ids, pidgpus)
        except ParseError as exc:
            skipped.append(str(exc))
    return rows, skipped


def _rocm_rows(what: str, pid: int, value: Any, cards: Mapping[int, Mapping[str, Any]],
               ids: Mapping[int, str], pidgpus: Mapping[int, list[int]]) -> list[GpuProcess]:
    # "name, gpus, vram, sdma, cu": rocm-smi turned the spaces of a name into ", " too.
    fields = [f.strip() for f in str(value).split(",")]
    if len(fields) < 5:
        raise ParseError(f"{what}: expected name, GPUs, VRAM, SDMA, CU", str(value))
    name = " ".join(fields[:-4]) or None
    count = amd_number(fields[-4], f"{what} GPU count", {"": 1}, "")
    vram = amd_bytes(fields[-3], f"{what} VRAM", "B")
    if count == 0:
        return []  # holds /dev/kfd open, on no GPU
    gpus = pidgpus.get(pid)
    if gpus is None:  # not in --showpidgpus: known only where there is one GPU
        if len(cards) != 1:
            raise ParseError(f"{what}: rocm-smi does not say which of {len(cards)} GPUs")
        gpus = list(cards)
    out = []
    for index in gpus:
        if index not in ids:
            raise ParseError(f"{what}: GPU {index} has no Unique ID or PCI Bus")
        card = cards.get(index, {})
        out.append(_checked(GpuProcess(
            uuid=ids[index], pid=pid, used_memory_bytes=vram if len(gpus) == 1 else None,
            process_name=amd_text(name),
            gpu_name=amd_name(card.get("Device Name"), card.get("Card Series"),
                              card.get("Card series")),
            gpu_memory_total_bytes=amd_bytes(card.get("VRAM Total Memory (B)"),
                                          f"{what} VRAM total", "B"))))
    return out


def parse_amd(sections: Mapping[str, str]) -> tuple[list[GpuProcess], list[str]]:
    """AMD processes from whichever ROCm tool ran (amd-smi first)."""
    if AMD_PROCESS_MARK in sections:
        if not sections[AMD_PROCESS_MARK].strip():
            raise Unavailable("amd-smi process printed nothing")
        return parse_amd_smi(sections.get(AMD_STATIC_MARK, ""), sections[AMD_PROCESS_MARK])
    if ROCM_MARK in sections:
        if not sections[ROCM_MARK].strip():
            raise Unavailable("rocm-smi printed nothing")
        return parse_rocm_smi(sections[ROCM_MARK], sections.get(PIDGPUS_MARK, ""))
    return [], []


def parse(parts: Mapping[str, str]) -> Table:
    """NVIDIA's and AMD's processes, with their owners. One vendor's failure costs its rows
    only: the other's are kept and the probe is ``partial``."""
    sections = split_sections(only_part(parts, "smi"), _MARKS)
    rows, skipped = both_vendors(sections, parse_nvidia, parse_amd,
                                 (AMD_PROCESS_MARK, AMD_STATIC_MARK, ROCM_MARK))
    table = Table.of(GpuProcess, _with_owners(rows, parse_owners(sections.get(PS_MARK, ""))))
    table.skipped = skipped
    return table


# Per host, poll and GPU, each owner's processes and their share of the GPU's memory
# (MIG: of the whole GPU). A process whose memory the tool does not give counts, adds no
# bytes.
GPU_USAGE_BY_USER = """
SELECT run_id, host, ts, uuid, max(gpu_name) AS gpu_name, uid, "user",
  count(DISTINCT pid)::UINTEGER AS processes,
  sum(used_memory_bytes)::UBIGINT AS memory_bytes,
  sum(used_memory_bytes) / nullif(max(gpu_memory_total_bytes), 0) AS memory_share,
  coalesce(list_sort(list(DISTINCT process_name) FILTER (WHERE process_name IS NOT NULL)),
    []) AS process_names
FROM gpu_processes
GROUP BY run_id, host, ts, uuid, uid, "user"
"""

PROBE = Probe(
    name="gpu_processes",
    record=GpuProcess,
    description="processes on GPUs: GPU memory per process and owner (nvidia-smi, amd-smi, "
                "rocm-smi)",
    parts={os: (Part("smi", sh=fragment(os), guard=True),) for os in (OS.LINUX, OS.FREEBSD)},
    parsers={OS.LINUX: parse, OS.FREEBSD: parse},
    unsupported={
        OS.MACOS: "NVIDIA ships no driver or nvidia-smi for macOS after 10.13, and ROCm "
                  "has no macOS release",
        OS.OPENBSD: "OpenBSD has no NVIDIA driver and no nvidia-smi, and no ROCm",
        OS.NETBSD: "NetBSD has no NVIDIA driver and no nvidia-smi, and no ROCm",
    },
    views={"gpu_usage_by_user": GPU_USAGE_BY_USER},
)
