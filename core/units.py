"""Sizes as people write them in a config: ``"2GB"``, ``"500 MiB"``."""

from __future__ import annotations

import re

from onion.core.errors import ConfigError
from onion.core.i18n import _

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B", re.IGNORECASE)


def parse_size(text: str, where: str = "size") -> int:
    """``"2GB"`` (10^9), ``"2GiB"`` (2^30), ``"500 MB"`` -> bytes. A unit is required, so
    that ``"1"`` is never read as one byte."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ConfigError(_("{where}: cannot read {text} as a size (write it with a unit: "
                            "\"10GB\", \"500MiB\", \"0B\")").format(where=where, text=repr(text)))
    base = 1024 if m.group(3) else 1000
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * base ** power)


def parse_budget(text: str, where: str) -> int | None:
    """A size budget: ``""``, ``"0"`` or ``"0B"`` mean none."""
    if text.strip() in ("", "0"):
        return None
    return parse_size(text, where) or None
