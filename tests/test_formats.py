"""Every verb that prints data speaks table, CSV and JSON: tables round numbers for
people, CSV and JSON keep them exact."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from onion.cli.main import main
from tests.alerts.conftest import Fleet, write_config
from tests.alerts.test_builtin import fs


def run(*argv: str) -> str:
    res = CliRunner().invoke(main, list(argv))
    assert res.exit_code == 0, res.output
    return res.stdout


def test_hosts_and_sql_in_every_format(tmp_path: Path) -> None:
    db = str(tmp_path / "o.duckdb")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[probes]\nenable = ["memory", "cpu"]\n')
    run("poll", "--db", db, "--config", str(cfg))
    hosts = json.loads(run("hosts", "--db", db, "--config", str(cfg), "--format", "json"))
    assert [(h["host"], h["status"]) for h in hosts] == [("localhost", "ok")]
    rows = list(csv.DictReader(io.StringIO(run("hosts", "--db", db, "--config", str(cfg),
                                               "--format", "csv"))))
    assert rows[0]["host"] == "localhost" and rows[0]["target"] == "local"
    # A FLOAT column: exact in JSON, rounded to 6 significant digits in the table.
    q = "SELECT CAST(1.34 AS FLOAT) AS f"
    exact = json.loads(run("sql", "--db", db, "--format", "json", q))[0]["f"]
    assert exact != 1.34 and abs(exact - 1.34) < 1e-6
    table = run("sql", "--db", db, q).splitlines()
    assert table[2].strip() == "1.34"


def test_alerts_history_and_rules_in_csv_and_json(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path / "onion.duckdb", write_config(tmp_path / "onion.toml", ""))
    fleet.poll({"filesystems": [fs("/var", 95)]})
    base = ["--db", str(fleet.db), "--config", str(fleet.cfg_path)]
    firing = json.loads(run("alerts", *base, "--format", "json"))
    assert [(a["rule"], a["item"], a["state"]) for a in firing] == \
        [("filesystem_full", "/var", "firing")]
    history = list(csv.DictReader(io.StringIO(run("alerts", "history", *base, "--format",
                                                  "csv"))))
    assert history and history[0]["event"] == "firing"
    rules = json.loads(run("alerts", "rules", *base, "--format", "json"))
    assert {"host_down", "filesystem_full"} <= {r["name"] for r in rules}
    assert all(isinstance(r["for_s"], float) for r in rules)
