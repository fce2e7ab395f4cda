"""Alert rules: what the config says, checked and typed.

A rule reads one table or view (or a SELECT of its own) one poll at a time, and judges
each row: a host, or an item of a host (a file system, a GPU, a sensor) named by the
item key columns. ``condition`` starts an alert, ``clear`` ends it (hysteresis: a disk
alerts above 90 % and clears below 85 %), ``for`` and ``polls`` say how long the
condition must hold first, ``repeat`` how often a firing alert is told again.

Built-in rules (:mod:`poller.alerts.builtin`) are tuned by naming them in an
``[[alerts.rules]]`` table (only the keys given change) and turned off with
``[alerts] disable`` or ``enabled = false``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onion.alerts.builtin import BUILTIN
from onion.core import duration
from onion.core.errors import ConfigError


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


# Every key of an [[alerts.rules]] table and its default (the EXAMPLE config lists these).
RULE_DEFAULTS: dict[str, Any] = {
    "name": "", "table": "", "source": "", "items": [], "condition": "", "clear": "",
    "value": "", "summary": "", "for": "0s", "polls": 1, "repeat": "",
    "severity": "warning", "labels": {}, "notifiers": [], "event": False, "recovery": True,
    "enabled": True,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    name: str
    condition: str
    table: str = ""
    source: str = ""
    items: tuple[str, ...] | None = None      # None: the table's key columns
    clear: str = ""
    value: str = ""
    summary: str = ""
    hold: dt.timedelta = dt.timedelta(0)      # the config's ``for``
    polls: int = 1
    repeat: dt.timedelta = dt.timedelta(0)    # zero: never
    severity: Severity = Severity.WARNING
    labels: Mapping[str, str] = field(default_factory=dict)
    notifiers: tuple[str, ...] = ()
    event: bool = False
    recovery: bool = True
    enabled: bool = True
    builtin: bool = False

    @property
    def clear_sql(self) -> str:
        # NULL readings (a sensor with no value) clear an alert only if the user says so.
        return self.clear or f"NOT coalesce(({self.condition}), false)"

    @property
    def tells_recovery(self) -> bool:
        return self.recovery and not self.event


def _typed(key: str, value: Any, where: str) -> Any:
    default = RULE_DEFAULTS[key]
    expected = type(default)
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: {key} must be {expected.__name__}, "
                          f"not {type(value).__name__} ({value!r})")
    if expected is list and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    if expected is dict and not all(isinstance(v, str | int | float) for v in value.values()):
        raise ConfigError(f"{where}: {key} values must be strings or numbers")
    return value


def build(data: Mapping[str, Any], where: str, builtin: bool = False) -> Rule:
    """A Rule from one config table (every key optional but name and condition)."""
    unknown = set(data) - set(RULE_DEFAULTS)
    if unknown:
        raise ConfigError(f"{where}: unknown rule setting(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(RULE_DEFAULTS)})")
    d = {k: _typed(k, data[k], where) if k in data else v for k, v in RULE_DEFAULTS.items()}
    if not d["name"] or not d["condition"]:
        raise ConfigError(f"{where}: a rule needs a name and a condition")
    if bool(d["table"]) == bool(d["source"]):
        raise ConfigError(f"{where}: rule {d['name']!r} needs exactly one of table or source")
    try:
        severity = Severity(d["severity"])
    except ValueError:
        raise ConfigError(f"{where}: severity must be info, warning or critical, "
                          f"not {d['severity']!r}") from None
    if d["polls"] < 1:
        raise ConfigError(f"{where}: polls must be at least 1")
    return Rule(
        name=d["name"], condition=d["condition"], table=d["table"], source=d["source"],
        items=tuple(d["items"]) if "items" in data else None,
        clear=d["clear"], value=d["value"], summary=d["summary"],
        hold=duration.parse(d["for"], f"{where}: for"), polls=d["polls"],
        repeat=duration.parse(d["repeat"], f"{where}: repeat"), severity=severity,
        labels={k: str(v) for k, v in d["labels"].items()}, notifiers=tuple(d["notifiers"]),
        event=d["event"], recovery=d["recovery"], enabled=d["enabled"], builtin=builtin)


def load(settings: Any) -> list[Rule]:
    """The rules in force: built-ins (tuned, minus the disabled) then the user's own."""
    tables: dict[str, dict[str, Any]] = {name: dict(t) for name, t in BUILTIN.items()}
    unknown_off = set(settings.disable) - set(BUILTIN)
    if unknown_off:
        raise ConfigError(f"[alerts] disable: no built-in rule {', '.join(sorted(unknown_off))} "
                          f"(built-ins: {', '.join(BUILTIN)})")
    own: list[str] = []
    for i, table in enumerate(settings.rules):
        where = f"[[alerts.rules]] #{i + 1}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        name = table.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: a rule needs a name")
        if name in own:
            raise ConfigError(f"{where}: a second rule named {name!r}")
        own.append(name)
        if name in BUILTIN:
            tables[name] = {**tables[name], **table}
            if "table" in table or "source" in table:  # one replaces the other
                tables[name].pop("source" if "table" in table else "table", None)
        else:
            tables[name] = dict(table)
    rules = []
    for name, table in tables.items():
        rule = build(table, f"[[alerts.rules]] {name}", builtin=name in BUILTIN)
        if rule.enabled and name not in settings.disable:
            rules.append(rule)
    return rules
