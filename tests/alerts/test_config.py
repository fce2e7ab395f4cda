"""Every alert and notifier setting is documented in `onion init`'s example, with its
default, and mistakes are refused when the config is loaded."""

from __future__ import annotations

import dataclasses
import re
import tomllib

import pytest

from onion.alerts.notifiers import plugins
from onion.alerts.rules import RULE_DEFAULTS
from onion.core import config
from onion.core.errors import ConfigError
from onion.pipeline.setup import load_config


def _commented_blocks() -> list[dict]:
    """The commented-out TOML tables of the example, each parsed on its own."""
    blocks, current = [], []
    for line in config.EXAMPLE.splitlines():
        m = re.match(r"# ?(.*)$", line)
        text = m.group(1) if m else None
        if text is not None and re.match(r"\[\[?[a-z.]+\]\]?$", text.split("#")[0].strip()):
            current = [text]
            blocks.append(current)
        elif text is not None and current and re.match(r"[a-z_]+ = ", text):
            current.append(text)
        else:
            current = []
    return [tomllib.loads("\n".join(b)) for b in blocks]


def _rule_blocks() -> list[dict]:
    return [b for b in _commented_blocks() if "alerts" in b]


def test_every_rule_key_is_documented_with_its_default():
    first = _rule_blocks()[0]["alerts"]["rules"][0]
    assert first == RULE_DEFAULTS


def test_every_notifier_setting_is_documented_with_its_default():
    documented = {}
    for block in _commented_blocks():
        for table in block.get("notifiers", {}).values():
            documented[table.pop("type")] = table
    for kind, plugin in plugins().items():
        settings_cls = {"smtp": "SMTPSettings", "webhook": "WebhookSettings",
                        "command": "CommandSettings", "apprise": "AppriseSettings"}[kind]
        module = __import__(plugin.__module__, fromlist=[settings_cls])
        defaults = dataclasses.asdict(getattr(module, settings_cls)())
        assert documented[kind] == defaults, kind


def test_the_examples_load(tmp_path):
    example_rule = _rule_blocks()[1]["alerts"]["rules"][0]
    text = "[alerts]\nnotifiers = []\n"
    path = tmp_path / "c.toml"
    notifiers = {"mail": {"type": "smtp", "to": ["ops@example.org"]},
                 "sms": {"type": "apprise", "urls": ["json://127.0.0.1:1/"]}}
    path.write_text(text)
    cfg = load_config(path)
    cfg.alerts.rules = [example_rule]
    cfg.notifiers = notifiers
    from onion.alerts.config import check
    pytest.importorskip("apprise")
    names = [r.name for r in check(cfg)]
    assert "gpu_very_hot" in names and "host_down" in names


@pytest.mark.parametrize("text, error", [
    ('[alerts]\ndisable = ["host_dwn"]', "no built-in rule host_dwn"),
    ('[[alerts.rules]]\nname = "x"\ntable = "gpu"', "needs a name and a condition"),
    ('[[alerts.rules]]\nname = "x"\ncondition = "true"', "exactly one of table or source"),
    ('[[alerts.rules]]\nname = "x"\ntable = "gpu"\ncondition = "true"\nfor = "5 minutes"',
     "not a duration"),
    ('[[alerts.rules]]\nname = "x"\ntable = "gpu"\ncondition = "true"\nseverity = "high"',
     "severity"),
    ('[[alerts.rules]]\nname = "x"\ntable = "gpu"\ncondition = "true"\nthreshold = 3',
     "unknown rule setting"),
    ('[[alerts.rules]]\nname = "x"\ntable = "gpu"\ncondition = "true"\nnotifiers = ["m"]',
     r"no \[notifiers.m\]"),
    ('[alerts]\nflap_window = "soon"', "not a duration"),
    ('[notifiers.m]\ntype = "pager"', "type must be one of"),
])
def test_mistakes_are_refused_at_load(tmp_path, text, error):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(path)


def test_builtins_are_tuned_and_disabled_by_name(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[alerts]\ndisable = ["host_rebooted"]\n'
                    '[[alerts.rules]]\nname = "filesystem_full"\n'
                    'condition = "used_pct > 97"\nrepeat = "1h"\n'
                    '[[alerts.rules]]\nname = "load_high"\nenabled = false\n')
    from onion.alerts.config import check
    rules = {r.name: r for r in check(load_config(path))}
    assert "host_rebooted" not in rules and "load_high" not in rules
    fs = rules["filesystem_full"]
    assert fs.condition == "used_pct > 97" and fs.repeat.total_seconds() == 3600
    assert fs.items == ("mount",) and fs.clear.startswith("coalesce(used_pct")
