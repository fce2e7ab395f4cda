"""Loading a config with ``[notifiers.*]`` builds each notifier, importing only the
notifier plugins of the types it names (every cron poll loads the config); a type not
found so still gets the error that lists every type."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from onion.core.errors import ConfigError
from onion.pipeline.setup import load_config

CONFIG = '''
[alerts]
notifiers = ["ops"]
[notifiers.ops]
type = "command"
argv = ["/bin/true"]
'''
NOTIFIERS = ("smtp", "webhook", "command", "apprise")


def test_only_the_named_types_are_imported(tmp_path: Path) -> None:
    cfg = tmp_path / "onion.toml"
    cfg.write_text(CONFIG)
    code = ("import json, sys\nfrom onion.pipeline.setup import load_config\n"
            f"load_config({str(cfg)!r})\n"
            f"print(json.dumps([n for n in {list(NOTIFIERS)!r} "
            "if 'onion.alerts.notifiers.' + n in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert json.loads(out.stdout) == ["command"]


def test_an_unknown_type_is_told_with_every_type(tmp_path: Path) -> None:
    cfg = tmp_path / "onion.toml"
    cfg.write_text(CONFIG.replace('type = "command"', 'type = "pager"'))
    with pytest.raises(ConfigError, match="type must be one of") as err:
        load_config(cfg)
    assert all(n in str(err.value) for n in NOTIFIERS)
