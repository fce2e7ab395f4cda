"""Two polls on one database never overlap: the second waits, then gives up clearly."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from onion.core.errors import StorageError
from onion.core.files import private_dir


@contextlib.contextmanager
def poll_lock(db: Path, wait: float) -> Iterator[None]:
    private_dir(db.parent)
    path = db.with_name(db.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    raise StorageError(
                        f"another onion poll (pid {holder or '?'}) holds {path}; "
                        "not starting a second one (set [poller] lock_wait to wait)") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
