"""Files and folders only their owner may read: what Onion keeps holds command lines,
host keys and, in the config, passwords."""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700, whatever the umask (``mkdir``'s
    ``mode`` covers only the last level, and the umask narrows even that)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(folder, 0o700)
    return path


def write_private(path: Path, data: str | bytes) -> None:
    """Write a file 0600 (replacing it whole), its folder 0700 if Onion makes it."""
    private_dir(path.parent)
    # One temporary name per process: two writing at once each replace the file whole.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cache_dir(name: str) -> Path | None:
    """``$XDG_CACHE_HOME/onion/NAME`` (``~/.cache`` by default), made 0700: where a run
    keeps what it compiled for the next. None where it cannot be made or is not ours
    alone, because code is loaded from it."""
    try:
        folder = private_dir(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                             / "onion" / name)
        st = folder.stat()
    except (OSError, RuntimeError):   # RuntimeError: a user without a home
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return folder
