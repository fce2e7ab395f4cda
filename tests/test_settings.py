"""Nonsense settings are refused at load, naming the setting, before they can fail every
host (a zero timeout) or delete every archive file (a budget of one byte)."""

from __future__ import annotations

from pathlib import Path

import pytest

from onion.core.errors import ConfigError
from onion.pipeline.setup import load_config


@pytest.mark.parametrize(("text", "error"), [
    ("[poller]\nconnect_timeout = 0", r"\[poller\] connect_timeout must be above 0"),
    ("[poller]\ncommand_timeout = -5", r"\[poller\] command_timeout must be above 0"),
    ("[poller]\nrun_timeout = 0.0", r"\[poller\] run_timeout must be above 0"),
    ("[poller]\nmax_output_bytes = -1", r"\[poller\] max_output_bytes must be above 0"),
    ("[poller]\nmax_section_bytes = 0", r"\[poller\] max_section_bytes must be above 0"),
    ("[poller]\nconcurrency = 0", r"\[poller\] concurrency must be above 0"),
    ("[poller]\nlock_wait = -1", r"\[poller\] lock_wait must be 0 or more"),
    ('[storage]\nmax_size = "1"', r"\[storage\] max_size: cannot read '1' as a size"),
    ('[storage]\nmax_spool = "lots"', r"\[storage\] max_spool: cannot read"),
    ("[storage]\nraw_days = -1", r"\[storage\] raw_days must be 0 or more"),
    ("[storage]\nhot_days = 0", r"\[storage\] hot_days must be at least 1"),
    ('[sinks.x]\npath = "/tmp"', r"\[sinks.x\] needs a type"),
])
def test_nonsense_is_refused_with_the_settings_name(tmp_path: Path, text: str, error: str):
    path = tmp_path / "onion.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=error):
        load_config(path)


def test_sizes_with_units_and_no_budget_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "onion.toml"
    path.write_text('[storage]\nmax_size = "500MiB"\nmax_spool = "0"\n')
    cfg = load_config(path)
    assert cfg.storage.max_size == "500MiB"
