"""Checking the ``[alerts]``, ``[[alerts.rules]]`` and ``[notifiers.*]`` settings when the
config is loaded, so that a mistake stops ``onion poll`` instead of silencing alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from onion.alerts import rules
from onion.alerts.notifiers import check as notifier_check
from onion.alerts.notifiers import configure, plugins
from onion.alerts.state import Policy
from onion.core import duration
from onion.core.errors import ConfigError
from onion.core.plugins import PluginKind, Registry


def policy(settings: Any) -> Policy:
    return Policy(flap_window=duration.parse(settings.flap_window, "[alerts] flap_window"),
                  flap_changes=settings.flap_changes)


def retry_for(settings: Any) -> dt.timedelta:
    return duration.parse(settings.retry_for, "[alerts] retry_for")


def notifiers(cfg: Any) -> dict[str, Any]:
    """Every configured notifier, built (ConfigError for a bad one).

    Only the types the config names are imported, found by their entry points' names
    (each loads its own libraries, smtplib, http.client: every cron poll checks the
    config); every type when one is not found so (a plugin whose entry point is named
    otherwise, or a typo: the error lists them all). ``onion check`` loads every plugin
    anyway, so two of one type are still told there."""
    folders = [Path(f) for f in cfg.plugins.paths]
    types = {t.get("type") for t in cfg.notifiers.values() if isinstance(t, dict)}
    reg = Registry({PluginKind.NOTIFIER: notifier_check})
    reg.load_entry_points(pick=lambda kind, name: name in types)
    reg.load_folders(folders)
    found = reg.of(PluginKind.NOTIFIER)
    if not types <= set(found):
        found = plugins(folders)
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
