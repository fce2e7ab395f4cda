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
from onion.core.i18n import _


@contextlib.contextmanager
def poll_lock(db: Path, wait: float, holder: str = "onion poll") -> Iterator[None]:
    """Held for a round (``onion poll``) or a daemon's whole life; the lock file says
    who holds it (pid and what), for the message of the one refused."""
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
                    pid, _sep, what = os.pread(fd, 64, 0).decode(errors="replace").strip() \
                        .partition(" ")
                    hint = _("use `onion ctl poll` to ask it for a round") \
                        if what == "onion daemon" else _("set [poller] lock_wait to wait")
                    raise StorageError(_(
                        "another {what} (pid {pid}) holds {path}; not starting a second one "
                        "({hint})").format(what=what or "onion poll", pid=pid or "?",
                                           path=path, hint=hint)) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {holder}".encode(), 0)
        yield
    finally:
        os.close(fd)
