"""A real `onion poll` of this machine ends with alerts evaluated and a message sent."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner

from onion.cli.main import main
from tests.alerts.conftest import recorder_argv


def test_poll_evaluates_and_notifies(tmp_path, monkeypatch):
    told = tmp_path / "told.jsonl"
    cfg = tmp_path / "onion.toml"
    cfg.write_text(f'''
[alerts]
notifiers = ["log"]
[[alerts.rules]]
name = "always"
table = "memory"
condition = "total_bytes > 0"
value = "total_bytes"
summary = "{{{{ host }}}} has {{{{ total_bytes }}}} bytes"
[notifiers.log]
type = "command"
argv = {recorder_argv(told)}
''')
    db = tmp_path / "onion.duckdb"
    monkeypatch.setenv("ONION_CONFIG", str(cfg))
    monkeypatch.setenv("ONION_DB", str(db))
    for _ in range(2):
        result = CliRunner().invoke(main, ["poll"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    messages = [json.loads(x) for x in told.read_text().splitlines() if x]
    assert len(messages) == 1
    (alert,) = messages[0]["alerts"]
    assert alert["rule"] == "always" and alert["host"] == "localhost"
    assert alert["summary"].startswith("localhost has ")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM alert_runs").fetchone()[0] == 2
    assert con.execute("SELECT status FROM alert_outbox").fetchall() == [("sent",)]
    out = CliRunner().invoke(main, ["alerts"])
    assert "always" in out.output


def test_a_broken_rule_never_fails_the_poll(tmp_path, monkeypatch):
    """A rule that binds but fails when it runs (text cast to a number) is recorded in
    alert_runs and the poll goes on; one that names a table no probe makes is refused
    before the poll, with the same message `onion check` gives."""
    cfg = tmp_path / "onion.toml"
    cfg.write_text('[[alerts.rules]]\nname = "broken"\ntable = "memory"\n'
                   'condition = "CAST(host AS INTEGER) > 1"\n')
    monkeypatch.setenv("ONION_CONFIG", str(cfg))
    monkeypatch.setenv("ONION_DB", str(tmp_path / "onion.duckdb"))
    result = CliRunner().invoke(main, ["poll"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(tmp_path / "onion.duckdb"), read_only=True)
    (errors,) = con.execute("SELECT errors FROM alert_runs").fetchone()
    assert "rule broken" in errors and "Conversion Error" in errors
    con.close()
    cfg.write_text('[[alerts.rules]]\nname = "typo"\ntable = "no_such_table"\n'
                   'condition = "x > 1"\n')
    refused = CliRunner().invoke(main, ["poll"])
    assert refused.exit_code == 1 and "rule typo:" in refused.output
    assert "no_such_table" in refused.output
