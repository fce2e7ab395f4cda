"""The database under crashes, concurrent runs and a full disk, with real `onion poll`
processes (no hooks in the product): nothing half-stored, nothing lost, nothing twice.

A drop-in plugin probe produces BULK rows per run, so that storing takes long enough to
be interrupted. The invariant checked after every fault: the database opens, every
run_id in any table is in ``runs``, and every stored run has all of its rows.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
BULK = 50_000

PLUGIN = '''
from dataclasses import dataclass
from onion.probes.base import OS, Part, Probe, col


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    n: int = col("UBIGINT", key=True)
    text: str = col("VARCHAR")


def parse(parts):
    return [Row(n=int(x), text="row " + x) for x in parts["out"].split()]


SH = "SLEEP awk 'BEGIN { for (i = 0; i < %d; i++) print i }'"
PROBE = Probe(name="bulk", record=Row, parts={OS.LINUX: (Part("out", SH),)},
              parsers={OS.LINUX: parse})
'''


def setup(tmp: Path, sleep: float = 0.0, lock_wait: float = 0.0, db: Path | None = None,
          spool: Path | None = None) -> tuple[Path, Path]:
    plugins = tmp / "plugins"
    plugins.mkdir(exist_ok=True)
    pre = f"sleep {sleep};" if sleep else ""
    (plugins / "bulk.py").write_text(PLUGIN.replace("SLEEP", pre) % BULK)
    db = db or tmp / "onion.duckdb"
    cfg = tmp / "onion.toml"
    cfg.write_text(f'[plugins]\npaths = ["{plugins}"]\n[probes]\nenable = ["bulk"]\n'
                   f'[poller]\nlock_wait = {lock_wait}\n'
                   f'[storage]\ndb = "{db}"\nspool = "{spool or ""}"\n')
    return cfg, db


def poll(cfg: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ONION_CONFIG": str(cfg)}
    env.pop("ONION_DB", None)
    return subprocess.Popen([sys.executable, "-c", "from onion.cli.main import main; main()",
                             "poll"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def poll_done(cfg: Path, timeout: float = 120) -> tuple[int, str]:
    p = poll(cfg)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out


def check_consistent(db: Path) -> dict[int, int]:
    """The invariant; returns bulk rows per stored run."""
    with duckdb.connect(str(db), read_only=True) as con:
        runs = [r for (r,) in con.execute("SELECT run_id FROM runs").fetchall()]
        assert len(runs) == len(set(runs)), "a run stored twice"
        tables = [t for (t,) in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'run_id' AND table_name <> 'runs'").fetchall()]
        for t in tables:
            orphans = con.execute(f'SELECT count(*) FROM "{t}" WHERE run_id NOT IN '
                                  "(SELECT run_id FROM runs)").fetchone()[0]
            assert orphans == 0, f"{t}: rows of a run that is not in runs"
        counts = dict(con.execute("SELECT run_id, count(*) FROM bulk GROUP BY run_id")
                      .fetchall()) if "bulk" in tables else {}
        polls = dict(con.execute("SELECT run_id, count(*) FROM polls GROUP BY run_id")
                     .fetchall())
    for run in runs:
        assert counts.get(run) == BULK, f"run {run}: {counts.get(run)} of {BULK} rows"
        assert polls.get(run) == 1
    return counts


def pending(spool: Path) -> list[Path]:
    return sorted(p for p in spool.iterdir() if not p.name.startswith(".")) \
        if spool.is_dir() else []


def test_kill_9_mid_write_leaves_no_partial_run_and_loses_no_spooled_batch(tmp_path):
    cfg, db = setup(tmp_path)
    spool = db.with_name(db.name + ".spool")
    t0 = time.monotonic()
    rc, out = poll_done(cfg)
    full = time.monotonic() - t0
    assert rc == 0, out
    # A person holds the database: run A's batch waits in the spool.
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(60)", str(db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        rc, out = poll_done(cfg)
        assert rc == 0 and "database busy" in out, out
    finally:
        holder.kill()
        holder.wait()
    (run_a,) = [int(p.name) for p in pending(spool)]
    # Runs killed at random moments while they store batch A and their own batch.
    rnd = random.Random(os.getpid())
    outcomes = []
    wal = db.with_name(db.name + ".wal")
    landed = 0
    for i in range(6):
        p = poll(cfg)
        if i % 2:
            # The moment the store commits its first write (the WAL appears): a kill that
            # certainly lands inside the store, between its transactions.
            delay = -1.0
            deadline = time.monotonic() + 60
            while not wal.exists() and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.001)
        else:
            delay = rnd.uniform(0.2, 2.2) * full  # the run with A to store takes longer
            time.sleep(delay)
        storing = p.poll() is None and wal.exists()
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        landed += storing
        if wal.exists():
            assert stat.S_IMODE(wal.stat().st_mode) == 0o600
        counts = check_consistent(db)
        outcomes.append((round(delay, 2), run_a in counts, len(pending(spool)), storing))
    print(f"\nuninterrupted run {full:.2f} s; kills (delay s or -1 at the WAL, A stored, "
          f"batches queued, killed while storing): {outcomes}")
    assert landed >= 1, "no kill landed while a run was storing"
    rc, out = poll_done(cfg)
    assert rc == 0, out
    counts = check_consistent(db)
    assert counts[run_a] == BULK  # the spooled batch: stored exactly once
    assert not pending(spool)
    litter = [p.name for p in spool.iterdir()] if spool.is_dir() else []
    print(f"left in the spool folder: {litter}")


def test_two_polls_at_once_never_interleave(tmp_path):
    cfg, db = setup(tmp_path, sleep=2.0, lock_wait=0.0)
    a, b = poll(cfg), poll(cfg)
    outs = [p.communicate(timeout=120) for p in (a, b)]
    codes = sorted(p.returncode for p in (a, b))
    assert codes == [0, 1], outs
    refused = next(o for (o, _), p in zip(outs, (a, b), strict=True) if p.returncode)
    assert "another onion poll" in refused
    assert len(check_consistent(db)) == 1
    # With lock_wait the second one waits its turn: both stored, whole, one after the other.
    cfg, db = setup(tmp_path, sleep=2.0, lock_wait=60.0, db=tmp_path / "two.duckdb")
    a, b = poll(cfg), poll(cfg)
    outs = [p.communicate(timeout=120) for p in (a, b)]
    assert [p.returncode for p in (a, b)] == [0, 0], outs
    assert len(check_consistent(db)) == 2


@pytest.fixture
def tiny_disk(small_disk):
    return small_disk("1m")


def test_disk_full_is_a_clear_error_and_spooled_data_is_kept(tmp_path, tiny_disk):
    # Spool and database both on the full disk: nowhere to put the batch.
    cfg, db = setup(tmp_path, db=tiny_disk / "onion.duckdb")
    rc, out = poll_done(cfg)
    print(f"\nboth on a full disk: exit {rc}: {out.strip()}")
    assert rc != 0
    assert "No space left on device" in out and "Traceback" not in out
    # The database on the full disk, the spool elsewhere: the batch waits in the spool.
    for p in tiny_disk.iterdir():
        p.unlink() if p.is_file() else subprocess.run(["rm", "-rf", str(p)], check=True)
    spool = tmp_path / "spool"
    cfg, db = setup(tmp_path, db=tiny_disk / "onion.duckdb", spool=spool)
    rc, out = poll_done(cfg)
    print(f"database on a full disk: exit {rc}: {out.strip()}")
    assert rc != 0 and "spool" in out and "Traceback" not in out
    assert "No space left on device" in out  # the cause, not a follow-on error
    kept = pending(spool)
    assert len(kept) == 1
    # Room again: the next run stores the kept batch and its own.
    subprocess.run(["mount", "-o", "remount,size=256m", str(tiny_disk)], check=True)
    rc, out = poll_done(cfg)
    assert rc == 0, out
    counts = check_consistent(db)
    assert int(kept[0].name) in counts and len(counts) == 2
    assert not pending(spool)
