"""Names that reach the file system or the command line: host page file names, windows.

A host name comes from an inventory or, worse, from a host itself; it may hold ``/``,
``..``, NUL, quotes, markup, a Windows device name or a thousand characters. The page
file name keeps a short readable slug of it and adds a hash of the exact name, so two
names never share a file (even on a case-insensitive file system) and no name escapes
the folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from onion.core.i18n import _

_SLUG_DROP = re.compile(r"[^a-z0-9._-]+")
_SINCE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def host_filename(name: str) -> str:
    """``node01.lan`` -> ``node01.lan-1b2c3d4e5f.html``: safe on any file system."""
    slug = _SLUG_DROP.sub("-", name.lower()).strip(".-_")[:40].rstrip(".-_") or "host"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}-{digest}.html"


def parse_since(text: str) -> dt.timedelta:
    """``7d``, ``12h``, ``90m``, ``2w``, ``1d12h`` -> a window length."""
    cleaned = text.strip().lower()
    parts = _SINCE.findall(cleaned)
    if not parts or _SINCE.sub("", cleaned).strip():
        raise ValueError(_("cannot read the window {text} (try 7d, 12h, 30m or 2w)").format(
            text=repr(text)))
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(_("the window {text} is empty").format(text=repr(text)))
    return dt.timedelta(seconds=seconds)
