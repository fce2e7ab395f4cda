"""A report database: real polls of this machine, a synthetic history, a hostile host.

Built once per session: ``onion poll`` runs three times (local transport), then rows are
inserted through the same schema for a small synthetic fleet (two days of 5-minute polls,
with failures, a reboot, a module that appears, a watched file that changes) and for a
host whose every remote string is an injection attempt.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from onion.cli.main import main
from tests.reports import fleet_data

SCRIPT = "<script>window.__pwned='script'</script>"
IMG = "\"><img src=x onerror=\"window.__pwned='img'\">"
CURLY = "{{ 7*7 }}{% raw %}"
EVIL = f"evil{SCRIPT}{IMG}{CURLY}"
EVIL_HOST = f"{EVIL}/../../etc/passwd"


def onion(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    hot = con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'hot' "
                      "AND table_name = ?", [table]).fetchone()
    target = f'hot."{table}"' if hot else f'"{table}"'
    for r in rows:
        cols = ", ".join(f'"{c}"' for c in r)
        con.execute(f"INSERT INTO {target} ({cols}) VALUES ({', '.join('?' * len(r))})",
                    list(r.values()))


def add_hostile_host(con: duckdb.DuckDBPyConnection, end: dt.datetime) -> None:
    """Three polls of a host whose every remote string tries to break out of the page."""
    times = [end - dt.timedelta(minutes=10 - 5 * i) for i in range(3)]
    con.execute("INSERT INTO hosts (host, address, port, groups, os, first_seen, last_seen, "
                "last_ok, last_status, last_reason) VALUES (?, ?, 22, ?, 'linux', ?, ?, ?, "
                "'parse_error', ?)",
                [EVIL_HOST, "evil.example", [f"grp{SCRIPT}", "gpu"], times[0], times[-1],
                 times[-1], f"bad output {IMG}"])
    for i, ts in enumerate(times):
        run = int(ts.replace(tzinfo=dt.UTC).timestamp() * 1e6)
        base = {"run_id": run, "host": EVIL_HOST, "ts": ts}
        _insert(con, "polls", [{**base, "status": "ok" if i < 2 else "parse_error",
                                "reason": None if i < 2 else f"bad output {IMG}",
                                "os": "linux", "connect_s": 0.01, "command_s": 0.2}])
        _insert(con, "probe_results", [
            {**base, "probe": "disk_io", "status": "unavailable", "reason": f"no disk {SCRIPT}",
             "records": 0},
            {**base, "probe": "gpu", "status": "ok", "records": 1},
            {**base, "probe": "gpu_processes", "status": "ok", "records": 1},
            {**base, "probe": "modules", "status": "parse_error", "reason": f"line {IMG}",
             "records": 0}])
        _insert(con, "processes", [{**base, "pid": 4242, "user": f"u{SCRIPT}", "cpu_pct": 99.0,
                                    "mem_pct": 1.0, "rss_bytes": 1 << 30, "comm": EVIL,
                                    "args": f"/bin/sh -c '{EVIL}' " + "x" * 300}])
        _insert(con, "filesystems", [{**base, "mount": f"/mnt/{EVIL}", "device": EVIL,
                                      "fstype": "ext4", "size_bytes": 10**12,
                                      "used_bytes": 97 * 10**10, "avail_bytes": 3 * 10**10,
                                      "used_pct": 97.0}])
        mods = [{**base, "name": "ext4", "size_bytes": 1000}]
        if i:
            mods.append({**base, "name": f"mod{EVIL}", "size_bytes": 1, "used_by": EVIL})
        _insert(con, "modules", mods)
        _insert(con, "temperatures", [{**base, "chip": f"chip{SCRIPT}", "sensor": f"s{IMG}",
                                       "celsius": 50.0 + i, "crit_celsius": 100.0}])
        _insert(con, "gpu", [{**base, "index": 0, "uuid": "GPU-1", "name": f"gpu{IMG}",
                              "utilization_pct": 50.0, "temperature_celsius": 60.0}])
        _insert(con, "gpu_processes", [{**base, "uuid": "GPU-1", "pid": 4242,
                                        "used_memory_bytes": 1 << 30, "uid": 1000,
                                        "user": f"u{SCRIPT}", "process_name": EVIL}])
        _insert(con, "network", [{**base, "interface": f"eth{SCRIPT}", "up": True,
                                  "rx_bytes": 10**6 * (i + 1), "tx_bytes": 10**5 * (i + 1)}])
        _insert(con, "system", [{**base, "os": "linux", "kernel_name": "Linux",
                                 "kernel_release": f"6.1{SCRIPT}", "machine": "x86_64",
                                 "hostname": EVIL, "distro_name": f"Evil{IMG}",
                                 "boot_time": end - dt.timedelta(days=1 if i < 2 else 0,
                                                                 minutes=1),
                                 "uptime_seconds": 100.0}])
        _insert(con, "files", [{**base, "path": f"/etc/{EVIL}", "exists": True,
                                "size_bytes": 10 + i, "sha256": f"{i}" * 64, "mode": "0644"}])


DOWN_HOST = "down01"
DOWN_LOAD = 3.25


def add_down_host(con: duckdb.DuckDBPyConnection, end: dt.datetime) -> None:
    """A host polled fine three times, then unreachable twice: its values are stale."""
    times = [end - dt.timedelta(minutes=25 - 5 * i) for i in range(5)]
    con.execute("INSERT INTO hosts (host, address, port, groups, os, first_seen, last_seen, "
                "last_ok, last_status, last_reason) VALUES (?, 'down01.example', 22, ['rack9'], "
                "'linux', ?, ?, ?, 'unreachable', 'no route to host')",
                [DOWN_HOST, times[0], times[-1], times[2]])
    for i, ts in enumerate(times):
        run = int(ts.replace(tzinfo=dt.UTC).timestamp() * 1e6)
        base = {"run_id": run, "host": DOWN_HOST, "ts": ts}
        ok = i < 3
        _insert(con, "polls", [{**base, "status": "ok" if ok else "unreachable",
                                "reason": None if ok else "no route to host", "os": "linux",
                                "connect_s": 0.01, "command_s": 0.1}])
        if not ok:
            continue
        _insert(con, "probe_results", [{**base, "probe": p, "status": "ok", "records": 1}
                                       for p in ("cpu", "memory")])
        _insert(con, "cpu", [{**base, "ncpu": 4, "load_1m": DOWN_LOAD + i, "load_5m": 1.0,
                              "load_15m": 1.0, "user_seconds": 100.0 * (i + 1),
                              "system_seconds": 10.0 * (i + 1), "idle_seconds": 1000.0 * (i + 1)}])
        _insert(con, "memory", [{**base, "total_bytes": 8 << 30, "available_bytes": 4 << 30,
                                 "used_bytes": 4 << 30}])


def add_alerts(con: duckdb.DuckDBPyConnection, end: dt.datetime) -> None:
    """Alert rows in the alerting part's own tables (created here only if a poll did not)."""
    con.execute("CREATE TABLE IF NOT EXISTS alerts (rule VARCHAR, host VARCHAR, item VARCHAR, "
                "state VARCHAR, severity VARCHAR, value VARCHAR, summary VARCHAR, "
                "firing_since TIMESTAMP)")
    con.execute("CREATE TABLE IF NOT EXISTS alert_events (ts TIMESTAMP, rule VARCHAR, "
                "host VARCHAR, item VARCHAR, state VARCHAR, summary VARCHAR)")
    con.execute("DELETE FROM alerts")
    since = end - dt.timedelta(minutes=5)
    for row in ({"rule": f"fs_full{SCRIPT}", "host": EVIL_HOST, "item": f"/mnt/{EVIL}",
                 "state": "firing", "severity": "critical", "value": "97",
                 "summary": f"full {IMG}", "firing_since": since},
                {"rule": "load_high", "host": "node001", "item": "", "state": "resolved",
                 "severity": "warning", "value": "1", "summary": "ok again"}):
        cols = ", ".join(row)
        con.execute(f"INSERT INTO alerts ({cols}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
    con.execute("INSERT INTO alert_events (ts, rule, host, item, state, summary) "
                "VALUES (?, ?, ?, ?, 'firing', ?)",
                [since, f"fs_full{SCRIPT}", EVIL_HOST, "/mnt", f"full {IMG}"])


@pytest.fixture(scope="session")
def report_db(tmp_path_factory) -> Path:
    """A database with real polls, a synthetic fleet, a hostile host; no alert tables."""
    root = tmp_path_factory.mktemp("report")
    db, cfg = root / "onion.duckdb", root / "onion.toml"
    cfg.write_text("")
    for _ in range(3):
        onion("poll", "--db", str(db), "--config", str(cfg))
    end = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with duckdb.connect(str(db)) as con:
        fleet_data.generate(con, hosts=4, days=2, end=end - dt.timedelta(minutes=1))
        add_hostile_host(con, end)
        add_down_host(con, end)
    # A copy keeps the alert tables a poll made; this one drops them, as in a database
    # from before alerting existed.
    (root / "with-alerts.duckdb").write_bytes(db.read_bytes())
    with duckdb.connect(str(db)) as con:
        for table in ("alerts", "alert_events"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return db


@pytest.fixture(scope="session")
def alert_db(report_db: Path, tmp_path_factory) -> Path:
    """The same database with ``alerts`` and ``alert_events`` tables."""
    db = report_db.parent / "with-alerts.duckdb"
    end = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with duckdb.connect(str(db)) as con:
        add_alerts(con, end)
    return db


@pytest.fixture(scope="session")
def site(alert_db: Path, tmp_path_factory) -> Path:
    """The report written by ``onion report`` (alerts present)."""
    out = tmp_path_factory.mktemp("site")
    cfg = out.parent / "site.toml"
    cfg.write_text("")
    onion("report", "--db", str(alert_db), "--config", str(cfg),
          "--out", str(out), "--since", "3d")
    return out
