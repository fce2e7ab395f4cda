"""How Onion's commands run the interpreter: the cyclic collector paused where a phase
makes objects that live as long as the phase, and shared-library lookups answered from
one read of the linker's cache.

At import, asyncssh asks ``ctypes.util.find_library`` for liboqs (twice: ``oqs`` and
``liboqs``) and for nettle. On Linux each question runs ``ldconfig -p``, and a library
that is not installed then runs gcc and ld as well: about 35 ms of CPU each cron run,
for a library most machines do not have. :func:`from_linker_cache` answers from one
``ldconfig -p`` for the whole import, with the same pattern as ctypes. Where its answer
could differ (``LD_LIBRARY_PATH`` set, another system, no ldconfig), ctypes' own lookup
is used.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator

LDCONFIG = "/sbin/ldconfig"
# ctypes.util._findSoname_ldconfig's table: the ABI word ldconfig prints for this machine
_ABI = {"x86_64-64": "libc6,x86-64", "ppc64-64": "libc6,64bit", "sparc64-64": "libc6,64bit",
        "s390x-64": "libc6,64bit", "ia64-64": "libc6,IA-64"}


def _abi() -> str:
    machine = os.uname().machine + ("-32" if struct.calcsize("l") == 4 else "-64")
    return _ABI.get(machine, "libc6")


class _CacheLookup:
    def __init__(self, fallback: Callable[[str], str | None]) -> None:
        self.fallback = fallback
        self.listing: bytes | None = None
        self.answers: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name not in self.answers:
            self.answers[name] = self._find(name)
        return self.answers[name]

    def _find(self, name: str) -> str | None:
        if self.listing is None:
            try:
                self.listing = subprocess.run(
                    [LDCONFIG, "-p"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, env={"LC_ALL": "C", "LANG": "C"},
                    check=False, timeout=10).stdout
            except (OSError, subprocess.SubprocessError):
                self.listing = b""
        found = re.search(os.fsencode(rf"\s+(lib{re.escape(name)}\.[^\s]+)\s+\({_abi()}"),
                          self.listing)
        if found:
            return os.fsdecode(found.group(1))
        if not self.listing:        # no cache read: ask ctypes, whatever it costs
            return self.fallback(name)
        # Not in the cache. ctypes would go on to gcc and ld, which find one dlopen() loads
        # by its soname only through LD_LIBRARY_PATH (or in /usr/lib before ldconfig ran).
        return self.fallback(name) if os.environ.get("LD_LIBRARY_PATH") else None


@contextlib.contextmanager
def from_linker_cache() -> Iterator[None]:
    """``ctypes.util.find_library`` answered from one ``ldconfig -p`` while the block runs
    (an import), then put back. Only on Linux with glibc's ldconfig."""
    import ctypes.util  # here: the commands that import no verb (``--version``) skip ctypes

    original = ctypes.util.find_library
    if not sys.platform.startswith("linux") or not os.access(LDCONFIG, os.X_OK):
        yield
        return
    ctypes.util.find_library = _CacheLookup(original)
    try:
        yield
    finally:
        ctypes.util.find_library = original


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the block runs, then as it was. For a
    phase whose objects live on after it (a verb's modules, a round's data until it is
    stored): the collector would walk them again and again for no garbage worth it;
    reference counting still frees the rest."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
