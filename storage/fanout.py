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
from pathlib import Path

from onion.core.errors import BatchRefused, DatabaseLocked, StorageError
from onion.storage.batch import Batch
from onion.storage.queue import Limits, Queue, sending
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
    quarantined: list[str] = field(default_factory=list)  # poison batches moved aside
    refused: bool = False         # the last failure was the destination refusing the batch
    deferred: bool = False        # only queued: a task of its own sends it (a daemon's)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class Delivery:
    reports: dict[str, SinkReport] = field(default_factory=dict)
    queued_for: list[str] = field(default_factory=list)   # sinks the new batch waits for
    lost: str | None = None   # the new batch could not even be queued (the disk is full)
    dropped: list[dict[str, object]] = field(default_factory=list)  # oldest, for room

    def of(self, name: str) -> SinkReport:
        return self.reports[name]

    @property
    def errors(self) -> list[str]:
        return [f"sink {r.name}: {r.error}" for r in self.reports.values() if r.error]


def _failed(sink: Sink, report: SinkReport, exc: Exception) -> bool:
    """Record why the sink stopped this round; always False."""
    report.refused = isinstance(exc, BatchRefused)
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


def _drain(sink: Sink, queue: Queue, batch: Batch | None, report: SinkReport) -> bool:
    """The sink takes its queued batches, oldest first, then ``batch``; False when
    ``batch`` has to wait in the queue for it.

    A queued batch that fails while the next one goes in is poison, not an outage (a
    value its engine refuses, a file the queue cannot read back): it is moved aside into
    the quarantine with the reason instead of blocking every later batch. Two failures in
    a row, or a busy database, mean the sink is not taking anything now: it stops there.
    """
    items: list[Path | None] = [*queue.pending(sink.name), *([None] if batch else [])]
    suspect: tuple[Path, str] | None = None     # a queued batch that failed, and why
    # A sink that says which failures are the batch's (BatchRefused) needs no guessing:
    # anything else is an outage, and it stops there.
    classifies = bool(getattr(sink, "classifies_failures", False))
    for entry in items:
        if entry is None:
            current: Batch | None = batch
        else:
            try:
                current = queue.load(entry)
            except StorageError as exc:
                current, report.error = None, str(exc)
        if entry is not None:
            sending(entry, True)
        try:
            taken = current is not None and _attempt(sink, current, report)
        finally:
            if entry is not None:
                sending(entry, False)
        if taken:
            if entry is not None:
                queue.done(entry, sink.name)
            if suspect is not None:
                _quarantine(queue, suspect[0], sink, suspect[1], report)
                suspect = None
            report.error = None
            continue
        if report.refused and current is not None:
            # Refused by its destination: into the dead-letter folder with the reason;
            # the batches after it go on.
            reason = report.error or "refused"
            try:
                where = entry if entry is not None else queue.put(current, [sink.name], reason)
            except StorageError as exc:
                report.error = f"{reason}; not kept aside: {exc}"
                return False
            _quarantine(queue, where, sink, reason, report)
            report.error, report.refused = None, False
            continue
        if classifies or report.busy or suspect is not None:
            if entry is not None:
                queue.note(entry, sink.name, report.error or "")
            return batch is None  # the new batch (if any) was not taken: it waits
        if entry is None:
            return False
        suspect = (entry, report.error or "")
    if suspect is not None:  # the last queued batch failed and nothing came after it
        queue.note(suspect[0], sink.name, suspect[1])
    return True


def _quarantine(queue: Queue, entry: Path, sink: Sink, reason: str,
                report: SinkReport) -> None:
    try:
        queue.quarantine(entry, sink.name, reason)
        report.quarantined.append(f"{entry.name}: {reason}")
    except StorageError as exc:  # it stays queued; the next round tries again
        queue.note(entry, sink.name, f"{reason} ({exc})")


def blocked(sinks: Sequence[Sink], queue: Queue) -> list[str]:
    """Why no new round may run: sinks whose share of the queue is full and that block
    (``when_full = "block"``) rather than drop."""
    out = []
    for sink in sinks:
        limits = getattr(sink, "queue_limits", None)
        if isinstance(limits, Limits):
            why = queue.full(sink.name, limits)
            if why:
                out.append(why)
    return out


def deliver(sinks: Sequence[Sink], queue: Queue, batch: Batch | None,
            now_too: bool = False) -> Delivery:
    """Every sink takes what waits for it, then ``batch`` (None: only catch up). A sink
    that is ``deferred`` (sent from a task of its own) only gets the batch queued, unless
    ``now_too`` (that task's own call)."""
    out = Delivery()
    for sink in sinks:
        if hasattr(sink, "queue"):  # a forwarding sink: it tells its destination of gaps
            sink.queue = queue
            queue.gap_sinks.add(sink.name)
    for sink in sinks:
        report = out.reports[sink.name] = SinkReport(sink.name)
        if getattr(sink, "deferred", False) and not now_too:
            report.deferred = True
            if batch is not None:
                out.queued_for.append(sink.name)
            continue
        try:
            sink.open()
        except Exception as exc:  # every sink's failure is its own (see _failed)
            _failed(sink, report, exc)
            if batch is not None:
                out.queued_for.append(sink.name)
            continue
        if not _drain(sink, queue, batch, report) and batch is not None:
            out.queued_for.append(sink.name)
    if batch is not None and out.queued_for:
        reason = "; ".join(out.reports[n].error or "sent in the background"
                           for n in out.queued_for)
        try:
            entry = queue.put(batch, out.queued_for, reason)
        except StorageError as exc:
            out.lost = str(exc)
        else:
            try:
                out.dropped = queue.make_room(keep=entry)
                for sink in sinks:
                    limits = getattr(sink, "queue_limits", None)
                    if isinstance(limits, Limits) and sink.name in out.queued_for:
                        out.dropped += queue.enforce(sink.name, limits, keep=entry)
            except OSError as exc:  # the batch is queued; room is made next time
                out.reports[out.queued_for[0]].error = \
                    f"{out.reports[out.queued_for[0]].error}; queue not trimmed: {exc}"
    if any(not r.ok for r in out.reports.values()):
        waiting = queue.waiting()
        for r in out.reports.values():
            r.waiting = waiting.get(r.name, 0)
    return out
