"""The version, from the installed package's metadata: one place, pyproject.toml.

Release channels (the design's scheme, written in PEP 440 so that pip and people agree):

====================  ==========  ==========================================
version               channel     meaning
====================  ==========  ==========================================
``X.Y`` (``X.Y.0``)   stable      a release to run in production
``X.Y.Z``, Z even     testing     a candidate for the next stable (``0.1.2``)
``X.Y.Z``, Z odd      unstable    main between releases (``0.1.1``, ``0.1.3``)
====================  ==========  ==========================================

So ``0.1.1 < 0.1.2 < 0.1.3 < 0.2``: pip orders them as the channels mean. Anything else
(a pre-release, ``.devN``, a local ``+tag``, a source tree never installed) is unstable:
nobody promised anything about it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "onion-poller"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"


class Channel(StrEnum):
    STABLE = "stable"
    TESTING = "testing"
    UNSTABLE = "unstable"


_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def channel(text: str = __version__) -> Channel:
    """The channel a version string is on (see the table above)."""
    m = _RELEASE.fullmatch(text.strip())
    if m is None:
        return Channel.UNSTABLE
    micro = int(m.group(3) or 0)
    if micro == 0:
        return Channel.STABLE
    return Channel.TESTING if micro % 2 == 0 else Channel.UNSTABLE


def describe(text: str = __version__) -> str:
    """``0.1.1 (unstable)``: what ``onion --version`` and the desktop view show."""
    return f"{text} ({channel(text)})"


__all__ = ["DISTRIBUTION", "Channel", "__version__", "channel", "describe"]
