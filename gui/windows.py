"""The windows the views cover (stdlib only: ``onion gui --help`` lists them without Qt)."""

from __future__ import annotations

import datetime as dt

WINDOWS = {"1h": dt.timedelta(hours=1), "6h": dt.timedelta(hours=6),
           "24h": dt.timedelta(days=1), "7d": dt.timedelta(days=7),
           "30d": dt.timedelta(days=30)}
DEFAULT = "24h"

__all__ = ["DEFAULT", "WINDOWS"]
