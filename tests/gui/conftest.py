"""The desktop view's tests: Qt offscreen (no display), a small fleet in a database.

QT_QPA_PLATFORM is set here, before any test module imports Qt (pytest-qt makes its
QApplication only when a test first asks for it).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The daemon tests' fixtures (sshd hosts on loopback, a daemon subprocess), for the window
# against a real daemon.
from tests.daemon.conftest import lab, start_daemon  # noqa: F401

HOSTS = 8                 # node007 is down for the last two hours (tests/reports/fleet_data)
DOWN = "node007"
FIRING = ("node003", "disk_full", "/var")


def _alerts(con: duckdb.DuckDBPyConnection, end: dt.datetime) -> None:
    """One firing alert and its history, in the alerting part's own tables."""
    from onion.alerts import tables as alert_tables

    alert_tables.ensure(con)
    host, rule, item = FIRING
    since = end - dt.timedelta(minutes=30)
    con.execute("INSERT INTO alerts (rule, host, item, state, held, severity, value, summary, "
                "firing_since, last_seen, notifications) VALUES (?, ?, ?, 'firing', false, "
                "'critical', '93', '/var is 93 % full', ?, ?, 1)",
                [rule, host, item, since, end])
    con.execute("INSERT INTO alerts (rule, host, item, state, held, severity, value, summary, "
                "resolved_at) VALUES ('load_high', 'node001', '', 'resolved', false, "
                "'warning', '1', 'load back down', ?)", [end - dt.timedelta(hours=1)])
    for ts, event, state in ((since - dt.timedelta(minutes=5), "pending", "pending"),
                             (since, "firing", "firing")):
        con.execute("INSERT INTO alert_events (ts, rule, host, item, event, state, severity, "
                    "value, summary) VALUES (?, ?, ?, ?, ?, ?, 'critical', '93', 'full')",
                    [ts, rule, host, item, event, state])


@pytest.fixture(scope="session")
def gui_db(tmp_path_factory) -> Path:
    from tests.reports import fleet_data

    db = tmp_path_factory.mktemp("gui") / "onion.duckdb"
    end = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with duckdb.connect(str(db)) as con:
        fleet_data.generate(con, hosts=HOSTS, days=1, end=end - dt.timedelta(minutes=1))
        _alerts(con, end)
    return db
