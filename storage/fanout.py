"""Handing one batch to every configured sink, each at its own pace.

For each sink: first the batches still waiting for it in the queue (oldest first), then
the new one. A sink that fails stops there for this round; the new batch is written to
the queue once for every sink that did not take it, and those sinks catch up in a later
round. So a broken sink delays only itself, and nothing is lost while it is down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from onion.core.errors import DatabaseLocked, StorageError
from onion.storage.batch import Batch
from onion.storage.queue import Queue
from onion.storage.sink import Sink, Written

log = logging.getLogger("onion.storage")


@dataclass(slots=True)
class SinkReport:
    name: str
    stored: list[str] = field(default_factory=list)       # batch ids written
    duplicates: list[str] = field(default_factory=list)   # it had them already
    error: str | None = None                              # why it stopped this round
    waiting: int = 0                                      # batches left in its queue
    busy: bool = False            # held by another process (a lock), not broken

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class Delivery:
    reports: dict[str, SinkReport] = field(default_factory=dict)
    queued_for: list[str] = field(default_factory=list)   # sinks the new batch waits for
    lost: str | None = None   # the new batch could not even be queued (the disk is full)

    def of(self, name: str) -> SinkReport:
        return self.reports[name]

    @property
    def errors(self) -> list[str]:
        return [f"sink {r.name}: {r.error}" for r in self.reports.values() if r.error]


def _failed(sink: Sink, report: SinkReport, exc: Exception) -> bool:
    """Record why the sink stopped this round; always False."""
    if isinstance(exc, StorageError | OSError):
        report.error = str(exc)
        report.busy = isinstance(exc, DatabaseLocked)
    else:  # a sink plugin's bug costs only that sink, this round
        log.debug("sink %s failed", sink.name, exc_info=exc)
        report.error = f"sink bug: {type(exc).__name__}: {exc}"
    return False


def _attempt(sink: Sink, batch: Batch, report: SinkReport) -> bool:
    """Write one batch; False (with the reason in the report) when the sink failed."""
    try:
        sink.ensure_schema(batch.tables)
        written = sink.write(batch)
    except Exception as exc:  # every sink's failure is its own (see _failed)
        return _failed(sink, report, exc)
    (report.stored if written is Written.STORED else report.duplicates).append(batch.batch_id)
    return True


def deliver(sinks: Sequence[Sink], queue: Queue, batch: Batch | None) -> Delivery:
    """Every sink takes what waits for it, then ``batch`` (None: only catch up)."""
    out = Delivery()
    for sink in sinks:
        report = out.reports[sink.name] = SinkReport(sink.name)
        backlog = queue.pending(sink.name)
        try:
            sink.open()
            ok = True
        except Exception as exc:  # every sink's failure is its own (see _failed)
            ok = _failed(sink, report, exc)
        for entry in backlog if ok else ():
            try:
                queued = queue.load(entry)
            except StorageError as exc:
                report.error = str(exc)
                ok = False
                break
            if not _attempt(sink, queued, report):
                queue.note(entry, sink.name, report.error or "")
                ok = False
                break
            queue.done(entry, sink.name)
        if batch is not None and not (ok and _attempt(sink, batch, report)):
            out.queued_for.append(sink.name)
    if batch is not None and out.queued_for:
        reason = "; ".join(out.reports[n].error or "" for n in out.queued_for)
        try:
            queue.put(batch, out.queued_for, reason)
        except StorageError as exc:
            out.lost = str(exc)
    if any(not r.ok for r in out.reports.values()):
        waiting = queue.waiting()
        for r in out.reports.values():
            r.waiting = waiting.get(r.name, 0)
    return out
