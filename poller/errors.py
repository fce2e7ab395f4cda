"""Onion's exceptions, one small tree; third-party errors are mapped at one boundary each.

    OnionError
     ├── ConfigError          a config file, inventory or option that cannot be used
     ├── TransportError       reaching a host (poller.transport maps asyncssh/OS errors)
     │    ├── Unreachable          refused, no route, DNS, closed mid-output
     │    ├── Timeout              a connect/command/run deadline passed
     │    ├── AuthRefused          no key or password was accepted
     │    ├── HostKeyUnknown       not in known_hosts and the policy is strict
     │    ├── HostKeyMismatch      a different key than the one recorded
     │    └── OutputTooLarge       the host sent more than the cap
     ├── ProbeError           (probes.base) one probe on one host
     │    ├── ParseError
     │    └── Unavailable
     └── StorageError         the database or spool
          └── DatabaseLocked       another process holds the DuckDB file
"""

from __future__ import annotations


class OnionError(Exception):
    """Base of every error Onion raises on purpose."""


class ConfigError(OnionError):
    pass


class TransportError(OnionError):
    status = "error"


class Unreachable(TransportError):
    status = "unreachable"


class Timeout(TransportError):
    status = "timeout"


class AuthRefused(TransportError):
    status = "auth_refused"


class HostKeyUnknown(TransportError):
    status = "host_key_unknown"


class HostKeyMismatch(TransportError):
    status = "host_key_mismatch"


class OutputTooLarge(TransportError):
    status = "output_too_large"


class StorageError(OnionError):
    pass


class DatabaseLocked(StorageError):
    pass
