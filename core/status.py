"""Statuses as stored in the ``polls`` and ``probe_results`` tables.

StrEnum members compare equal to their text, so stored values and queries stay plain
strings while the code names each status once.
"""

from __future__ import annotations

import enum


class HostStatus(enum.StrEnum):
    """How one host's poll ended (``polls.status``)."""

    OK = "ok"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    AUTH_REFUSED = "auth_refused"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    OUTPUT_TOO_LARGE = "output_too_large"
    PARSE_ERROR = "parse_error"
    INCOMPLETE = "incomplete"
    UNSUPPORTED_OS = "unsupported_os"
    ERROR = "error"            # the remote shell did not run the script
    FAILED = "failed"          # Onion itself failed on this host (a bug, contained)
    POLLER_FAULT = "poller_fault"  # the poller ran short (file descriptors): not the host's
    INTERRUPTED = "interrupted"    # the poller was stopped (Ctrl-C, SIGTERM) mid-host


# Statuses that say nothing about the host itself: no host_down alert for them.
POLLER_SIDE = (HostStatus.FAILED, HostStatus.POLLER_FAULT, HostStatus.INTERRUPTED)


class ProbeStatus(enum.StrEnum):
    """How one probe on one host ended (``probe_results.status``)."""

    OK = "ok"
    UNAVAILABLE = "unavailable"    # the tool is missing there: a fact, not an error
    UNSUPPORTED = "unsupported"    # no command for that OS
    PARSE_ERROR = "parse_error"
    FAILED = "failed"
    TIMEOUT = "timeout"
    LOST = "lost"                  # the output never arrived (connection cut, script killed)
    TRUNCATED = "truncated"        # over the per-section cap: the first rows are kept
    PARTIAL = "partial"            # a few lines not understood: left out, the rest kept
