"""Checking the ``[alerts]``, ``[[alerts.rules]]`` and ``[notifiers.*]`` settings when the
config is loaded, so that a mistake stops ``onion poll`` instead of silencing alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from onion.alerts import rules
from onion.alerts.notifiers import configure, plugins
from onion.alerts.state import Policy
from onion.core import duration
from onion.core.errors import ConfigError


def policy(settings: Any) -> Policy:
    return Policy(flap_window=duration.parse(settings.flap_window, "[alerts] flap_window"),
                  flap_changes=settings.flap_changes)


def retry_for(settings: Any) -> dt.timedelta:
    return duration.parse(settings.retry_for, "[alerts] retry_for")


def notifiers(cfg: Any) -> dict[str, Any]:
    """Every configured notifier, built (ConfigError for a bad one)."""
    found = plugins(Path(f) for f in cfg.plugins.paths)
    out = {}
    for name, table in cfg.notifiers.items():
        if not isinstance(table, dict):
            raise ConfigError(f"[notifiers.{name}] must be a table")
        out[name] = configure(name, table, cfg.alerts.send_timeout, found)
    return out


def check(cfg: Any) -> list[rules.Rule]:
    a = cfg.alerts
    policy(a)
    retry_for(a)
    if a.flap_changes < 2:
        raise ConfigError("[alerts] flap_changes must be at least 2")
    if a.send_timeout <= 0:
        raise ConfigError("[alerts] send_timeout must be positive")
    if a.templates and not Path(a.templates).expanduser().is_dir():
        raise ConfigError(f"[alerts] templates: no folder {a.templates}")
    loaded = rules.load(a)
    built = notifiers(cfg) if cfg.notifiers else {}
    for where, names in [("[alerts] notifiers", a.notifiers),
                         *((f"rule {r.name}: notifiers", r.notifiers) for r in loaded)]:
        missing = [n for n in names if n not in built]
        if missing:
            raise ConfigError(f"{where}: no [notifiers.{missing[0]}] table "
                              f"(configured: {', '.join(built) or 'none'})")
    return loaded
