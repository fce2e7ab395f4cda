"""The database damaged, the queue unusable, the queue filling up: every round either
stores or queues its batch, says what is wrong and what to do, and the queue stays
bounded with every drop recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from onion.storage.queue import Queue


def onion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onion.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _config(tmp: Path, extra: str = "") -> Path:
    cfg = tmp / "onion.toml"
    cfg.write_text(f'[storage]\ndb = "{tmp / "o.duckdb"}"\n{extra}'
                   '[probes]\nenable = ["memory", "processes"]\n')
    return cfg


def test_a_damaged_database_queues_every_round_and_says_what_to_do(tmp_path: Path):
    cfg = _config(tmp_path)
    assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    db = tmp_path / "o.duckdb"
    data = bytearray(db.read_bytes())
    for i in range(0, len(data), 4096):  # every block's checksum now fails
        data[i + 100: i + 200] = b"\xff" * 100
    db.write_bytes(bytes(data))
    for _ in range(2):
        run = onion("poll", "--config", str(cfg), cwd=tmp_path)
        assert run.returncode == 1
        assert "Traceback" not in run.stderr
        assert "move it aside" in run.stderr and "batch(es) queued" in run.stderr
    queue = Queue(tmp_path / "o.duckdb.spool")
    assert queue.waiting() == {"duckdb": 2}
    db.rename(tmp_path / "damaged.duckdb")  # what the message says to do
    assert onion("poll", "--config", str(cfg), cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
    assert queue.entries() == []


def test_a_queue_path_that_is_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "spool-file").write_text("not a folder")
    cfg = _config(tmp_path, f'spool = "{tmp_path / "spool-file"}"\n')
    # The database is held, so the batch must go to the queue, which cannot be made.
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               "c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
                               "time.sleep(60)", str(tmp_path / "o.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        run = onion("poll", "--config", str(cfg), cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "this run's batch is lost" in run.stderr and "spool-file" in run.stderr


def test_the_queue_is_bounded_and_every_drop_is_recorded(tmp_path: Path):
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the folder should be")
    cfg = _config(tmp_path, 'max_spool = "6KB"\n'
                  f'[sinks.text]\ntype = "jsonl"\npath = "{blocker / "j"}"\n')
    dropped = 0
    for _ in range(4):  # each round's batch is a few KB compressed: the oldest must go
        run = onion("poll", "--config", str(cfg), cwd=tmp_path)
        if "dropped the" in run.stderr:
            dropped += int(run.stderr.split("dropped the ")[1].split()[0])
    queue = Queue(tmp_path / "o.duckdb.spool")
    size = sum(f.stat().st_size for f in queue.folder.rglob("*") if f.is_file())
    print(f"\nqueue {size} bytes after 4 rounds, {dropped} batch(es) dropped")
    assert dropped >= 1 and size <= 6_000 + 10_000  # the newest batch is always kept
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    events = con.execute("SELECT count(*) FROM storage_events WHERE action = 'queue_dropped'"
                         ).fetchone()[0]
    assert events == dropped
