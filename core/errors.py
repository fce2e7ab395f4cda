"""Onion's exceptions, one small tree; third-party errors are mapped at one boundary each.

    OnionError
     ├── ConfigError          a config file, inventory or option that cannot be used
     ├── TransportError       reaching a host (poller.transport maps asyncssh/OS errors)
     │    ├── Unreachable          refused, no route, DNS, closed mid-output
     │    ├── Timeout              a connect/command/run deadline passed
     │    ├── AuthRefused          no key or password was accepted
     │    ├── HostKeyUnknown       not in known_hosts and the policy is strict
     │    ├── HostKeyMismatch      a different key than the one recorded
     │    ├── OutputTooLarge       the host sent more than the cap
     │    └── PollerFault          this machine ran short (EMFILE): not the host's fault
     ├── ProbeError           one probe on one host
     │    ├── ParseError           output the parser does not know (carries the line)
     │    └── Unavailable          the tool is missing there: recorded, not an error
     ├── PluginError          a plugin that cannot be loaded or clashes with another
     └── StorageError         a sink, the database or the queue
          ├── DatabaseLocked       another process holds the DuckDB file
          ├── QueryRefused         a query that is not one SELECT, or past its limits
          └── SinkError            one sink could not take a batch (it stays queued)
"""

from __future__ import annotations

from onion.core.status import HostStatus


class OnionError(Exception):
    """Base of every error Onion raises on purpose."""


class ConfigError(OnionError):
    pass


class TransportError(OnionError):
    status = HostStatus.ERROR


class Unreachable(TransportError):
    status = HostStatus.UNREACHABLE


class Timeout(TransportError):
    status = HostStatus.TIMEOUT


class AuthRefused(TransportError):
    status = HostStatus.AUTH_REFUSED


class HostKeyUnknown(TransportError):
    status = HostStatus.HOST_KEY_UNKNOWN


class HostKeyMismatch(TransportError):
    status = HostStatus.HOST_KEY_MISMATCH


class PollerFault(TransportError):
    """This machine ran short (out of file descriptors): the host is not to blame."""

    status = HostStatus.POLLER_FAULT


class OutputTooLarge(TransportError):
    status = HostStatus.OUTPUT_TOO_LARGE


class ProbeError(OnionError):
    """A probe could not produce records on one host."""


class ParseError(ProbeError):
    """Output a parser does not know how to interpret."""

    def __init__(self, message: str, line: str | None = None) -> None:
        self.line = line
        if line is not None:
            shown = line if len(line) <= 200 else line[:200] + "…"
            message = f"{message}: {shown!r}"
        super().__init__(message)


class Unavailable(ProbeError):
    """The probe's tool is absent or not working on that host (not an error)."""


class PluginError(ConfigError):
    """A plugin that cannot be loaded, is not what its group expects, or clashes."""


class StorageError(OnionError):
    pass


class DatabaseLocked(StorageError):
    pass


class QueryRefused(StorageError):
    """A query the read path does not run (not one SELECT), or one past its limits."""


class SinkError(StorageError):
    """One sink could not take a batch; the batch waits in that sink's queue."""


class BatchRefused(SinkError):
    """The destination refuses this batch itself, not for a passing outage (a central's
    400 or 413): the batch goes to the dead-letter folder with the reason, and the
    batches after it go on."""


class BadBatch(StorageError):
    """A batch that cannot be read back: not the wire format, or values outside their
    columns' types."""
