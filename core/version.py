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

from onion.core import installed
from onion.core.i18n import N_, _

DISTRIBUTION = installed.DISTRIBUTION
# importlib.metadata's answer, kept between runs (core/installed.py); None: a source tree
# that was never installed.
__version__ = installed.version() or "0+unknown"


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


# The channel's word for people (the footer, the desktop view, ``onion --version``);
# what programs read (/healthz, /api/status, /metrics' onion_build_info) is the Channel.
_SAID = {Channel.STABLE: N_("stable"), Channel.TESTING: N_("testing"),
         Channel.UNSTABLE: N_("unstable")}


def describe(text: str = __version__) -> str:
    """``0.1.1 (unstable)``: what ``onion --version``, the report's footer and the desktop
    view show, the channel's word in the language in use (``0.1.1 (instabil)``)."""
    return f"{text} ({_(_SAID[channel(text)])})"


__all__ = ["DISTRIBUTION", "Channel", "__version__", "channel", "describe"]
