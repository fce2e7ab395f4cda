"""What a round reports (:class:`RunSummary`) and how it is metered: shared by the round
(:mod:`onion.pipeline.round`) and its storing half (:mod:`onion.pipeline.store`), which
a cron run imports only once its SSH round is under way."""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from onion.core.clock import utcnow
from onion.poller.collect import HostResult
from onion.storage import fanout

if TYPE_CHECKING:  # both import DuckDB, which a round imports in the background
    from onion.alerts import live
    from onion.storage.archive import MaintainReport


@dataclass(slots=True)
class RunSummary:
    run_id: int
    results: list[HostResult]
    wall_s: float
    cpu_s: float
    delivery: fanout.Delivery = field(default_factory=fanout.Delivery)
    maintenance: MaintainReport | None = None
    errors: list[str] = field(default_factory=list)   # storage steps deferred this run
    warnings: list[str] = field(default_factory=list)  # said on stderr, not a failure
    stored: bool = False          # the database has this round (else it waits in the queue)
    signal: int | None = None     # SIGINT / SIGTERM received during the round
    went_down: list[HostResult] = field(default_factory=list)  # ok last poll, not now
    # CPU seconds of this process per phase (poll, batch, store, archive, alerts)
    phases: dict[str, float] = field(default_factory=dict)
    alerts: live.Report | None = None   # how judging and sending went

    @property
    def ok(self) -> int:
        return sum(r.status == "ok" for r in self.results)


class _Phases:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.mark = time.process_time()

    def __call__(self, name: str) -> None:
        now = time.process_time()
        self.spent[name] = self.spent.get(name, 0.0) + now - self.mark
        self.mark = now


class Meter:
    """Wall and CPU time of one round, from its start, and CPU per phase."""

    def __init__(self) -> None:
        self.cpu0 = resource.getrusage(resource.RUSAGE_SELF)  # every thread's, as psutil's
        self.t0 = time.perf_counter()
        self.started = utcnow()
        self.phase = _Phases()

    def cpu(self) -> tuple[float, float]:
        now = resource.getrusage(resource.RUSAGE_SELF)
        return now.ru_utime - self.cpu0.ru_utime, now.ru_stime - self.cpu0.ru_stime


def peak_rss_bytes() -> int:
    """This process's peak resident size. Linux's VmHWM, because ru_maxrss carries the
    parent's size over fork and exec (a daemon started by a big process would report it)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB elsewhere


__all__ = ["Meter", "RunSummary", "peak_rss_bytes"]
