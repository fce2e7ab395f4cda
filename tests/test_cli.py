"""The command line, end to end on this machine (local transport)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import psutil
import pytest
from click.testing import CliRunner

from onion.cli.main import main
from onion.core import config
from onion.pipeline.setup import load_config


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ONION_DB", str(tmp_path / "onion.duckdb"))
    monkeypatch.setenv("ONION_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    cfg = tmp_path / "none.toml"
    cfg.write_text("")
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_writes_every_default(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    target = tmp_path / "onion.toml"
    run("init", str(target))
    data = tomllib.loads(target.read_text())
    defaults = config.Config()
    for section, values in data.items():
        if not isinstance(values, dict):
            assert getattr(defaults, section) == values
            continue
        want = dataclasses.asdict(getattr(defaults, section))
        # An empty list of tables ([[alerts.rules]]) is documented as a commented table,
        # checked key by key in tests/alerts/test_config.py.
        tables = {k for k, v in want.items() if v == [] and k not in values
                  and f"# [[{section}.{k}]]" in config.EXAMPLE}
        # Per-plugin tables ([probes.NAME]) are documented as commented examples.
        tables |= {k for k, v in want.items() if v == {} and k not in values
                   and f"# [{section}." in config.EXAMPLE}
        assert set(values) | tables == set(want), section  # every setting documented
        if section == "daemon":  # the token written beside the config is the one named
            want["token_file"] = str(target.with_name("token"))
        for k, v in values.items():
            assert want[k] == v, f"[{section}] {k}"
    token = target.with_name("token")
    assert token.stat().st_mode & 0o777 == 0o600 and len(token.read_text().strip()) >= 32
    first = token.read_text()
    run("init", str(target), "--force")
    assert token.read_text() == first  # clients configured with it keep working
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code != 0 and "exists" in result.output


def test_config_rejects_unknown_and_mistyped(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[poller]\nconcurency = 5\n")
    with pytest.raises(config.ConfigError, match="unknown setting 'concurency'"):
        load_config(bad)
    bad.write_text("[poller]\nconcurrency = 'many'\n")
    with pytest.raises(config.ConfigError, match="concurrency must be int"):
        load_config(bad)


def test_poll_this_machine_then_query(env):
    out = run("poll", "-v")
    assert "1/1 hosts ok" in out
    rows = json.loads(run("sql", "--format", "json",
                          "SELECT host, status FROM polls"))
    assert rows == [{"host": "localhost", "status": "ok"}]
    csv_out = run("sql", "--format", "csv", "SELECT count(*) AS n FROM latest_processes")
    assert csv_out.splitlines()[0] == "n" and int(csv_out.splitlines()[1]) > 5
    table = run("sql", "SELECT host FROM hosts")
    assert "localhost" in table and "(1 row)" in table
    assert "localhost" in run("hosts")
    assert (env / "onion.duckdb").stat().st_mode & 0o077 == 0


def test_sql_is_read_only(env):
    run("poll")
    result = CliRunner().invoke(main, ["sql", "DELETE FROM runs"])
    assert result.exit_code != 0 and "read-only" in result.output.lower()


def test_poll_agrees_with_psutil(env):
    run("poll")
    con = duckdb.connect(str(env / "onion.duckdb"), read_only=True)
    total = con.execute("SELECT total_bytes FROM latest_memory").fetchone()[0]
    assert abs(total - psutil.virtual_memory().total) < 1 << 20
    boot = con.execute("SELECT epoch(boot_time) FROM latest_system").fetchone()[0]
    assert abs(boot - psutil.boot_time()) <= 2
    pids = {r[0] for r in con.execute("SELECT pid FROM latest_processes").fetchall()}
    assert 1 in pids and os.getpid() in pids
    # Processes alive through the poll appear in it (a few come and go meanwhile).
    assert len(pids & set(psutil.pids())) >= 0.8 * len(pids)
    mounts = {r[0] for r in con.execute("SELECT mount FROM latest_filesystems").fetchall()}
    assert "/" in mounts
    assert mounts <= {p.mountpoint for p in psutil.disk_partitions(all=True)}
    rx = dict(con.execute("SELECT interface, rx_bytes FROM latest_network").fetchall())
    now = psutil.net_io_counters(pernic=True)
    assert set(rx) == set(now)
    assert all(rx[i] <= now[i].bytes_recv for i in rx)  # counters only grow
    assert rx["lo"] >= now["lo"].bytes_recv - (64 << 20)


def test_parse_command(tmp_path):
    sample = tmp_path / "loadavg"
    sample.write_text("0.52 0.58 0.59 1/467 12345\n")
    out = json.loads(run("parse", "cpu", "--os", "linux", "--part", "loadavg", str(sample)))
    assert out[0]["load_1m"] == 0.52 and out[0]["load_15m"] == 0.59
    result = CliRunner().invoke(main, ["parse", "cpu", "--part", "loadavg", str(tmp_path / "x")])
    assert result.exit_code != 0
    garbage = tmp_path / "garbage"
    garbage.write_text("not a load average\n")
    result = CliRunner().invoke(main, ["parse", "cpu", "--part", "loadavg", str(garbage)])
    assert result.exit_code != 0 and "ParseError" in result.output


def test_second_poll_does_not_overlap(env):
    from onion.pipeline.lock import poll_lock
    db = env / "onion.duckdb"
    with poll_lock(db, 0):
        result = CliRunner().invoke(main, ["poll"])
        assert result.exit_code != 0
        assert "another onion poll" in result.output


def test_locked_database_spools_and_next_run_stores(env):
    db = env / "onion.duckdb"
    run("poll")
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(30)", str(db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = CliRunner().invoke(main, ["poll"])
        assert result.exit_code == 0
        assert "database busy" in result.output
        assert any(Path(str(db) + ".spool").iterdir())
    finally:
        holder.kill()
        holder.wait()
    run("poll")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
    assert con.execute("SELECT count(DISTINCT run_id) FROM memory").fetchone()[0] == 3
    assert not any(Path(str(db) + ".spool").iterdir())


def test_watched_file_change_is_visible_in_sql(env):
    watched = env / "watched.conf"
    watched.write_text("a = 1\n")
    cfg = env / "onion.toml"
    cfg.write_text(f'[files]\nwatch = ["{watched}", "{env / "missing"}"]\n')
    run("poll", "--config", str(cfg))
    watched.write_text("a = 2\n")
    run("poll", "--config", str(cfg))
    rows = json.loads(run("sql", "--config", str(cfg), "--format", "json",
                          "SELECT path, change FROM file_changes"))
    assert rows == [{"path": str(watched), "change": "content"}]
    missing = json.loads(run("sql", "--config", str(cfg), "--format", "json",
                             "SELECT exists, error FROM latest_files WHERE path LIKE '%missing'"))
    assert missing[0]["exists"] is False and "No such file" in missing[0]["error"]


def test_rate_views_after_two_polls(env):
    import time
    run("poll")
    time.sleep(1.1)  # timestamps are whole seconds
    run("poll")
    con = duckdb.connect(str(env / "onion.duckdb"), read_only=True)
    busy, ncpu = con.execute("SELECT busy_pct, ncpu FROM cpu_usage").fetchone()
    assert 0 <= busy <= 100 and ncpu == psutil.cpu_count()
    lo = con.execute("SELECT rx_bytes_per_s, interval_s FROM network_rates "
                     "WHERE interface = 'lo'").fetchone()
    assert lo[0] >= 0 and lo[1] > 0


def test_counter_reset_counts_from_zero(tmp_path):
    from onion.storage import views
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    con.execute("CREATE TABLE network (run_id UBIGINT, host VARCHAR, ts TIMESTAMP, "
                "interface VARCHAR, rx_bytes UBIGINT)")
    con.execute("INSERT INTO network VALUES (1, 'a', '2026-01-01 00:00:00', 'eth0', 1000), "
                "(2, 'a', '2026-01-01 00:00:10', 'eth0', 3000), "
                "(3, 'a', '2026-01-01 00:00:20', 'eth0', 500)")  # rebooted: counter reset
    con.execute(views.rate_view("network", ["interface"], ["rx_bytes"]))
    rates = [r[0] for r in con.execute(
        "SELECT rx_bytes_per_s FROM network_rates ORDER BY ts").fetchall()]
    assert rates == [200.0, 50.0]


def test_central_token_writes_a_private_token_and_says_both_configs(tmp_path):
    cfg = tmp_path / "etc" / "onion.toml"
    out = run("central", "token", "hpc1", "--config", str(cfg))
    token = tmp_path / "etc" / "pollers" / "hpc1.token"
    assert token.stat().st_mode & 0o777 == 0o600 and len(token.read_text().strip()) >= 32
    assert token.parent.stat().st_mode & 0o777 == 0o700
    assert "[central.pollers.hpc1]" in out and f'token_file = "{token}"' in out
    assert 'type = "onion"' in out and 'poller = "hpc1"' in out
    first = token.read_text()
    again = CliRunner().invoke(main, ["central", "token", "hpc1", "--config", str(cfg)])
    assert again.exit_code != 0 and "exists" in again.output and token.read_text() == first
    run("central", "token", "hpc1", "--config", str(cfg), "--force")
    assert token.read_text() != first
    bad = CliRunner().invoke(main, ["central", "token", "../x", "--config", str(cfg)])
    assert bad.exit_code != 0 and "poller name" in bad.output
