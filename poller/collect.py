"""From a host's split output to per-probe results: statuses, reasons, records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from onion.core.clock import utcnow
from onion.core.status import HostStatus, ProbeStatus
from onion.inventory.model import Host
from onion.poller.plan import section_name
from onion.poller.sections import Section
from onion.poller.transport import RawOutput
from onion.probes.base import EXIT_NOT_FOUND, EXIT_UNAVAILABLE, OS, ParseError, Probe, Unavailable

OK, UNAVAILABLE, UNSUPPORTED, PARSE_ERROR, FAILED, TIMEOUT, LOST, TRUNCATED = (
    ProbeStatus.OK, ProbeStatus.UNAVAILABLE, ProbeStatus.UNSUPPORTED, ProbeStatus.PARSE_ERROR,
    ProbeStatus.FAILED, ProbeStatus.TIMEOUT, ProbeStatus.LOST, ProbeStatus.TRUNCATED)


@dataclass(slots=True)
class ProbeResult:
    probe: str
    status: ProbeStatus
    reason: str | None = None
    records: Sequence[Any] = field(default_factory=list)  # a probes.base.Table once parsed


@dataclass(slots=True)
class HostResult:
    host: Host
    status: HostStatus
    reason: str | None = None
    collected_at: dt.datetime = field(default_factory=lambda: utcnow())
    os: OS | None = None
    uname: str | None = None
    connect_s: float | None = None
    command_s: float | None = None
    bytes_read: int = 0
    host_key: str | None = None
    probes: dict[str, ProbeResult] = field(default_factory=dict)


def _first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def _files_cut_off(out: RawOutput) -> bool:
    """Whether output ended before the file sections were all read: they come first in
    each OS's block, so a section after them, or the end of the script, proves they ran."""
    return not out.stdout.done and all(n.startswith("@") for n in out.stdout.sections)


def _probe_result(probe: Probe, os: OS, out: RawOutput) -> ProbeResult:
    sections = out.stdout.sections
    errs = out.stderr.sections
    parts: dict[str, str] = {}
    notes: list[str] = []
    timed_out: list[str] = []
    unavailable: list[str] = []
    missing: list[str] = []
    truncated: list[str] = []
    for part in probe.parts[os]:
        name = section_name(probe, part)
        sec: Section | None = sections.get(name)
        err = errs[name].text() if name in errs else ""
        if sec is None:
            if part.file and not _files_cut_off(out):
                missing.append(part.file)
                continue  # file absent or unreadable on that host
            why = out.error or "the script ended before this section"
            return ProbeResult(probe.name, LOST, f"{name}: no output ({why})")
        if not sec.complete:
            why = out.error or "output ended inside this section"
            return ProbeResult(probe.name, LOST, f"{name}: cut off ({why})")
        text = sec.text()
        if sec.truncated:
            # Keep what arrived, up to its last whole line: 100,000 processes over the cap
            # still give their first rows, not none.
            text = text[: text.rfind("\n") + 1]
            truncated.append(name)
        if sec.status == "timeout":
            timed_out.append(name)
            continue
        rc = int(sec.status) if sec.status and sec.status.lstrip("-").isdecimal() else None
        if rc in (EXIT_UNAVAILABLE, EXIT_NOT_FOUND) and not text.strip():
            unavailable.append(_first_line(err) or f"{name}: command not found")
            continue
        if rc and not text.strip():
            notes.append(f"{name}: exit {rc}: {_first_line(err) or 'no output'}")
            continue
        parts[part.name] = text
    if not parts and (unavailable or (missing and not notes and not timed_out)):
        # A kernel without /proc/modules (built-in drivers, some containers) is a fact of
        # that host, not a failure.
        why = unavailable + [f"{f} is absent or unreadable" for f in missing]
        return ProbeResult(probe.name, UNAVAILABLE, "; ".join(why))
    if timed_out and not parts:
        return ProbeResult(probe.name, TIMEOUT, f"{', '.join(timed_out)}: no answer in time")
    if not parts:
        return ProbeResult(probe.name, FAILED, "; ".join(notes) or "no output")
    try:
        records = probe.parse(os, parts)
    except Unavailable as exc:
        status = TIMEOUT if timed_out else UNAVAILABLE
        return ProbeResult(probe.name, status, "; ".join([str(exc), *unavailable, *notes]))
    except ParseError as exc:
        cut = f"{', '.join(truncated)}: output larger than the per-section cap, and what " \
              "arrived does not parse: " if truncated else ""
        return ProbeResult(probe.name, PARSE_ERROR, cut + str(exc))
    notes += [f"{n}: timeout" for n in timed_out] + unavailable
    if truncated:
        notes.insert(0, f"{', '.join(truncated)}: output larger than the per-section cap "
                        f"([poller] max_section_bytes); the first {len(records)} rows kept")
        return ProbeResult(probe.name, TRUNCATED, "; ".join(notes), records)
    skipped = getattr(records, "skipped", None)
    if skipped:
        first = skipped[0] if len(skipped[0]) <= 200 else skipped[0][:200] + "…"
        notes.insert(0, f"{len(skipped)} line(s) not understood, left out: {first!r}")
        return ProbeResult(probe.name, ProbeStatus.PARTIAL, "; ".join(notes), records)
    return ProbeResult(probe.name, OK, "; ".join(notes) or None, records)


def collect(host: Host, probes: Sequence[Probe], out: RawOutput) -> HostResult:
    result = HostResult(host, HostStatus.OK, connect_s=out.connect_s, command_s=out.command_s,
                        bytes_read=out.bytes_read, host_key=out.host_key)
    uname = out.stdout.os
    result.uname = uname
    if uname is None:
        result.status = out.error.status if out.error else HostStatus.ERROR
        result.reason = str(out.error) if out.error else (
            "no Onion output: the remote shell did not run the script "
            f"(exit {out.exit_status}; {_first_line(out.stderr.stray_text()) or 'no message'})")
        return result
    os = OS.from_uname(uname)
    result.os = os
    if os is None:
        result.status = HostStatus.UNSUPPORTED_OS
        result.reason = f"no parsers for {uname or 'an empty uname'}"
        return result
    for probe in probes:
        if not probe.supports(os):
            result.probes[probe.name] = ProbeResult(probe.name, UNSUPPORTED,
                                                    probe.why_unsupported(os))
            continue
        result.probes[probe.name] = _probe_result(probe, os, out)
    if out.error is not None:
        result.status, result.reason = out.error.status, str(out.error)
    elif not out.stdout.done:
        result.status = HostStatus.INCOMPLETE
        result.reason = ("output ended before the script finished "
                         f"(exit status {out.exit_status}); probes after that point are lost")
    else:
        failed = [p for p in result.probes.values() if p.status == PARSE_ERROR]
        if failed:
            result.status = HostStatus.PARSE_ERROR
            result.reason = "; ".join(f"parse error in probe {p.probe}: {p.reason}" for p in failed)
    return result
