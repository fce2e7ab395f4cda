"""A real ``onion poll`` writing to DuckDB and a JSON-lines folder at once; one of them
stopped, then catching up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb


def onion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _jsonl_runs(folder: Path, table: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for f in (folder / table).glob("*.jsonl"):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            assert r["table"] == table and "host" in r and "ts" in r
            counts[r["run_id"]] = counts.get(r["run_id"], 0) + 1
    return counts


def _duck_runs(db: Path, table: str) -> dict[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute(f"SELECT run_id, count(*) FROM {table} GROUP BY 1").fetchall())
    finally:
        con.close()


def test_jsonl_beside_duckdb_gets_the_same_rows_and_catches_up(tmp_path: Path) -> None:
    out = tmp_path / "jsonl"
    blocker = tmp_path / "blocked"
    cfg = tmp_path / "onion.toml"
    db = tmp_path / "o.duckdb"
    cfg.write_text(f'[storage]\ndb = "{db}"\n[probes]\nenable = ["memory", "processes"]\n'
                   f'[sinks.text]\ntype = "jsonl"\npath = "{out}"\n')
    first = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for table in ("memory", "processes", "polls", "probe_results"):
        assert _jsonl_runs(out, table) == _duck_runs(db, table), table

    # The text sink stops (its folder cannot be made); DuckDB stays complete.
    blocker.write_text("a file where the folder should be")
    cfg.write_text(cfg.read_text().replace(str(out), str(blocker / "jsonl")))
    stopped = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert stopped.returncode == 1
    assert "sink text failed" in stopped.stderr and "1 batch(es) queued" in stopped.stderr
    duck = _duck_runs(db, "processes")
    assert len(duck) == 2
    assert len(_jsonl_runs(out, "processes")) == 1

    # Back: the queued round arrives first, then the new one; nothing twice.
    blocker.unlink()
    back = onion("poll", "--config", str(cfg), cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    moved = blocker / "jsonl"
    assert sorted(_jsonl_runs(moved, "processes")) == sorted(_duck_runs(db, "processes"))[1:]
    merged = {**_jsonl_runs(out, "processes"), **_jsonl_runs(moved, "processes")}
    assert merged == _duck_runs(db, "processes")
    assert not any((tmp_path / "o.duckdb.spool").iterdir())
